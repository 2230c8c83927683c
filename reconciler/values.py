"""JSON values as they travel through the stages, and their immutable form.

Desired state, live state and plans are frozen dataclasses; what they hold inside must not
change either, so nested JSON is kept as `Frozen` mappings and tuples. `thaw` turns it back
into plain dicts and lists where it leaves the program (requests, plan files); `canonical`
is the one stable serialisation used for digests.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Hashable, Iterator, Mapping
from functools import cache
from typing import Any, cast

JSON = Any
"""A value that survives a JSON round trip (str, int, float, bool, None, list, dict)."""


class Frozen(Mapping[str, Any]):
    """An immutable, hashable mapping with string keys (a frozen JSON object)."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Any] | None = None) -> None:
        self._items: dict[str, Any] = dict(items or {})

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(canonical(self))

    def __repr__(self) -> str:
        return f"Frozen({self._items!r})"


EMPTY = Frozen()


def freeze(value: JSON) -> JSON:
    """The same value with every mapping made `Frozen` and every list a tuple."""
    if isinstance(value, Mapping):
        return Frozen({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    return value


def freeze_shared(value: JSON) -> JSON:
    """`freeze` for values read from the server that repeat across resources (settings,
    metadata, tags, labels): every string interned, so thousands of agents with the same
    system prompt or the same tags hold one copy of each."""
    if type(value) is str:
        return sys.intern(value)
    if isinstance(value, Mapping):
        return Frozen({sys.intern(str(k)): freeze_shared(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze_shared(item) for item in value)
    return value


def thaw(value: JSON) -> JSON:
    """Plain dicts (keys sorted) and lists again, for requests and documents."""
    if isinstance(value, Mapping):
        return {str(k): thaw(value[k]) for k in sorted(value)}
    if isinstance(value, list | tuple):
        return [thaw(item) for item in value]
    return value


def canonical(value: Any) -> str:
    """Compact JSON with sorted keys: equal values give equal text (dataclasses included)."""
    return _CANONICAL.encode(value)


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _plain(value: Any) -> JSON:
    """What `json` cannot write itself: frozen mappings, dataclasses, any other value as text."""
    if isinstance(value, Frozen):
        return value._items
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: getattr(value, name) for name in _field_names(type(value))}
    return str(value)


_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain
)
"""What `json.dumps` would make with these options, made once."""

_string = json.encoder.encode_basestring
"""A string as `_CANONICAL` writes it (`ensure_ascii` off)."""


class Canonical:
    """`canonical` of many values in a row (every resource of a live state, for its
    fingerprint), the same text made faster: a dataclass of plain fields is written field by
    field without a dictionary made of it first, and the text of a mapping met again (the
    settings thousands of agents share) is reused. Anything else goes to the encoder."""

    __slots__ = ("_mappings",)

    REMEMBERED = 256
    """Mappings whose text is kept at once: forgotten all together past this many."""

    def __init__(self) -> None:
        self._mappings: dict[int, tuple[Frozen, str]] = {}

    def __call__(self, value: Any) -> str:
        kind = type(value)
        if kind is str:
            return _string(value)
        if value is None:
            return "null"
        if value is True:
            return "true"
        if value is False:
            return "false"
        if kind is int:
            return int.__repr__(value)
        if kind is tuple:
            return "[" + ",".join([self(item) for item in value]) + "]"
        if kind is Frozen:
            return self._mapping(value)
        keys = _record_keys(cast(Hashable, kind))
        if keys is None:
            return _CANONICAL.encode(value)
        written = []
        for name, key in keys:
            field = getattr(value, name)
            written.append(key + (_string(field) if type(field) is str else self(field)))
        return "{" + ",".join(written) + "}"

    def _mapping(self, value: Frozen) -> str:
        known = self._mappings.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        text = _CANONICAL.encode(value)
        if len(self._mappings) >= self.REMEMBERED:
            self._mappings.clear()
        self._mappings[id(value)] = (value, text)
        return text


@cache
def _record_keys(cls: type) -> tuple[tuple[str, str], ...] | None:
    """A dataclass's fields in the encoder's order (sorted), each with its key as written;
    None for any other type, and for a dataclass the encoder writes as the str, number, list
    or dict it also is."""
    if not dataclasses.is_dataclass(cls) or issubclass(
        cls, str | int | float | list | tuple | dict
    ):
        return None
    return tuple((name, _string(name) + ":") for name in sorted(_field_names(cls)))
