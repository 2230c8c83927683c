"""Collecting every problem in one run, and the quoting and "did you mean" hint shared by
all checks."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from reconciler.errors import Location, ManifestError, Problem

MAX_QUOTED = 40
"""Characters of a value a message quotes: enough to find it, never a whole file's line."""


class Problems:
    """An append-only, duplicate-free list of problems, raised together as one ManifestError."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self._seen: set[Problem] = set()

    def add(self, loc: Location, message: str) -> None:
        """Record one problem (once: a value reached twice through an alias is one mistake).

        A lone surrogate (quoted from a manifest, or standing for a byte of a file name that
        is not UTF-8) becomes its escape `\\udcff`: it cannot be written to a stream.
        """
        where = Location(_encodable(loc.file), loc.line, loc.column)
        problem = Problem(where, _encodable(message))
        if problem not in self._seen:
            self._seen.add(problem)
            self.items.append(problem)

    def raise_if_any(self) -> None:
        """Raise a ManifestError carrying everything recorded so far."""
        if self.items:
            raise ManifestError(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)


def _encodable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def quoted(value: str) -> str:
    """`'value'` for a message, shortened past `MAX_QUOTED` characters."""
    if len(value) > MAX_QUOTED:
        value = value[: MAX_QUOTED - 3] + "..."
    return f"'{value}'"


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to a misspelled word, if any is close enough."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def suggest(word: str, choices: Iterable[str]) -> str:
    """`; did you mean 'x'?` for the closest choice, or an empty string."""
    close = closest(word, choices)
    return f"; did you mean '{close}'?" if close else ""
