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
from dataclasses import dataclass, replace
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
    """The check of one record type (a `TypedDict`), made from its declaration when first
    used (a command that reads nothing of a kind never makes its check)."""

    def __init__(self, record: type[R]) -> None:
        self.record = record

    def parse(self, raw: object, route: str, address: str = "") -> R:
        """`raw` as the record, if it has the declared shape; otherwise `UnexpectedAnswer`
        naming `route` (`GET /v1/blocks/`) and the field, under `address` when it is the
        answer for one resource (the change being applied)."""
        check = _record(self.record)
        if type(raw) is dict and check.fits(raw):
            return raw  # type: ignore[return-value]  # checked: it is an R
        raise unexpected(route, str(check.explained(raw)), address)

    def parse_all(self, raw: object, route: str, address: str = "") -> list[R]:
        """A list of such records (an answer that is a plain list)."""
        if type(raw) is not list:
            raise unexpected(route, str(Miss(raw, "a list")), address)
        return [self.parse(item, route, address) for item in raw]


def a_list(raw: object, route: str, address: str = "") -> list[object]:
    """An answer that is a list of anything (each item read by whoever asked)."""
    if type(raw) is not list:
        raise unexpected(route, str(Miss(raw, "a list")), address)
    return cast(list[object], raw)


def an_id(raw: object, route: str, address: str = "") -> str:
    """An item of a listing of ids (the server lists a folder's agents by id only)."""
    if type(raw) is not str:
        raise unexpected(route, str(Miss(raw, "an id (a string)")), address)
    return raw


def unexpected(route: str, problem: str, address: str = "") -> UnexpectedAnswer:
    """The error for an answer of another shape: one line naming the route."""
    if address:
        return UnexpectedAnswer(address, f"{route}: {problem}; {SUPPORTED}")
    return UnexpectedAnswer(route, f"{problem}; {SUPPORTED}")


Fits = Callable[[dict[str, object]], bool]
"""Whether a record fits its type: asked of every record, so made as straight-line code."""


@dataclass(frozen=True, slots=True)
class _Spec:
    """What one declared type accepts: the exact types of the value (None: anything), in
    words, and the check saying where and how what a container holds does not fit (None:
    nothing more to check). For the quick yes or no: a nested record's `Fits`, or what a
    list's items (a mapping's values, with `values`) accept."""

    accepted: frozenset[type] | None
    wanted: str = ""
    inner: Check | None = None
    record: Fits | None = None
    item: _Spec | None = None
    values: bool = False

    def miss(self, value: object) -> Miss | None:
        if self.accepted is not None and type(value) not in self.accepted:
            return Miss(value, self.wanted)
        return None if self.inner is None or value is None else self.inner(value)


class _Absent:
    """The type of what a key that is not there reads as: accepted where a key may be absent."""

    def __bool__(self) -> bool:
        return False


_ABSENT = _Absent()


Fields = tuple[tuple[str, bool, _Spec], ...]
"""A record type's keys: name, whether it must be there, what its value may be."""


def _fields(record: type[Any]) -> Fields:
    return tuple(
        (name, _required(hint, record.__total__), _spec(_unwrapped(hint)))
        for name, hint in get_type_hints(record, include_extras=True).items()
    )


@dataclass(frozen=True, slots=True)
class _Record:
    """The check of a record type: whether a record fits, and if not, where and how."""

    fields: Fields
    fits: Fits

    def explained(self, raw: object) -> Miss | None:
        if type(raw) is not dict:
            return Miss(raw, "an object")
        return None if self.fits(raw) else _explained(raw, self.fields)


def _record(record: type[Any]) -> _Record:
    """A record type's check, made once (a record nested in others, such as a block in an
    agent, shares it). Two threads may make it at once: both make the same."""
    made = _RECORDS.get(record)
    if made is None:
        fields = _fields(record)
        made = _RECORDS[record] = _Record(fields, _fits(fields))
    return made


_RECORDS: dict[object, _Record] = {}


def _record_spec(record: type[Any]) -> _Spec:
    """A nested record (a `TypedDict`): see `_fits` and `_explained`."""
    check = _record(record)
    return _Spec(frozenset({dict}), "an object", check.explained, record=check.fits)


def _fits(fields: Fields) -> Fits:
    """Whether a record has `fields`, as straight-line code made once per record type (as
    `dataclasses` makes `__init__`): every record of a listing is asked, and at tens of
    thousands of records a loop over the fields, or a call per list or nested record, costs
    several times what one comparison per value does. Only a record that does not fit is
    walked again (`_explained`) to say where and how. Only the record type's own declared
    names and types go into the code."""
    code = _Code()
    code.lines += ["def fits(raw):", "    get = raw.get"]
    for name, needed, spec in fields:
        if spec.accepted is None:
            if needed:
                code.lines.append(f"    if {name!r} not in raw: return False")
            continue
        # A missing key reads as null where null is accepted anyway, else as ABSENT.
        missing = "None" if type(None) in spec.accepted else "ABSENT"
        if needed:
            code.lines.append(f"    if {name!r} not in raw: return False")
            code.lines.append(f"    value = raw[{name!r}]")
        else:
            code.lines.append(f"    value = get({name!r}, {missing})")
        code.lines.append(f"    if {code.outside(spec, 'value', needed)}: return False")
        code.contents(spec, "value", "    ")
    code.lines.append("    return True")
    return code.made("fits")


class _Code:
    """The lines of a `Fits` function being made, and the values they name."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, object] = {"ABSENT": _ABSENT}

    def name(self, value: object) -> str:
        """A name the code knows `value` by."""
        name = f"v{len(self.names)}"
        self.names[name] = value
        return name

    def outside(self, spec: _Spec, var: str, needed: bool) -> str:
        """The test that `var` is of none of the types `spec` accepts (nor absent, for a
        key that may be): `type(...) is not T` where one type is left, cheaper than a set."""
        assert spec.accepted is not None
        kinds = set(spec.accepted)
        tests = []
        if type(None) in kinds:
            kinds.discard(type(None))
            tests.append(f"{var} is not None")
        elif not needed:
            tests.append(f"{var} is not ABSENT")
        if len(kinds) == 1:
            tests.append(f"type({var}) is not {self.name(kinds.pop())}")
        else:
            tests.append(f"type({var}) not in {self.name(frozenset(kinds))}")
        return " and ".join(tests)

    def contents(self, spec: _Spec, var: str, pad: str) -> None:
        """Lines checking what `var` (of an accepted type) holds, returning False where it
        does not fit: a nested record by its `Fits`; a list's items (a mapping's values) in
        a loop (an empty or absent one holds nothing to check)."""
        if spec.record is not None:
            fits = self.name(spec.record)
            self.lines.append(
                f"{pad}if {var} is not None and {var} is not ABSENT and not {fits}({var}):"
                " return False"
            )
            return
        item = spec.item
        if item is None or item.accepted is None:
            return
        each = f"item{len(pad)}"
        listed = f"{var}.values()" if spec.values else var
        self.lines.append(f"{pad}if {var}:")
        self.lines.append(f"{pad}    for {each} in {listed}:")
        self.lines.append(f"{pad}        if type({each}) not in {self.name(item.accepted)}:")
        self.lines.append(f"{pad}            return False")
        self.contents(item, each, pad + "        ")

    def made(self, name: str) -> Fits:
        exec("\n".join(self.lines), self.names)
        made: Fits = self.names[name]  # type: ignore[assignment]
        return made


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
        return _record_spec(hint)
    origin = get_origin(hint)
    if origin is Union or origin is types.UnionType:
        return _nullable(get_args(hint))
    if origin is list:
        item = _spec(get_args(hint)[0])
        return _Spec(frozenset({list}), "a list", _items(item), item=item)
    if origin is dict or origin is Mapping:
        item = _spec(get_args(hint)[1])
        return _Spec(frozenset({dict}), "an object", _values(item), item=item, values=True)
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
    return replace(spec, accepted=spec.accepted | {type(None)})


def _items(item: _Spec) -> Check | None:
    """Where and how a list's items do not fit (None: items of any kind)."""
    if item.accepted is None:
        return None

    def check(value: object) -> Miss | None:
        return _first(enumerate(cast(list[object], value)), item, "[{}]")

    return check


def _values(item: _Spec) -> Check | None:
    """Where and how an object's values do not fit (None: values of any kind)."""
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
