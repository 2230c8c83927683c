"""Users: checked against the schema's `user` definition and turned into typed values.

The check is the schema compiled to plain Python (`reconciler.manifest.compiled`): a few
microseconds a user; only a user it refuses goes through jsonschema, which says what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from reconciler.desired import Pattern
from reconciler.errors import Location
from reconciler.manifest import schema
from reconciler.manifest.marked import MarkedMap
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
    if not schema.check(raw, problems, "user", prefix=where, loc=loc):
        return None
    assert isinstance(raw, MarkedMap)
    get = raw.get
    tags = get("tags")
    properties = get("properties")  # valid: a flat mapping of scalars
    return User(
        raw["id"],
        _PATTERNS[raw["pattern"]],
        raw,
        get("name"),
        get("template"),
        get("agent"),
        tuple(tags) if tags else (),
        dict(sorted(properties.items())) if properties else {},
        get("protected", False),
        origin,
    )


_PATTERNS = {pattern.value: pattern for pattern in Pattern}
