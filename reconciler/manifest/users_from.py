"""Users listed in files (`usersFrom`): CSV with a header row, or JSON Lines.

Rows become marked user mappings located at their line (and, for CSV, the cell's column),
so that every problem in a list of thousands of users points at the exact row. Messages
quote at most the offending cell, shortened. A `where` filter keeps only the rows whose
attributes have the values it allows, so that one file can feed several stacks.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from json.scanner import make_scanner
from typing import Any

from reconciler.errors import Location
from reconciler.manifest.files import DATA_MAX_BYTES, FileRef, Root, TextFile, read_reference
from reconciler.manifest.marked import LineMap, MarkedList, MarkedMap, RowMap
from reconciler.manifest.problems import Problems, quoted, suggest
from reconciler.manifest.scalars import MAX_DEPTH, check_values
from reconciler.manifest.schema import PROPERTY_KEY, fits
from reconciler.manifest.variables import as_text

CSV_COLUMNS = ("id", "name", "pattern", "template", "agent", "tags", "protected")
REQUIRED_COLUMNS = {
    "id": "",
    "pattern": " (every user needs one: dedicated, shared or identity)",
}
"""The columns every row needs (the schema's required user keys), with a hint."""
PROPERTY_PREFIX = "properties."
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})
_TAG_SEPARATORS = re.compile(r"[;\s]+")


@dataclass(frozen=True)
class Condition:
    """One key of a `where` filter: a column (as a CSV header names it), the values a row's
    cell may hold (as text), and where the key is written in the manifest."""

    column: str
    values: frozenset[str]
    loc: Location


@dataclass(frozen=True)
class UsersFile:
    """One `usersFrom` entry: the file, as named in its manifest, its declared format, and
    the `where` conditions a row must all meet to be one of the stack's users."""

    file: FileRef
    format: str | None
    where: tuple[Condition, ...] = ()


def where_conditions(where: MarkedMap, problems: Problems) -> tuple[Condition, ...]:
    """The conditions of a schema-valid `where` mapping; a key that names no column is
    reported (with a "did you mean" hint) and left out."""
    conditions: list[Condition] = []
    for column, allowed in where.items():
        loc = where.key_loc(column)
        key = _property_key(column)
        if column not in CSV_COLUMNS and (key is None or not fits(PROPERTY_KEY, key)):
            problems.add(loc, f"usersFrom where: unknown column {quoted(column)}{_hint(column)}")
            continue
        values = allowed if isinstance(allowed, list) else [allowed]
        conditions.append(Condition(column, frozenset(as_text(v) for v in values), loc))
    return tuple(conditions)


def _hint(column: str) -> str:
    if fits(PROPERTY_KEY, column) and not suggest(column, CSV_COLUMNS):
        return f"; did you mean '{PROPERTY_PREFIX}{column}'?"
    return suggest(column, CSV_COLUMNS) or f" (columns: {', '.join(CSV_COLUMNS)}, properties.<key>)"


def selected(rows: Iterable[MarkedMap], where: tuple[Condition, ...]) -> list[MarkedMap]:
    """The rows meeting every condition; a missing or empty cell holds the empty text, and
    a row's tags meet a condition when one of them does."""
    if not where:
        return list(rows)
    return [row for row in rows if all(_meets(row, c) for c in where)]


def _meets(row: Mapping[str, Any], condition: Condition) -> bool:
    key = _property_key(condition.column)
    if key is not None:
        properties = row.get("properties")
        value = properties.get(key) if isinstance(properties, Mapping) else None
    else:
        value = row.get(condition.column)
    cells = value if isinstance(value, list) else [value]
    texts = {"" if cell is None else as_text(cell) for cell in cells} or {""}
    return not texts.isdisjoint(condition.values)


def users_file_format(ref: UsersFile) -> str | None:
    """`csv` or `jsonl`: as declared, else from the file's extension (None when unknown)."""
    return ref.format or FORMATS.get(ref.file.path.suffix.lower())


def open_users_file(ref: UsersFile, root: Root, problems: Problems) -> TextFile | None:
    """The text of a users file whose format is known, or None with the problem recorded
    (an unknown format, or a file that is not read: see `read_reference`)."""
    if users_file_format(ref) is None:
        known = ", ".join(FORMATS)
        problems.add(
            ref.file.loc,
            f"usersFrom: cannot tell the format of {quoted(ref.file.path.name)} "
            f"(extension not one of {known}); set 'format: csv' or 'format: jsonl'",
        )
        return None
    return read_reference(ref.file, root, DATA_MAX_BYTES, problems)


def users_rows(ref: UsersFile, file: TextFile, problems: Problems) -> list[MarkedMap]:
    """The rows of an opened users file as marked user mappings (not yet checked against the
    schema)."""
    if users_file_format(ref) == "jsonl":
        return selected(_jsonl_users(file, problems), ref.where)
    return selected(_csv_users(file, ref.where, problems), ref.where)


def _jsonl_users(file: TextFile, problems: Problems) -> Iterator[MarkedMap]:
    for number, line in enumerate(file.text.split("\n"), start=1):
        if not line.strip():
            continue
        loc = Location(file.display, number, 1)
        value = _json_user(line, loc, problems)
        if value is not None:
            yield LineMap(value, loc)


def _json_user(line: str, loc: Location, problems: Problems) -> dict[str, Any] | None:
    """One line's user object, or None with the problem recorded (without the line's text)."""
    try:
        value = _decoded(line)
    except json.JSONDecodeError as exc:
        problems.add(Location(loc.file, loc.line, exc.colno), f"invalid JSON: {exc.msg}")
        return None
    except ValueError:  # an integer of more digits than Python converts
        problems.add(loc, "invalid JSON: a number has too many digits")
        return None
    except RecursionError:
        problems.add(loc, "invalid JSON: nested too deeply")
        return None
    if not isinstance(value, dict):
        problems.add(loc, "each line must be a JSON object (one user)")
        return None
    if _suspect(line) and not check_values(value, "user", loc, problems):
        return None
    return value


_SCAN: Callable[[str, int], tuple[Any, int]] = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]
"""The scanner `json.loads` runs (typeshed takes its argument for a scanner: it is the
decoder whose settings it reads)."""
_JSON_SPACE = " \t\n\r"


def _decoded(line: str) -> Any:
    """`json.loads(line)`. A line holding one object and white space after it at most is read
    by the scanner `json.loads` runs, called directly (without its passes for white space
    around the value); any other line, and one it cannot read, by `json.loads` itself, which
    says what is wrong."""
    if line[:1] == "{":
        try:
            value, end = _SCAN(line, 0)
        except (StopIteration, ValueError, RecursionError):
            return json.loads(line)
        if end == len(line) or not line[end:].strip(_JSON_SPACE):
            return value
    return json.loads(line)


_SUSPECT = re.compile(r"\\u|NaN|Infinity|[0-9][eE]|[0-9]{309}")


def _suspect(line: str) -> bool:
    """Whether `check_values` could find anything in this line's value: a NUL or a lone
    surrogate comes only as a `\\u` escape (the file is strict UTF-8 without NUL), a number
    that is not finite only as NaN, Infinity, an exponent or over 308 digits, nesting only
    with brackets."""
    return _SUSPECT.search(line) is not None or line.count("{") + line.count("[") > MAX_DEPTH


def _csv_users(
    file: TextFile, where: tuple[Condition, ...], problems: Problems
) -> Iterator[MarkedMap]:
    # Only "\n" ends a line for the csv module's line count, so only "\n" splits here.
    lines = file.text.split("\n")
    reader = csv.reader(io.StringIO(file.text, newline=""))
    try:
        header = [cell.strip() for cell in next(reader, [])]
    except csv.Error as exc:
        problems.add(Location(file.display, 1, 1), f"invalid CSV: {exc}")
        return
    usable = _header_ok(header, file, lines, problems) and _where_ok(where, header, file, problems)
    if not usable:
        return
    columns = _Columns(header)
    start = reader.line_num + 1
    try:
        for row in reader:
            if "".join(row).strip():
                user = _csv_user(row, _Cells(file.display, lines, start), columns, problems)
                if user is not None:
                    yield user
            start = reader.line_num + 1
    except csv.Error as exc:
        problems.add(Location(file.display, start, 1), f"invalid CSV: {exc}")


def _header_ok(header: list[str], file: TextFile, lines: list[str], problems: Problems) -> bool:
    cells = _Cells(file.display, lines, 1)
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    for name in missing:  # once here, not at every row
        problems.add(cells.loc(0), f"the CSV header has no '{name}' column{REQUIRED_COLUMNS[name]}")
    ok = not missing
    for index, name in enumerate(header):
        key = _property_key(name)
        if key is not None and not fits(PROPERTY_KEY, key):
            message = f"CSV column {quoted(name)}: a property key is letters, digits, '_' and '-'"
            problems.add(cells.loc(index), message)
            ok = False
        elif name not in CSV_COLUMNS and key is None:
            hint = (
                suggest(name, CSV_COLUMNS)
                or f" (columns: {', '.join(CSV_COLUMNS)}, properties.<key>)"
            )
            problems.add(cells.loc(index), f"unknown CSV column {quoted(name)}{hint}")
            ok = False
        elif name in header[:index]:
            problems.add(cells.loc(index), f"duplicate CSV column {quoted(name)}")
            ok = False
    return ok


def _where_ok(
    where: tuple[Condition, ...], header: list[str], file: TextFile, problems: Problems
) -> bool:
    """Every column a `where` filter names is in the header (else no row could match)."""
    missing = [c for c in where if c.column not in header]
    for condition in missing:
        hint = suggest(condition.column, header) or f" (columns: {', '.join(header)})"
        message = f"usersFrom where: {file.display} has no column {quoted(condition.column)}"
        problems.add(condition.loc, message + hint)
    return not missing


def _property_key(column: str) -> str | None:
    """`plan` for a `properties.plan` column; None for any other column."""
    if column.startswith(PROPERTY_PREFIX) and len(column) > len(PROPERTY_PREFIX):
        return column[len(PROPERTY_PREFIX) :]
    return None


def _csv_user(
    row: list[str], cells: _Cells, columns: _Columns, problems: Problems
) -> MarkedMap | None:
    """One record as a user mapping; a cell's location is worked out only for a problem (or
    a tag list, whose items keep theirs)."""
    width = len(columns.header)
    if len(row) != width:
        if len(row) > width:
            problems.add(cells.loc(width), f"row has {len(row)} cells, the header {width}")
            return None
        row = row + [""] * (width - len(row))
    start = Location(cells.display, cells.line, 1)
    # Text columns in one pass; values other than ids and names repeat from row to row
    # (patterns, agents, templates): `kept` interns them, one copy of each.
    user = RowMap(
        start,
        cells,
        columns.user,
        {name: kept(cell) for index, name, kept in columns.text if (cell := row[index].strip())},
    )
    properties: RowMap | None = None
    for index, role in columns.other:
        if not (cell := row[index].strip()):
            continue
        if role is _Role.PROPERTY:
            if properties is None:
                properties = RowMap(start, cells, columns.properties)
            properties[columns.keys[index]] = sys.intern(cell)
        elif (value := _csv_value(role, cell, cells.loc(index), problems)) is not None:
            user[columns.header[index]] = value
    if properties is not None:
        user["properties"] = properties
    return user


def _csv_value(role: _Role, cell: str, loc: Location, problems: Problems) -> object:
    if role is _Role.TAGS:
        tags = MarkedList(loc)
        for tag in _TAG_SEPARATORS.split(cell):
            if tag:
                tags.push(tag, loc)
        return tags
    if cell.lower() in _TRUE | _FALSE:
        return cell.lower() in _TRUE
    problems.add(loc, f"protected: expected true or false, got {quoted(cell)}")
    return None


class _Role(Enum):
    """What a column's cells are: text repeated between users, a user's own text (id,
    name), a property, tags, or the `protected` flag."""

    PLAIN = "plain"
    OWN = "own"
    PROPERTY = "property"
    TAGS = "tags"
    FLAG = "flag"


_ROLES = {"id": _Role.OWN, "name": _Role.OWN, "tags": _Role.TAGS, "protected": _Role.FLAG}


class _Columns:
    """What each column of a checked header holds, and which cell of a record holds each key
    of a user (`properties` at the record's start) and each of its properties."""

    def __init__(self, header: list[str]) -> None:
        self.header = header
        self.keys = [_property_key(name) or "" for name in header]
        self.roles = [
            _Role.PROPERTY if key else _ROLES.get(name, _Role.PLAIN)
            for name, key in zip(header, self.keys, strict=True)
        ]
        self.user = {name: index for index, name in enumerate(header)} | {"properties": 0}
        self.properties = {key: index for index, key in enumerate(self.keys) if key}
        kept: dict[_Role, Callable[[str], str]] = {_Role.PLAIN: sys.intern, _Role.OWN: str}
        self.text: list[tuple[int, str, Callable[[str], str]]] = [
            (index, name, kept[role])
            for index, (name, role) in enumerate(zip(header, self.roles, strict=True))
            if role in kept
        ]
        """The text columns: index, key, and how a cell's text is kept."""
        self.other = [(index, role) for index, role in enumerate(self.roles) if role not in kept]


class _Cells:
    """Columns of the cells of one CSV record, for locations (1 when a record spans lines),
    worked out from its line when a location is asked for."""

    __slots__ = ("display", "line", "lines")

    def __init__(self, display: str, lines: list[str], line: int) -> None:
        self.display = display
        self.lines = lines
        self.line = line

    def loc(self, index: int) -> Location:
        if index == 0:
            return Location(self.display, self.line, 1)
        text = self.lines[self.line - 1] if 0 < self.line <= len(self.lines) else ""
        starts = _cell_starts(text)
        column = starts[index] if index < len(starts) else 1
        return Location(self.display, self.line, column)


def _cell_starts(text: str) -> list[int]:
    """1-based start column of each cell of a one-line CSV record (quotes respected)."""
    if '"' not in text:
        starts = [1]
        for cell in text.split(",")[:-1]:
            starts.append(starts[-1] + len(cell) + 1)
        return starts
    starts = [1]
    quoted = False
    for column, char in enumerate(text, start=1):
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            starts.append(column + 1)
    return starts
