"""`${user.*}` variables: parsed once per text, substituted per user. Plain substitution only.

Known variables: `${user.id}`, `${user.name}` (the id when no name is given) and
`${user.properties.<key>}`. `$${` writes a literal `${`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from reconciler.errors import Location
from reconciler.manifest.problems import Problems, closest
from reconciler.manifest.schema import PROPERTY_KEY, fits

PROPERTY_VARIABLE = "user.properties."
KNOWN = ("user.id", "user.name")
KNOWN_TEXT = "${user.id}, ${user.name}, ${user.properties.<key>}"
_TOKEN = re.compile(r"\$\$\{|\$\{([^{}\n]*)\}|\$\{")


@dataclass(frozen=True)
class Variable:
    """A `${...}` reference, by its full name (e.g. `user.properties.plan`)."""

    name: str


@dataclass(frozen=True)
class Text:
    """A string field split into literal parts and variables."""

    parts: tuple[str | Variable, ...]
    loc: Location

    @cached_property
    def variables(self) -> frozenset[str]:
        """The names of the variables used (worked out once: asked for each user)."""
        return frozenset(part.name for part in self.parts if isinstance(part, Variable))

    @property
    def literal(self) -> str | None:
        """The text itself when it uses no variable."""
        if self.variables:
            return None
        return "".join(part for part in self.parts if isinstance(part, str))

    def render(self, values: Mapping[str, str]) -> str:
        """The text with each variable replaced (every name must be in `values`)."""
        return "".join(part if isinstance(part, str) else values[part.name] for part in self.parts)


def compile_text(raw: str, loc: Location, problems: Problems, *, whole_file: bool = False) -> Text:
    """Parse `raw`, recording unknown variables and unterminated `${`.

    With `whole_file`, `raw` is a file's content and `loc` its start, so problems point
    at the exact line and column inside that file.
    """
    parts: list[str | Variable] = []
    position = 0
    for match in _TOKEN.finditer(raw):
        parts.append(raw[position : match.start()])
        position = match.end()
        where = _offset_loc(raw, match.start(), loc) if whole_file else loc
        if match.group(0) == "$${":
            parts.append("${")
        elif match.group(1) is None:
            parts.append("${")
            problems.add(where, "unterminated '${' (write '$${' for a literal '${')")
        elif _known(name := match.group(1).strip(), where, problems):
            parts.append(Variable(name))
    parts.append(raw[position:])
    return Text(_joined(parts), loc)


def _known(name: str, loc: Location, problems: Problems) -> bool:
    if name in KNOWN:
        return True
    if name.startswith(PROPERTY_VARIABLE):
        if fits(PROPERTY_KEY, name[len(PROPERTY_VARIABLE) :]):
            return True
        problems.add(loc, f"'${{{name}}}': not a valid property key (letters, digits, _ and -)")
        return False
    guess = closest(name, (*KNOWN, f"{PROPERTY_VARIABLE}{name.rsplit('.', 1)[-1]}"))
    hint = f"did you mean '${{{guess}}}'?" if guess else f"known: {KNOWN_TEXT}"
    problems.add(loc, f"unknown variable '${{{name}}}'; {hint}")
    return False


def _joined(parts: list[str | Variable]) -> tuple[str | Variable, ...]:
    merged: list[str | Variable] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        elif part != "":
            merged.append(part)
    return tuple(merged)


def _offset_loc(text: str, offset: int, start: Location) -> Location:
    line = text.count("\n", 0, offset)
    column = offset - (text.rfind("\n", 0, offset) + 1)
    return Location(start.file, start.line + line, (column if line else start.column - 1) + 1)


def literal(value: str) -> str:
    """`value` as manifest text that uses no variable (`${` written as `$${`)."""
    return value.replace("${", "$${")


def user_values(user_id: str, name: str | None, properties: Mapping[str, object]) -> dict[str, str]:
    """The value of every variable for one user."""
    values = {"user.id": user_id, "user.name": name or user_id}
    for key, value in properties.items():
        values[PROPERTY_VARIABLE + key] = as_text(value)
    return values


def as_text(value: object) -> str:
    """A property's value as text, as a variable or a CSV cell gives it: booleans as
    `true`/`false`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
