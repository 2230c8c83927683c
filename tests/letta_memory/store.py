"""The records of the in-memory Letta server and what its listings share: ids and creation
times the way the real server makes them, cursor pagination with `after`, tag filters, and the
404 a missing record gets."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

Record = dict[str, Any]
Query = Mapping[str, list[str]]

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class Refused(Exception):
    """An HTTP error answer: status and the JSON body the real server gives (`detail`)."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.body: Any = {"detail": detail}


def not_found(kind: str, record_id: str) -> Refused:
    return Refused(404, f"{kind} not found with id='{record_id}'")


@dataclass
class Collection:
    """The records of one kind, by id, with the sort key of every id ever made (a deleted
    record's key still places an `after` cursor naming it, as on the real server)."""

    kind: str
    prefix: str
    default_order: str = "desc"
    default_limit: int = 50
    rows: dict[str, Record] = field(default_factory=dict)
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)
    removed: dict[str, Record] = field(default_factory=dict)
    """The records deleted, by id (what a test may ask about after the fact)."""

    def get(self, record_id: str) -> Record:
        found = self.rows.get(record_id)
        if found is None:
            raise not_found(self.kind, record_id)
        return found

    def add(self, record: Record) -> Record:
        self.rows[record["id"]] = record
        self.keys[record["id"]] = (record["created_at"], record["id"])
        return record

    def remove(self, record_id: str) -> Record:
        self.get(record_id)
        self.removed[record_id] = self.rows.pop(record_id)
        return self.removed[record_id]

    def page(self, query: Query, keep: Callable[[Record], bool]) -> list[Record]:
        """The records `keep` accepts, by creation time (`order`, else this listing's
        default), after the `after` cursor, at most `limit`."""
        order = last(query, "order") or self.default_order
        rows = sorted(
            (r for r in self.rows.values() if keep(r)),
            key=lambda r: (r["created_at"], r["id"]),
            reverse=order == "desc",
        )
        cursor = self.keys.get(last(query, "after") or "")
        if cursor is not None:
            rows = [r for r in rows if _beyond((r["created_at"], r["id"]), cursor, order)]
        limit = int(last(query, "limit") or self.default_limit)
        return rows[:limit]


def _beyond(key: tuple[str, str], cursor: tuple[str, str], order: str) -> bool:
    return key > cursor if order == "asc" else key < cursor


class Clock:
    """Ids and creation times: each record a microsecond after the one before, unless a test
    sets its time (to stage duplicates made at once)."""

    def __init__(self) -> None:
        self._count = itertools.count(1)

    def stamp(self, prefix: str) -> tuple[str, str]:
        n = next(self._count)
        created = (EPOCH + timedelta(microseconds=n)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return f"{prefix}-00000000-0000-4000-8000-{n:012d}", created


def last(query: Query, name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def flag(query: Query, name: str) -> bool:
    return (last(query, name) or "").lower() == "true"


def tags_match(query: Query, tags: Iterable[str], *, key: str = "tags") -> bool:
    """The `tags` filter: any of them (all of them with `match_all_tags=true`)."""
    wanted = query.get(key)
    if not wanted:
        return True
    held = set(tags)
    if flag(query, "match_all_tags"):
        return set(wanted) <= held
    return bool(held & set(wanted))


def copied(value: Any) -> Any:
    return copy.deepcopy(value)
