"""Parsed manifest values that remember where they came from.

Mappings and sequences carry the location of every key and item, so any value found by a
path (a schema error's `absolute_path`, a cross-reference) can be reported as file:line:col.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from reconciler.errors import Location


class MarkedMap(dict[str, Any]):
    """A mapping with the location of itself, of each key and of each value."""

    __slots__ = ("key_locs", "loc", "value_locs")

    def __init__(self, loc: Location) -> None:
        super().__init__()
        self.loc = loc
        self.key_locs: dict[str, Location] = {}
        self.value_locs: dict[str, Location] = {}

    def put(self, key: str, value: Any, key_loc: Location, value_loc: Location) -> None:
        """Set a key with both its locations."""
        self[key] = value
        self.key_locs[key] = key_loc
        self.value_locs[key] = value_loc

    def without(self, key: str) -> MarkedMap:
        """A shallow copy lacking `key`, keeping every other location."""
        copy = MarkedMap(self.loc)
        for other, value in self.items():
            if other != key:
                copy.put(other, value, self.key_loc(other), self.value_loc(other))
        return copy

    def value_loc(self, key: str) -> Location:
        """Where the value of `key` is written (the mapping itself when absent)."""
        return self.value_locs.get(key, self.loc)

    def key_loc(self, key: str) -> Location:
        """Where `key` is written (the mapping itself when absent)."""
        return self.key_locs.get(key, self.loc)


class Cells(Protocol):
    """Where the cells of one record of a users file are: `loc(column index)`."""

    def loc(self, index: int) -> Location: ...


class RowMap(MarkedMap):
    """A mapping read from one record of a users file: a key and its value are written in
    the cell `columns[key]` of the record, whose location is worked out when asked, so a
    file of 100,000 users keeps no location per cell."""

    __slots__ = ("_cells", "_columns")

    def __init__(
        self,
        loc: Location,
        cells: Cells,
        columns: Mapping[str, int],
        items: Mapping[str, Any] | None = None,
    ) -> None:
        dict.__init__(self, items or ())
        self.loc = loc
        self._cells = cells
        self._columns = columns

    def put(self, key: str, value: Any, key_loc: Location, value_loc: Location) -> None:
        """Set a key, which must be one of `columns` (its cell is where it is written)."""
        self[key] = value

    def value_loc(self, key: str) -> Location:
        return self._cells.loc(self._columns[key]) if key in self else self.loc

    def key_loc(self, key: str) -> Location:
        return self.value_loc(key)


_CONTAINERS = (dict, list)
"""The JSON values a line's mapping marks (a tuple: `dict | list` would be made anew for
each of the line's values)."""


class LineMap(MarkedMap):
    """A mapping read from one line of a JSON Lines users file: every key and value in it is
    at the line's location, so none is stored. Nested mappings and lists are marked alike."""

    __slots__ = ()

    def __init__(self, value: Mapping[str, Any], loc: Location) -> None:
        dict.__init__(self, value)
        self.loc = loc
        for key, item in self.items():
            if isinstance(item, _CONTAINERS):
                self[key] = mark_plain(item, loc)

    def put(self, key: str, value: Any, key_loc: Location, value_loc: Location) -> None:
        self[key] = value

    def value_loc(self, key: str) -> Location:
        return self.loc

    def key_loc(self, key: str) -> Location:
        return self.loc


class MarkedList(list[Any]):
    """A sequence with the location of itself and of each item."""

    __slots__ = ("item_locs", "loc")

    def __init__(self, loc: Location) -> None:
        super().__init__()
        self.loc = loc
        self.item_locs: list[Location] = []

    def push(self, item: Any, item_loc: Location) -> None:
        """Append an item with its location."""
        self.append(item)
        self.item_locs.append(item_loc)

    def item_loc(self, index: int) -> Location:
        """Where item `index` is written (the sequence itself when out of range)."""
        return self.item_locs[index] if 0 <= index < len(self.item_locs) else self.loc


def child_loc(container: Any, key: str | int) -> Location | None:
    """The location of `container[key]`, if the container is marked."""
    if isinstance(container, MarkedMap) and isinstance(key, str):
        return container.value_loc(key)
    if isinstance(container, MarkedList) and isinstance(key, int):
        return container.item_loc(key)
    return None


def locate(root: Any, path: Iterable[str | int], fallback: Location) -> Location:
    """The location of the value at `path` under `root`: the deepest marked one found."""
    best = getattr(root, "loc", fallback)
    node = root
    for key in path:
        found = child_loc(node, key)
        if found is None:
            break
        best = found
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            break
    return best


def mark_plain(value: Any, loc: Location) -> Any:
    """Wrap a plain JSON value (from CSV or JSONL) so that every part reports `loc`."""
    if isinstance(value, Mapping):
        return LineMap({str(key): item for key, item in value.items()}, loc)
    if isinstance(value, list):
        seq = MarkedList(loc)
        for item in value:
            seq.push(mark_plain(item, loc), loc)
        return seq
    return value


def plain(value: Any) -> Any:
    """A marked value as plain dicts and lists (what the desired state holds)."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def format_path(path: Iterable[str | int]) -> str:
    """A readable path such as `users[3].template` or `templates.assistant.blocks`."""
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else key)
    return text
