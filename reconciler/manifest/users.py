"""Users: checked against the schema's `user` definition and turned into typed values.

Checking each of thousands of users with jsonschema is slow (~0.1 ms each), so a quick
check derived from the same schema accepts the common well-formed user; only users it does
not accept go through jsonschema, which then explains what is wrong. The quick check may
refuse a valid user (it then costs a jsonschema pass) but never accepts an invalid one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from reconciler.desired import Pattern
from reconciler.errors import Location
from reconciler.manifest import schema
from reconciler.manifest.marked import MarkedMap, plain
from reconciler.manifest.problems import Problems

Scalar = str | int | float | bool


class Format(StrEnum):
    """The kinds of file a user can be declared in."""

    YAML = "yaml"
    CSV = "csv"
    JSONL = "jsonl"


@dataclass(frozen=True)
class Origin:
    """The file a user is declared in (a manifest, or a `usersFrom` file), and its format:
    what an edit of the declaration needs besides the user's location."""

    format: Format
    path: Path


@dataclass(frozen=True, slots=True)
class User:
    """One declared user, with the marked mapping it came from (for locations)."""

    id: str
    pattern: Pattern
    source: MarkedMap = field(compare=False, repr=False)
    name: str | None = None
    template: str | None = None
    agent: str | None = None
    tags: tuple[str, ...] = ()
    properties: Mapping[str, Scalar] = field(default_factory=dict)
    protected: bool = False
    origin: Origin | None = field(default=None, compare=False, repr=False)

    @property
    def loc(self) -> Location:
        """Where the user is declared (its id)."""
        return self.source.value_loc("id")

    def where(self, key: str) -> Location:
        """Where one of the user's fields is written (the user itself when absent)."""
        return self.source.value_loc(key) if key in self.source else self.loc


def parse_user(
    raw: Any, where: str, loc: Location, problems: Problems, origin: Origin | None = None
) -> User | None:
    """A typed user, or None (with problems recorded) if `raw` breaks the schema.

    `where` names the user in messages (`users[3]`), `loc` is where it is written, `origin`
    the file it is declared in.
    """
    quick = _quick_check()(raw)
    if not quick and not schema.check(raw, problems, "user", prefix=where, loc=loc):
        return None
    assert isinstance(raw, MarkedMap)
    return User(
        id=raw["id"],
        pattern=Pattern(raw["pattern"]),
        source=raw,
        name=raw.get("name"),
        template=raw.get("template"),
        agent=raw.get("agent"),
        tags=tuple(raw.get("tags", ())),
        properties=dict(sorted(plain(raw.get("properties", {})).items())),
        protected=raw.get("protected", False),
        origin=origin,
    )


@cache
def _quick_check() -> _QuickCheck:
    return _QuickCheck(schema.manifest_schema()["$defs"])


class _QuickCheck:
    """Accepts a user mapping only if every field is plainly what the schema wants."""

    def __init__(self, defs: Mapping[str, Any]) -> None:
        user = defs["user"]
        self.allowed = frozenset(user["properties"])
        self.required = tuple(user["required"])
        self.id = schema.pattern(schema.USER_ID)
        self.key = schema.pattern(schema.KEY)
        self.patterns = frozenset(user["properties"]["pattern"]["enum"])
        self.property_key = schema.pattern(schema.PROPERTY_KEY)

    def __call__(self, raw: Any) -> bool:
        if (
            not isinstance(raw, MarkedMap)
            or not self.allowed.issuperset(raw)
            or any(key not in raw for key in self.required)
        ):
            return False
        return (
            _matches(self.id, raw["id"])
            and raw["pattern"] in self.patterns
            and all(_matches(self.key, raw.get(k, "x")) for k in ("template", "agent"))
            and _nonempty_text(raw.get("name", "x"))
            and isinstance(raw.get("protected", False), bool)
            and _tags_ok(raw.get("tags", []))
            and self._properties_ok(raw.get("properties", {}))
        )

    def _properties_ok(self, properties: Any) -> bool:
        return isinstance(properties, dict) and all(
            _matches(self.property_key, key) and isinstance(value, Scalar)
            for key, value in properties.items()
        )


def _matches(pattern: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and pattern.search(value) is not None


def _nonempty_text(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _tags_ok(tags: Any) -> bool:
    return isinstance(tags, list) and all(_nonempty_text(tag) for tag in tags)
