"""Passages of the stack's archives (`passage/<archive>/<key>`), identified by their content.

Each passage the stack writes carries its ownership record in its metadata: stack, address
and the SHA-256 of its text. Passages without it are the agents' own memory (an agent's
`archival_memory_insert` lands in its archive) or made by hand: never touched; one with a
declared passage's text and tags (an adopted archive's) stands for it, so that passage is
never written twice. The server
cannot change a passage, so a changed one is written again and the old one deleted, in one
change. A passage no longer declared is deleted with prune, like anything else.

Letta 0.16.8 has no listing of an archive's passages: they are read through its search with no
query, which answers 100 at a time in creation order, with a start date and no cursor.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, NotRequired, TypedDict

from reconciler import ownership
from reconciler.address import Address, Kind
from reconciler.desired import DesiredState, PassageSpec
from reconciler.errors import LettaApplyError
from reconciler.kinds import archive, holders
from reconciler.kinds.common import (
    Reading,
    Resolve,
    created_id,
    fingerprinted_in,
    no_named_ids,
    nothing_adopted,
    nothing_deleted_with,
    nothing_recorded,
    owned_in,
    shown_as_sent,
)
from reconciler.live.state import Found, LiveState, Part
from reconciler.plan.builder import Builder
from reconciler.plan.model import Adopt, Change, Create, Delete, FieldChange, Update
from reconciler.shape import Shape
from reconciler.values import JSON, freeze, thaw

if TYPE_CHECKING:
    from reconciler.client import LettaApi

KIND = Kind.PASSAGE
PAGE = 100
"""The most passages the server's search answers at once."""
SEARCH = "/v1/passages/search"


class PassageRecord(TypedDict):
    """A passage as the server's search answers it, with the fields letta-apply reads."""

    id: str
    text: str
    metadata: object
    """The ownership record, with the digest of the text written; anyone may write it: read
    by `reconciler.ownership`, which takes any shape."""
    created_at: str
    """Where the next page of the search starts."""
    tags: NotRequired[list[str] | None]


class Searched(TypedDict):
    """One result of the passage search: the passage (its score is not read)."""

    passage: PassageRecord


SEARCHED = Shape(Searched)
PASSAGE = Shape(PassageRecord)


@dataclass(frozen=True, slots=True)
class LivePassage:
    """A passage of one of the stack's archives; `address` is set when its ownership record
    names this stack (with the digest of the text it wrote)."""

    id: str
    archive_id: str
    address: Address | None
    created_at: str = ""
    digest: str = ""
    text: str = ""
    tags: tuple[str, ...] = ()


class Passages(Found[LivePassage]):
    """The passage kind's part of the live state: the passages of the stack's archives."""

    @cached_property
    def unmarked(self) -> frozenset[tuple[str, str, tuple[str, ...]]]:
        """(archive id, text, tags) of the passages the stack did not write."""
        return frozenset((p.archive_id, p.text, p.tags) for p in self.found if p.address is None)


LIVE = Part(KIND, Passages())
of = LIVE.of
named_ids = no_named_ids
read_record = nothing_recorded
shown = shown_as_sent
adopting = nothing_adopted
deleted_with = nothing_deleted_with
owned = owned_in(LIVE)
fingerprinted = fingerprinted_in(LIVE)


def declared(desired: DesiredState) -> Iterable[Address]:
    return (passage.address for spec in desired.archives for passage in spec.passages)


def needs(desired: DesiredState) -> Iterable[tuple[Address, Iterable[Address]]]:
    """A passage needs its archive."""
    return ((p.address, (spec.address,)) for spec in desired.archives for p in spec.passages)


# Reading --------------------------------------------------------------------------------------


def from_server(raw: PassageRecord, holder: archive.LiveArchive, stack: str) -> LivePassage:
    metadata = raw["metadata"]
    recorded = ownership.metadata_address(metadata, stack)
    ours = recorded is not None and recorded.kind is KIND and recorded.owner == holder.address
    record = metadata.get(ownership.METADATA_KEY) if isinstance(metadata, Mapping) else None
    digest = record.get("sha256") if ours and isinstance(record, Mapping) else None
    return LivePassage(
        id=raw["id"],
        archive_id=holder.id,
        address=recorded if ours else None,
        created_at=raw["created_at"],
        digest=digest if isinstance(digest, str) else "",
        text=raw["text"],
        tags=tuple(sorted(raw.get("tags") or ())),
    )


def read(reading: Reading) -> Passages:
    """The passages of the stack's archives (with `--adopt`, of the unowned archives of
    declared names too)."""
    api, stack = reading.api, reading.stack
    mine = holders.readable(reading.part(archive.LIVE).found, archive.adoptable(reading))
    with ThreadPoolExecutor(max_workers=max(1, reading.parallelism)) as pool:
        pages = pool.map(lambda a: [from_server(r, a, stack) for r in listed(api, a.id)], mine)
        return Passages(tuple(p for page in pages for p in page))


def listed(api: LettaApi, archive_id: str) -> Iterator[PassageRecord]:
    """Every passage of an archive, oldest first: pages of the search from the last creation
    time seen (inclusive), skipping what was seen. More than a page of passages made at one
    instant cannot be listed this way, and is reported rather than half read."""
    seen: set[str] = set()
    start: str | None = None
    while True:
        body: dict[str, JSON] = {"archive_id": archive_id, "limit": PAGE}
        if start is not None:
            body["start_date"] = start
        where = f"archive {archive_id}"
        page = api.search(SEARCH, body, address=where)
        passages = [item["passage"] for item in SEARCHED.parse_all(page, f"POST {SEARCH}", where)]
        new = [p for p in passages if p["id"] not in seen]
        yield from new
        if len(passages) < PAGE:
            return
        if not new:
            raise LettaApplyError(
                f"archive {archive_id}: more than {PAGE} passages share one creation time; "
                "the server's search cannot list them"
            )
        seen.update(p["id"] for p in new)
        start = passages[-1]["created_at"]


# Exporting -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportedPassage:
    """A passage as an export writes it back."""

    text: str
    tags: tuple[str, ...]


def exported(api: LettaApi, archive_id: str, stack: str | None) -> tuple[ExportedPassage, ...]:
    """An archive's passages: with `stack`, those it wrote; else those no stack wrote."""
    found = []
    for raw in listed(api, archive_id):
        if ownership.recorded_stack(raw["metadata"]) == stack:
            tags = tuple(sorted(raw.get("tags") or ()))
            found.append(ExportedPassage(raw["text"], tags))
    return tuple(found)


# Planning -------------------------------------------------------------------------------------


def plan(desired: DesiredState, live: LiveState, out: Builder) -> None:
    """Write the declared passages the stack's archives lack or hold with other text;
    report or delete the stack's passages no longer declared in declared archives.

    Passages are identified by their content: a passage the stack wrote under a key no longer
    declared, with the text and tags a newly declared one has in the same archive (the
    manifest now lists it inline where it was read from a file, as an export writes it), is
    that passage, neither written again nor reported."""
    kept = out.keep_survivors(of(live).by_address, "passages")
    archives = archive.of(live)
    taken = lambda name: name in archives.others  # noqa: E731
    moved = _moved(kept, set(declared(desired)))
    for spec, holder in holders.declared_holders(desired.archives, archives.by_address, taken):
        for passage in spec.passages:
            current = kept.get(passage.address)
            if current is None and _there(of(live), holder, passage):
                continue  # written before the stack took the archive over
            if current is None and holder is not None and moved.take(holder.id, passage):
                continue  # written by the stack under another key: the same passage
            if current is None:
                out.change(Create(passage.address, freeze(_body(passage, desired.stack))))
            elif current.digest != passage.digest:
                body = {**_body(passage, desired.stack), "archive_id": current.archive_id}
                fields = (FieldChange("text", current.text, passage.text),)
                out.change(Update(passage.address, current.id, fields, freeze(body)))
    left = {address: p for address, p in kept.items() if address not in moved.taken}
    holders.undeclared_contents(out, left, desired.archives, declared(desired))


class _Moved:
    """The stack's passages under keys no longer declared, by (archive id, digest, tags): each
    may stand for one newly declared passage of the same content (`take`)."""

    def __init__(self) -> None:
        self.by_content: dict[tuple[str, str, tuple[str, ...]], list[LivePassage]] = {}
        self.taken: set[Address] = set()

    def take(self, archive_id: str, passage: PassageSpec) -> bool:
        """Whether one of them has `passage`'s content in that archive (it is then taken)."""
        found = self.by_content.get((archive_id, passage.digest, tuple(sorted(passage.tags))))
        if not found:
            return False
        held = found.pop()
        assert held.address is not None
        self.taken.add(held.address)
        return True


def _moved(kept: Mapping[Address, LivePassage], declared: set[Address]) -> _Moved:
    moved = _Moved()
    for address, held in sorted(kept.items(), key=lambda item: item[1].created_at, reverse=True):
        if address not in declared and held.digest:
            key = (held.archive_id, held.digest, held.tags)
            moved.by_content.setdefault(key, []).append(held)
    return moved


def _there(passages: Passages, holder: archive.LiveArchive | None, passage: PassageSpec) -> bool:
    """Whether the archive holds a passage the stack did not write with the declared text and
    tags (one an adopted archive held already): it stays as it is, never written twice."""
    key = (holder.id, passage.text, tuple(sorted(passage.tags))) if holder else None
    return key in passages.unmarked


def _body(passage: PassageSpec, stack: str) -> dict[str, JSON]:
    record = ownership.agent_metadata(stack, passage.address, {})
    record[ownership.METADATA_KEY]["sha256"] = passage.digest
    body: dict[str, JSON] = {"text": passage.text, "metadata": record}
    if passage.tags:
        body["tags"] = list(passage.tags)
    return body


# Server calls ---------------------------------------------------------------------------------


def create(api: LettaApi, stack: str, change: Create, resolve: Resolve) -> str:
    holder = change.address.owner
    assert holder is not None
    return _write(api, resolve(holder), change.address, thaw(change.body))


BATCH = 100
"""The most passages sent in one request."""
BATCH_BYTES = 256 * 1024
"""The most text sent in one request (the server embeds a request's passages in one call
to its embedding model, whose input is bounded)."""


def batches(changes: Sequence[Change]) -> list[tuple[Change, ...]]:
    """The passages created in one archive go together, up to `BATCH` (and `BATCH_BYTES` of
    text) a request; any other change goes alone."""
    units: list[tuple[Change, ...]] = []
    batch: list[Change] = []
    size = 0
    for change in changes:
        if not isinstance(change, Create):
            units.append((change,))
            continue
        text = len(str(change.body.get("text") or "").encode())
        if batch and (
            change.address.owner != batch[0].address.owner
            or len(batch) == BATCH
            or size + text > BATCH_BYTES
        ):
            units.append(tuple(batch))
            batch, size = [], 0
        batch.append(change)
        size += text
    if batch:
        units.append(tuple(batch))
    return units


def create_together(
    api: LettaApi, stack: str, changes: Sequence[Create], resolve: Resolve
) -> list[str]:
    """Write the passages of one archive in one request (the server embeds them in one call
    and writes them in one transaction: all or none). Each keeps its ownership record and
    digest, and gets a creation time of its own, a microsecond apart: the server would give
    them all the transaction's, and its search, the only listing of an archive, cannot page
    through more than a page of passages made at one instant. After an ambiguous failure the
    archive is read for their records, so none is written twice."""
    holder = changes[0].address.owner
    assert holder is not None
    archive_id = resolve(holder)
    start = datetime.now(UTC)
    bodies = [
        {**thaw(change.body), "created_at": (start + timedelta(microseconds=n)).isoformat()}
        for n, change in enumerate(changes)
    ]
    wanted = [change.address for change in changes]
    where = f"{holder} ({len(changes)} passages sent together)"

    def find() -> JSON | None:
        found = _recorded(api, archive_id, stack, set(wanted))
        if found and len(found) < len(wanted):
            raise LettaApplyError(
                f"{where}: {len(found)} of them are on the server after a failed request; "
                "plan again to write the others"
            )
        return [found[address] for address in wanted] if found else None

    path = f"{archive.ROUTE}{archive_id}/passages/batch"
    answer = api.create(path, {"passages": bodies}, address=where, find_existing=find)
    made = PASSAGE.parse_all(answer, f"POST {path}", where)
    ids = {ownership.metadata_address(p["metadata"], stack): p["id"] for p in made}
    if any(address not in ids for address in wanted):
        raise LettaApplyError(f"{where}: the server's answer lacks some of the passages")
    return [ids[address] for address in wanted]


def _recorded(
    api: LettaApi, archive_id: str, stack: str, wanted: set[Address]
) -> dict[Address, PassageRecord]:
    """The archive's passages whose ownership record names one of `wanted`."""
    found: dict[Address, PassageRecord] = {}
    for raw in listed(api, archive_id):
        address = ownership.metadata_address(raw["metadata"], stack)
        if address in wanted:
            found[address] = raw
    return found


def update(api: LettaApi, change: Update) -> None:
    """Write the new text, then delete the old passage (the server cannot change one)."""
    body = thaw(change.body)
    archive_id = str(body.pop("archive_id"))
    _write(api, archive_id, change.address, body)
    _delete(api, archive_id, change.resource_id, change.address)


def delete(api: LettaApi, change: Delete) -> None:
    """Archive names are not unique: the passage is deleted from the marked archive of its
    name that holds it."""
    holder = change.address.owner
    assert holder is not None
    for raw in archive.marked(api, holder.name, None):
        try:
            _delete(api, raw["id"], change.resource_id, change.address)
            return
        except LettaApplyError as exc:
            if getattr(exc, "status", None) not in (400, 404, 422):
                raise


def adopt(api: LettaApi, stack: str, change: Adopt, resolve: Resolve) -> str:
    raise LettaApplyError(f"{change.address}: passages are not adopted (the stack writes its own)")


def _write(api: LettaApi, archive_id: str, address: Address, body: dict[str, JSON]) -> str:
    """Create the passage; after an ambiguous failure, look for its ownership record."""

    def find() -> PassageRecord | None:
        return next(
            (
                p
                for p in listed(api, archive_id)
                if ownership.metadata_address(p["metadata"], _stack(body)) == address
            ),
            None,
        )

    path = f"{archive.ROUTE}{archive_id}/passages"
    created = api.create(path, body, address=str(address), find_existing=find)
    return created_id(created, path, address)


def _stack(body: Mapping[str, JSON]) -> str:
    record = (body.get("metadata") or {}).get(ownership.METADATA_KEY) or {}
    return str(record.get("stack") or "")


def _delete(api: LettaApi, archive_id: str, passage_id: str, address: Address) -> None:
    try:
        api.delete(f"/v1/archives/{archive_id}/passages/{passage_id}", address=str(address))
    except LettaApplyError as exc:
        if getattr(exc, "status", None) != 404:
            raise
