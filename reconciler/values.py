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
import threading
import weakref
from collections.abc import Hashable, ItemsView, Iterator, KeysView, Mapping, ValuesView
from functools import cache
from typing import Any, TypeGuard, cast

JSON = Any
"""A value that survives a JSON round trip (str, int, float, bool, None, list, dict)."""


class Frozen(Mapping[str, Any]):
    """An immutable, hashable mapping with string keys (a frozen JSON object)."""

    __slots__ = ("__weakref__", "_items")

    def __init__(self, items: Mapping[str, Any] | None = None) -> None:
        self._items: dict[str, Any] = dict(items or {})

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    # What `Mapping` would do through `__getitem__` and `__iter__`, the dictionary's own way:
    # planners look keys up in every agent's settings.

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: str, default: Any = None) -> Any:
        return self._items.get(key, default)

    def keys(self) -> KeysView[str]:
        return self._items.keys()

    def items(self) -> ItemsView[str, Any]:
        return self._items.items()

    def values(self) -> ValuesView[Any]:
        return self._items.values()

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


_SCALARS = frozenset({int, float, bool, type(None)})
"""JSON's other values, as the decoder makes them: nothing to freeze."""


def freeze_shared(value: JSON) -> JSON:
    """`freeze` for values read from the server that repeat across resources (settings,
    metadata, tags, labels): every string interned, so thousands of agents with the same
    system prompt or the same tags hold one copy of each. The exact types come first: a
    listing calls this for every value of every record, and `isinstance` of an abstract
    `Mapping` costs several times more."""
    kind = type(value)
    if kind is str:
        return sys.intern(value)
    if kind in _SCALARS:
        return value
    if kind is dict or isinstance(value, Mapping):
        if not value:
            return EMPTY
        return Frozen({sys.intern(str(k)): freeze_shared(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze_shared(item) for item in value)
    return value


def is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    """`isinstance(value, Mapping)`, the JSON object and `Frozen` asked first: reading a
    listing asks it of every record's metadata several times, and the abstract class's check
    costs several times more."""
    kind = type(value)
    return kind is dict or kind is Frozen or isinstance(value, Mapping)


def frozen_mapping(value: object, *, interned: bool = False) -> Frozen:
    """A JSON object from the server (metadata) as `Frozen`, its strings interned when
    `interned` (see `freeze_shared`); anything else, which nothing letta-apply reads from it
    could be in, as empty."""
    if not value or not is_mapping(value):
        return EMPTY
    frozen: Frozen = freeze_shared(value) if interned else freeze(value)
    return frozen


def shared(value: JSON) -> JSON:
    """`freeze_shared`, with equal mappings made one object: thousands of agents made from
    one template hold one copy of their settings, read from the server or declared, instead
    of a mapping each. A mapping stays shared while anything holds it.

    Equal means the same JSON: the same keys in the same order, values of the same types
    (`1`, `1.0` and `true` are not the same setting)."""
    return _shared(value)[0]


_Token = Hashable
"""What a value is known by among those `shared` has made: a string itself, another scalar
with its type, a mapping by the identity of its one copy, a list by its items' tokens."""


def _shared(value: JSON) -> tuple[JSON, _Token]:
    kind = type(value)
    if kind is str:
        text = sys.intern(value)
        return text, text
    if kind is int or kind is bool or value is None:
        return value, (kind, value)
    if kind is float:
        return value, (kind, repr(value))  # -0.0 is not 0.0; NaN is NaN
    if is_mapping(value):
        items: dict[str, JSON] = {}
        key: list[_Token] = [Frozen]
        for name, item in value.items():
            name = sys.intern(str(name))
            items[name], token = _shared(item)
            key += (name, token)
        return _one_copy(tuple(key), items)
    if isinstance(value, list | tuple):
        pairs = [_shared(item) for item in value]
        return tuple(item for item, _ in pairs), (tuple, *(token for _, token in pairs))
    return value, (object, id(value))  # not JSON: kept as it is, never taken for another


_COPIES: weakref.WeakValueDictionary[tuple[_Token, ...], Frozen] = weakref.WeakValueDictionary()
"""The one copy of each mapping `shared` made that something still holds. A key names the
mappings inside by identity: while a copy is held, so is every mapping inside it."""
_COPIES_LOCK = threading.Lock()


def _one_copy(key: tuple[_Token, ...], items: dict[str, JSON]) -> tuple[Frozen, _Token]:
    with _COPIES_LOCK:
        found = _COPIES.get(key)
        if found is None:
            found = EMPTY if not items else Frozen(items)
            _COPIES[key] = found
    return found, (Frozen, id(found))


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
