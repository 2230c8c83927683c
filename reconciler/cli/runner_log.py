"""Output read by a GitHub Actions runner: a line starting with `::` (or `##[`) is a workflow
command there (`::set-output`, `::add-mask::`, `::stop-commands::`), whoever wrote the text.

Printed lines quote manifests (a file named `::set-output ...`), saved plans and the server,
so under `GITHUB_ACTIONS=true` both output streams go through `NoWorkflowCommands`, which puts
a backslash before such a start: one place, whatever the line comes from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TextIO

MARKERS = ("::", "##[")
"""How a workflow command starts, after any leading whitespace (the runner trims it)."""

_LINE_END = re.compile(r"(\r\n|\r|\n)")
"""Where the runner sees a line end (it reads lines as .NET does: a lone `\\r` ends one)."""


def in_github_actions(environ: Mapping[str, str]) -> bool:
    return environ.get("GITHUB_ACTIONS") == "true"


class NoWorkflowCommands:
    """A text stream writing to `stream` with every line that would start a workflow command
    escaped (`\\::name`). A line's start is held back until it cannot become one, so a
    command split across writes is caught too."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._pending = ""
        self._decided = False

    def write(self, text: str) -> int:
        out: list[str] = []
        for part in _LINE_END.split(text):
            if _LINE_END.fullmatch(part):
                out.append(self._settle(final=True) + part)
                self._decided = False
            elif self._decided:
                out.append(part)
            elif part:
                self._pending += part
                out.append(self._settle(final=False))
        self.stream.write("".join(out))
        return len(text)

    def _settle(self, *, final: bool) -> str:
        """The held start of the line once it is known (`final`: the line ends here)."""
        if self._decided:
            return ""
        body = self._pending.lstrip()
        indent = self._pending[: len(self._pending) - len(body)]
        could_become = any(marker.startswith(body) for marker in MARKERS)
        if any(body.startswith(marker) for marker in MARKERS):
            settled = f"{indent}\\{body}"
        elif could_become and not final:
            return ""  # undecided yet: wait for more of the line
        else:
            settled = self._pending
        self._pending, self._decided = "", True
        return settled

    def flush(self) -> None:
        """Write what is held, escaped if it might still become a command, then flush."""
        if self._pending:
            body = self._pending.lstrip()
            if body and any(marker.startswith(body) for marker in MARKERS):
                indent = self._pending[: len(self._pending) - len(body)]
                self._pending = f"{indent}\\{body}"
            self.stream.write(self._pending)
            self._pending, self._decided = "", True
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        # No `buffer`: bytes written there would pass unescaped.
        if name == "buffer":
            raise AttributeError(name)
        return getattr(self.stream, name)
