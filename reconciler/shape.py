"""The one check of a server record's shape: a kind declares each record it reads as a
`TypedDict` holding exactly the fields it reads, and its `Shape` checks an answer against it
once, where the answer enters the kind; beyond that point every access is typed.

The check follows the declaration: a required key must be there, a key that is present must
have the declared type (`X | None` accepts null), lists and nested records are checked item by
item. Required are the keys a record cannot be read without: its id, its key (name, label,
identifier_key) and the ownership marks the stack reads (tags, metadata, a conversation's
summary, an identity's properties), which the server always sends, null when unset: one
renamed would make the stack's resources look unowned, and the plan would make them again.
Any other key may be absent (read as unset, as the API allows). A record is not copied: the
same dict comes back, typed. What does not fit is an `UnexpectedAnswer` naming the route and
the field, one line, instead of a `KeyError` deep in a kind or a field silently misread.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import (
    Any,
    Generic,
    NotRequired,
    Required,
    TypeVar,
    Union,
    cast,
    get_args,
    get_origin,
    get_type_hints,
    is_typeddict,
)

from reconciler.errors import UnexpectedAnswer

R = TypeVar("R")

SUPPORTED = "is this the Letta version letta-apply supports?"
_MISSING = object()


class Miss:
    """Where in an answer the first problem is (`at`, innermost first, filled in as the
    checks return: a path is only made for an answer that does not fit) and what it is."""

    __slots__ = ("at", "found", "wanted")

    def __init__(self, found: object, wanted: str) -> None:
        self.at: list[str] = []
        self.found = found
        """The value found there; `_MISSING` for a key that is not there."""
        self.wanted = wanted

    def __str__(self) -> str:
        path = "".join(reversed(self.at)).removeprefix(".")
        if self.found is _MISSING:
            return f"the server's answer has no `{path}`"
        where = f"`{path}` in the server's answer" if path else "the server's answer"
        return f"{where} is {_kind(self.found)}, not {self.wanted}"


Check = Callable[[object], Miss | None]
"""Checks a value: None when it fits, else where and how it does not."""


class Shape(Generic[R]):
    """The check of one record type (a `TypedDict`), made once from its declaration."""

    def __init__(self, record: type[R]) -> None:
        self.record = record
        self._fields = _fields(record)
        self._fits = _fits(self._fields)

    def parse(self, raw: object, route: str, address: str = "") -> R:
        """`raw` as the record, if it has the declared shape; otherwise `UnexpectedAnswer`
        naming `route` (`GET /v1/blocks/`) and the field, under `address` when it is the
        answer for one resource (the change being applied)."""
        if type(raw) is dict and self._fits(raw):
            return raw  # type: ignore[return-value]  # checked: it is an R
        miss = Miss(raw, "an object") if type(raw) is not dict else _explained(raw, self._fields)
        raise unexpected(route, str(miss), address)

    def parse_all(self, raw: object, route: str, address: str = "") -> list[R]:
        """A list of such records (an answer that is a plain list)."""
        if type(raw) is not list:
            raise unexpected(route, str(Miss(raw, "a list")), address)
        return [self.parse(item, route, address) for item in raw]


def unexpected(route: str, problem: str, address: str = "") -> UnexpectedAnswer:
    """The error for an answer of another shape: one line naming the route."""
    if address:
        return UnexpectedAnswer(address, f"{route}: {problem}; {SUPPORTED}")
    return UnexpectedAnswer(route, f"{problem}; {SUPPORTED}")


@dataclass(frozen=True, slots=True)
class _Spec:
    """What one declared type accepts: the exact types of the value (None: anything), in
    words, and the check of what a container holds (None: nothing more to check)."""

    accepted: frozenset[type] | None
    wanted: str = ""
    inner: Check | None = None
    record: bool = False
    """A nested record: checked even when empty (it may lack keys it needs)."""

    def miss(self, value: object) -> Miss | None:
        if self.accepted is not None and type(value) not in self.accepted:
            return Miss(value, self.wanted)
        return None if self.inner is None or value is None else self.inner(value)


class _Absent:
    """The type of what a key that is not there reads as: accepted where a key may be absent."""

    def __bool__(self) -> bool:
        return False


_ABSENT = _Absent()


Fields = tuple[tuple[str, bool, "_Spec"], ...]
"""A record type's keys: name, whether it must be there, what its value may be."""


def _fields(record: type[Any]) -> Fields:
    return tuple(
        (name, _required(hint, record.__total__), _spec(_unwrapped(hint)))
        for name, hint in get_type_hints(record, include_extras=True).items()
    )


def _record_check(record: type[Any]) -> Check:
    """The check of a nested record (a `TypedDict`): see `_fits` and `_explained`."""
    fields = _fields(record)
    fits = _fits(fields)

    def check(raw: object) -> Miss | None:
        if type(raw) is not dict:
            return Miss(raw, "an object")
        return None if fits(raw) else _explained(raw, fields)

    return check


def _fits(fields: Fields) -> Callable[[dict[str, object]], bool]:
    """Whether a record has `fields`, as straight-line code made once per record type (as
    `dataclasses` makes `__init__`): every record of a listing is asked, and at tens of
    thousands of records a loop over the fields costs several times what one comparison per
    field does. Only a record that does not fit is walked again (`_explained`) to say where
    and how. Only the record type's own declared names and types go into the code."""
    lines = ["def fits(raw):", "    get = raw.get"]
    names: dict[str, object] = {"ABSENT": _ABSENT}
    for index, (name, needed, spec) in enumerate(fields):
        if spec.accepted is None:
            if needed:
                lines.append(f"    if {name!r} not in raw: return False")
            continue
        names[f"accepted_{index}"] = spec.accepted if needed else spec.accepted | {_Absent}
        lines.append(f"    value = get({name!r}, ABSENT)")
        lines.append(f"    if type(value) not in accepted_{index}: return False")
        if spec.inner is not None:
            names[f"inner_{index}"] = spec.inner
            # An empty list or object holds nothing to check; an empty record may lack keys.
            test = "value is not None and value is not ABSENT" if spec.record else "value"
            lines.append(f"    if {test} and inner_{index}(value) is not None: return False")
    lines.append("    return True")
    exec("\n".join(lines), names)
    fits: Callable[[dict[str, object]], bool] = names["fits"]  # type: ignore[assignment]
    return fits


def _explained(raw: dict[str, object], fields: Fields) -> Miss:
    """Where and how a record that does not fit does not."""
    for name, needed, spec in fields:
        value = raw.get(name, _ABSENT)
        miss = (Miss(_MISSING, "") if needed else None) if value is _ABSENT else spec.miss(value)
        if miss is not None:
            miss.at.append(f".{name}")
            return miss
    raise AssertionError("a record that does not fit has a field that does not")


def _required(hint: Any, total: bool) -> bool:
    """Whether a key must be there. Read from the annotation, not `__required_keys__`, which
    Python 3.11 gets wrong for string annotations (`from __future__ import annotations`)."""
    origin = get_origin(hint)
    if origin is NotRequired:
        return False
    return origin is Required or total


def _unwrapped(hint: Any) -> Any:
    """The type inside `Required[...]` or `NotRequired[...]`."""
    return get_args(hint)[0] if get_origin(hint) in (Required, NotRequired) else hint


_SCALARS: dict[object, _Spec] = {
    str: _Spec(frozenset({str}), "a string"),
    bool: _Spec(frozenset({bool}), "true or false"),
    int: _Spec(frozenset({int}), "a whole number"),
    float: _Spec(frozenset({float, int}), "a number"),
}
"""The exact types JSON decodes to (a JSON `true` is no whole number here)."""
_ANYTHING = _Spec(None)


def _spec(hint: Any) -> _Spec:
    """What one declared type accepts."""
    if hint is object or hint is Any:
        return _ANYTHING
    if is_typeddict(hint):
        return _Spec(frozenset({dict}), "an object", _record_check(hint), record=True)
    origin = get_origin(hint)
    if origin is Union or origin is types.UnionType:
        return _nullable(get_args(hint))
    if origin is list:
        return _Spec(frozenset({list}), "a list", _items(_spec(get_args(hint)[0])))
    if origin is dict or origin is Mapping:
        return _Spec(frozenset({dict}), "an object", _values(_spec(get_args(hint)[1])))
    if hint in _SCALARS:
        return _SCALARS[hint]
    raise TypeError(f"no shape check for the declared type {hint!r}")


def _nullable(options: tuple[Any, ...]) -> _Spec:
    """`X | None`: null, or what X accepts (the only unions a record declares)."""
    kept = [option for option in options if option is not type(None)]
    if len(kept) != 1 or len(options) != 2:
        raise TypeError(f"no shape check for a union of {options!r}")
    spec = _spec(kept[0])
    if spec.accepted is None:
        return spec
    return _Spec(spec.accepted | {type(None)}, spec.wanted, spec.inner, spec.record)


def _items(item: _Spec) -> Check | None:
    """The check of a list's items (None: items of any kind). The items are walked once
    without indices; where one does not fit, again to say which."""
    accepted, inner = item.accepted, item.inner
    if accepted is None:
        return None

    def check(value: object) -> Miss | None:
        for element in cast(list[object], value):
            if type(element) not in accepted or (
                inner is not None and element is not None and inner(element) is not None
            ):
                return _first(enumerate(cast(list[object], value)), item, "[{}]")
        return None

    return check


def _values(item: _Spec) -> Check | None:
    """The check of an object's values (None: values of any kind)."""
    if item.accepted is None:
        return None

    def check(value: object) -> Miss | None:
        return _first(cast(dict[str, object], value).items(), item, ".{}")

    return check


def _first(pairs: Iterable[tuple[object, object]], item: _Spec, where: str) -> Miss | None:
    """The first of `pairs` (place, value) whose value does not fit, placed with `where`."""
    for place, element in pairs:
        if (miss := item.miss(element)) is not None:
            miss.at.append(where.format(place))
            return miss
    return None


def _kind(value: object) -> str:
    """What a JSON value is, in words (never the value itself: it may be anything)."""
    match value:
        case None:
            return "null"
        case bool():
            return "true or false"
        case int() | float():
            return "a number"
        case str():
            return "a string"
        case list():
            return "a list"
        case dict():
            return "an object"
    return f"a {type(value).__name__}"
