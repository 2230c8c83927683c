"""What the commands print besides the plan: messages, progress on long applies and the
final tally.

Every message goes through `say` (or `Console.err`), which hides URL credentials and escapes
what could act on a terminal; the plan itself comes escaped from the renderers. Colour and the
progress line appear only on a terminal, and colour never with NO_COLOR.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO, assert_never

import click

from reconciler.text import clean, shown

if TYPE_CHECKING:
    from reconciler.apply.results import ApplyResult
    from reconciler.plan.model import Action


def _past(action: Action) -> str:
    """What was done, as the apply's last line says it."""
    from reconciler.plan.model import Action  # only after an apply: not for `--help`

    match action:
        case Action.ADOPT:
            return "adopted"
        case Action.CREATE | Action.UPDATE | Action.DELETE:
            return f"{action.value}d"
        case Action.ATTACH | Action.DETACH:
            return f"{action.value}ed"
        case _:
            assert_never(action)


def say(text: str, *, err: bool = False, file: TextIO | None = None) -> None:
    """Print one message line that may quote manifests, saved plans or the server: URL
    credentials replaced, control characters (newlines too) escaped."""
    click.echo(shown(text), file=file, err=err)


@dataclass
class Console:
    """The streams a command writes to, and whether a person is watching them."""

    stdout: TextIO
    stderr: TextIO
    color: bool
    interactive: bool
    progress_every: int = 100
    failed: int = 0

    @classmethod
    def for_streams(cls) -> Console:
        """Decide colour and interactivity from the real streams and the environment."""
        tty = sys.stdout.isatty()
        ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
        return cls(
            stdout=sys.stdout,
            stderr=sys.stderr,
            color=tty and "NO_COLOR" not in os.environ,
            interactive=tty and sys.stdin.isatty() and not ci,
        )

    def out(self, text: str) -> None:
        """Print a rendered plan or the program's own text as it is (colour codes kept)."""
        click.echo(text.rstrip("\n"), file=self.stdout)

    def err(self, text: str) -> None:
        """Print a message line, escaped (see `say`), on a line of its own."""
        self._clear_line()
        say(text, file=self.stderr)

    def progress(self, done: int, total: int, result: ApplyResult) -> None:
        """Called after each change: failures at once; a status line now and then."""
        change = result.change
        if not result.attempted:
            if self.stderr.isatty():  # a log tallies changes processed, not skipped ones
                self._tick(done, total, clean(str(change.address)))
            return None
        if not result.ok:
            self.failed += 1
            self._clear_line()
            self.err(f"  failed {change.action.symbol} {change.address}: {result.error}")
        self._tick(done, total, clean(f"{change.action.symbol} {change.address}"))

    def _tick(self, done: int, total: int, what: str) -> None:
        failed = f", {self.failed} failed" if self.failed else ""
        if self.stderr.isatty():
            line = f"\r  [{done}/{total}{failed}] {what}"
            self.stderr.write(line[:120].ljust(120))
            self.stderr.flush()
        elif done == total or done % self.progress_every == 0:
            self.err(f"  {done}/{total} changes processed{failed}")

    def status(self, text: str) -> None:
        """A transient line on a terminal (e.g. reading progress); nothing elsewhere."""
        if self.stderr.isatty():
            self.stderr.write(f"\r  {shown(text)}"[:120].ljust(120))
            self.stderr.flush()

    def end_status(self) -> None:
        self._clear_line()

    def finish(self, results: Sequence[ApplyResult]) -> None:
        from reconciler.plan.model import Action

        self._clear_line()
        counts = Counter(r.change.action for r in results if r.ok)
        done = ", ".join(f"{counts[a]} {_past(a)}" for a in Action if counts[a]) or "nothing"
        self.out(f"Apply complete: {done}.")

    def _clear_line(self) -> None:
        if self.stderr.isatty():
            self.stderr.write("\r" + " " * 120 + "\r")
