"""Reserved tags: the ownership and user lookup tags the stack writes itself.

No manifest may declare one, whether written out, rendered from a user's values
(`${user.properties.x}` holding `user:other`), or kept from the server by an `ignoreTags`
pattern. The reserved tags are the ownership tags (`letta-apply:*`), the seeds' user tags
(`user:*`) and the tags of the stack's own `defaults.userTag` format (`acme-user:${user.id}`
reserves `acme-user:*`). Whether a glob pattern can match a reserved tag is decided on the
pattern itself, not by trying sample tags.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import partial

from reconciler.manifest.variables import Text, Variable
from reconciler.ownership import TAG_PREFIX, USER_TAG_PREFIX


@dataclass(frozen=True)
class Reserved:
    """Every tag of the form `<before><anything><after>`, reserved for `why`."""

    before: str
    after: str
    why: str

    def holds(self, tag: str) -> bool:
        fits = len(tag) >= len(self.before) + len(self.after)
        return fits and tag.startswith(self.before) and tag.endswith(self.after)

    def __str__(self) -> str:
        return f"{self.before}*{self.after}"


OWNERSHIP = Reserved(TAG_PREFIX, "", "ownership")
USER_LOOKUPS = Reserved(USER_TAG_PREFIX, "", "user lookups, added by the stack")


def reserved_forms(user_tag: Text) -> tuple[Reserved, ...]:
    """The reserved tags of a stack whose user tag format is `user_tag`: its text around
    `${user.id}` (a format that is nothing but the variable reserves nothing more: every tag
    would be one)."""
    variables = [i for i, part in enumerate(user_tag.parts) if isinstance(part, Variable)]
    if not variables:
        return (OWNERSHIP, USER_LOOKUPS)
    before = "".join(str(p) for p in user_tag.parts[: variables[0]])
    after = "".join(str(p) for p in user_tag.parts[variables[-1] + 1 :])
    own = Reserved(before, after, "the stack's user lookups (defaults.userTag)")
    if (before, after) in {("", ""), (USER_TAG_PREFIX, "")} or before.startswith(USER_TAG_PREFIX):
        return (OWNERSHIP, USER_LOOKUPS)
    return (OWNERSHIP, USER_LOOKUPS, own)


def reserved_by(tag: str, forms: Iterable[Reserved]) -> Reserved | None:
    """The reserved form `tag` has, if any."""
    return next((form for form in forms if form.holds(tag)), None)


def glob_covers(pattern: str, form: Reserved) -> bool:
    """Whether the `fnmatch` pattern matches some tag of `form`.

    The pattern is read as a sequence of tokens (`*`, `?`, a bracket class, a character) and
    run as an automaton over the reserved form: through `before`, then any text, then through
    `after`. Exact, except that a bracket class is taken to match some character (one that
    matches none makes a pattern match nothing, so erring there only refuses a useless one).
    """
    tokens = _tokens(pattern)
    states = _closure(tokens, {0})
    for char in form.before:
        states = _step(tokens, states, char)
    if not states:
        return False
    states = _closure(tokens, set(range(min(states), len(tokens) + 1)))
    for char in form.after:
        states = _step(tokens, states, char)
    return len(tokens) in states


_Token = Callable[[str], bool] | None
"""A pattern token: a test of one character, or None for `*` (any text)."""


def _tokens(pattern: str) -> list[_Token]:
    """The pattern's tokens, as `fnmatch` reads it (an unclosed `[` is a plain character)."""
    tokens: list[_Token] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        i += 1
        if char == "*":
            if not tokens or tokens[-1] is not None:
                tokens.append(None)
        elif char == "?":
            tokens.append(_any)
        elif char == "[" and (end := _class_end(pattern, i)) is not None:
            tokens.append(partial(fnmatchcase, pat=pattern[i - 1 : end + 1]))
            i = end + 1
        else:
            tokens.append(char.__eq__)
    return tokens


def _any(_char: str) -> bool:
    return True


def _class_end(pattern: str, start: int) -> int | None:
    """The index of the `]` closing a class opened just before `start`, if it is closed."""
    j = start
    if j < len(pattern) and pattern[j] == "!":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    end = pattern.find("]", j)
    return end if end >= 0 else None


def _closure(tokens: list[_Token], states: set[int]) -> set[int]:
    """The states reachable without reading: past each `*` that may match nothing."""
    found = set(states)
    for state in sorted(found):
        while state < len(tokens) and tokens[state] is None:
            state += 1
            found.add(state)
    return found


def _step(tokens: list[_Token], states: set[int], char: str) -> set[int]:
    moved: set[int] = set()
    for state in states:
        if state == len(tokens):
            continue
        token = tokens[state]
        if token is None:
            moved.add(state)
        elif token(char):
            moved.add(state + 1)
    return _closure(tokens, moved)
