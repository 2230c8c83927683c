"""Edits of users listed in `usersFrom` files: a CSV record or a JSON Lines line.

The row is found by the line the manifest loader recorded for it (records are counted the
way the loader counts them) and checked to hold the user's id. A removed user's row goes
whole; a moved user's row is written again with `pattern` and `agent` changed and the
template and tags of its own agent emptied. Every other line stays as it is.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from typing import Any

from reconciler.manifest.edits.base import Move, Refused, Remove, Request, Span

NOT_THERE = "its row is not where the manifests were read from"


class _Lines:
    """A file's text cut at "\\n" only, as the loader counts lines."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0, *(newline.end() for newline in re.finditer("\n", text))]

    def start(self, line: int) -> int:
        """Where 1-based `line` starts (the end of the text past the last line)."""
        return self.starts[line - 1] if line <= len(self.starts) else len(self.text)

    def end(self, line: int) -> int:
        """Where `line`'s own text ends, before its "\\r\\n" or "\\n"."""
        begin, end = self.start(line), self.start(line + 1)
        for ending in ("\n", "\r"):
            if end > begin and self.text[end - 1] == ending:
                end -= 1
        return end

    def remove(self, first: int, last: int) -> Span:
        """Remove lines `first` to `last`, their newlines included."""
        return Span(self.start(first), self.start(last + 1), "")


def edit_csv(text: str, requests: Sequence[Request]) -> tuple[list[Span], dict[str, str]]:
    """The spans making the requested edits of CSV records, and why any user is not edited."""
    lines = _Lines(text)
    try:
        header, records = _records(text)
    except csv.Error:
        return [], {r.user.id: "the file no longer reads as CSV" for r in requests}
    spans: list[Span] = []
    refused: dict[str, str] = {}
    for request in requests:
        try:
            first, last, row = _record(records, header, request)
            match request:
                case Remove():
                    spans.append(lines.remove(first, last))
                case Move(agent=agent):
                    record = _csv_text(_moved_row(header, row, agent))
                    spans.append(Span(lines.start(first), lines.end(last), record))
        except Refused as exc:
            refused[request.user.id] = exc.reason
    return spans, refused


def _records(text: str) -> tuple[list[str], dict[int, tuple[int, list[str]]]]:
    """The header's column names, and each record by its first line: (last line, cells)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [cell.strip() for cell in next(reader, [])]
    records: dict[int, tuple[int, list[str]]] = {}
    start = reader.line_num + 1
    for row in reader:
        records[start] = (reader.line_num, row)
        start = reader.line_num + 1
    return header, records


def _record(
    records: dict[int, tuple[int, list[str]]], header: list[str], request: Request
) -> tuple[int, int, list[str]]:
    first = request.user.source.loc.line
    last, row = records.get(first, (0, []))
    column = header.index("id") if "id" in header else -1
    if not 0 <= column < len(row) or row[column].strip() != request.user.id:
        raise Refused(NOT_THERE)
    return first, last, row


def _moved_row(header: list[str], row: list[str], agent: str) -> list[str]:
    if "agent" not in header:
        raise Refused("the file has no 'agent' column; add one, or move the user by hand")
    cells = [*row, *([""] * (len(header) - len(row)))]
    changed = {"pattern": "shared", "agent": agent, "template": "", "tags": ""}
    for name, value in changed.items():
        if name in header:
            cells[header.index(name)] = value
    return cells


def _csv_text(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue()[:-1]


def edit_jsonl(text: str, requests: Sequence[Request]) -> tuple[list[Span], dict[str, str]]:
    """The spans making the requested edits of JSON Lines users, and why any is not edited."""
    lines = _Lines(text)
    spans: list[Span] = []
    refused: dict[str, str] = {}
    for request in requests:
        line = request.user.source.loc.line
        user = _json_user(text[lines.start(line) : lines.end(line)])
        if user is None or user.get("id") != request.user.id:
            refused[request.user.id] = NOT_THERE
            continue
        match request:
            case Remove():
                spans.append(lines.remove(line, line))
            case Move(agent=agent):
                moved = json.dumps(_moved_user(user, agent), ensure_ascii=False)
                spans.append(Span(lines.start(line), lines.end(line), moved))
    return spans, refused


def _json_user(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _moved_user(user: dict[str, Any], agent: str) -> dict[str, Any]:
    """The same keys in the same order, `agent` after `pattern`, no template or tags."""
    moved: dict[str, Any] = {}
    for key, value in user.items():
        if key in ("template", "tags", "agent"):
            continue
        moved[key] = "shared" if key == "pattern" else value
        if key == "pattern":
            moved["agent"] = agent
    return moved
