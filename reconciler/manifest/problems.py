"""Collecting every problem in one run, and the quoting and "did you mean" hint shared by
all checks."""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.errors import Location, ManifestError, Problem, problem_order

MAX_QUOTED = 40
"""Characters of a value a message quotes: enough to find it, never a whole file's line."""


MAX_ALIKE = 3
"""Problems of one kind listed in full; the others are counted in one more line."""


class Problems:
    """An append-only, duplicate-free list of problems, raised together as one ManifestError.

    Problems alike (the same message at many places, or the same mistake at many users'
    rows) are listed `MAX_ALIKE` times, then counted: `… and 1,998 more: <what>`.
    """

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self._seen: set[Problem] = set()
        self._alike: dict[Problem, str] = {}

    def add(self, loc: Location, message: str, *, alike: str | None = None) -> None:
        """Record one problem (once: a value reached twice through an alias is one mistake).
        `alike` says what problems of one kind have in common (default: the message).

        A lone surrogate (quoted from a manifest, or standing for a byte of a file name that
        is not UTF-8) becomes its escape `\\udcff`: it cannot be written to a stream.
        """
        where = Location(_encodable(loc.file), loc.line, loc.column)
        problem = Problem(where, _encodable(message))
        if problem not in self._seen:
            self._seen.add(problem)
            self.items.append(problem)
            self._alike[problem] = _encodable(alike) if alike is not None else problem.message

    def listed(self) -> list[Problem]:
        """The problems as shown: the first `MAX_ALIKE` of each kind (in file order), and a
        line counting the rest of that kind where the first of them is."""
        groups: dict[str, list[Problem]] = {}
        for problem in sorted(self.items, key=problem_order):
            groups.setdefault(self._alike[problem], []).append(problem)
        shown: list[Problem] = []
        for what, group in groups.items():
            shown.extend(group[:MAX_ALIKE])
            if rest := group[MAX_ALIKE:]:
                shown.append(Problem(rest[0].location, f"… and {len(rest):,} more: {what}"))
        return shown

    def raise_if_any(self) -> None:
        """Raise a ManifestError carrying everything recorded so far."""
        if self.items:
            raise ManifestError(self.listed())

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
    import difflib  # only a problem to explain needs it

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def suggest(word: str, choices: Iterable[str]) -> str:
    """`; did you mean 'x'?` for the closest choice, or an empty string."""
    close = closest(word, choices)
    return f"; did you mean '{close}'?" if close else ""
