"""Folders of files (`folder/<name>`): the server parses, chunks and embeds their files, and
the agents a folder is attached to open, grep and search them.

A folder the stack made carries its ownership record in its metadata, and in that record the
files it uploaded (`files`: name -> content digest and the upload's creation time), since the
server keeps no metadata on files (`reconciler.kinds.file`). Folder names are unique on a
server: a declared folder whose name another folder holds is blocked; `adopt` takes it over.
The description and instructions converge; the embedding cannot change once the folder
exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, NotRequired, TypedDict

from reconciler import ownership
from reconciler.address import Address, Kind
from reconciler.desired import DesiredState, FolderSpec
from reconciler.kinds import attached, holders
from reconciler.kinds.agent_record import EmbeddingConfig
from reconciler.kinds.common import (
    Adoption,
    Reading,
    Resolve,
    attach_at,
    created_id,
    delete_if_present,
    detach_at,
    fingerprinted_in,
    no_named_ids,
    nothing_recorded,
    owned_in,
    refuse_other_owner,
    shown_as_sent,
    swapped,
)
from reconciler.live.state import Found, LiveState, Part
from reconciler.plan.builder import Builder, optional
from reconciler.plan.model import Adopt, Attach, Create, Delete, Detach, NoticeKind, Update
from reconciler.shape import Shape, an_id
from reconciler.values import JSON, freeze, thaw

if TYPE_CHECKING:
    from reconciler.client import LettaApi

KIND = Kind.FOLDER
DETACH_CLAIMED_ON_AGENT = False
"""A detach is claimed on the folder itself: the stack detaches only its own."""
ROUTE = "/v1/folders/"
LISTED = f"GET {ROUTE}"
FILES = "files"
"""The key of the uploaded files' record inside a folder's ownership record."""


class FolderRecord(TypedDict):
    """A folder as the server answers it, with the fields letta-apply reads."""

    id: str
    name: str
    metadata: object
    """The ownership record and the uploaded files' (`FILES`); anyone may write it: read by
    `reconciler.ownership` and `_inventory`, which take any shape."""
    description: NotRequired[str | None]
    instructions: NotRequired[str | None]
    embedding_config: NotRequired[EmbeddingConfig | None]
    created_at: NotRequired[str | None]


SHAPE = Shape(FolderRecord)


@dataclass(frozen=True, slots=True)
class LiveFolder:
    """A folder on the server; `address` is set when this stack's record names one."""

    id: str
    name: str
    address: Address | None
    created_at: str = ""
    description: str | None = None
    instructions: str | None = None
    embedding: str | None = None
    protected: bool = False
    owner: str | None = None
    """The stack its ownership record names, this one or another; None when unrecorded."""
    files: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """The files the stack uploaded: name -> {sha256, created_at} (no server ids: the record
    is written whole with each upload, which names only its own file)."""
    agent_ids: tuple[str, ...] = ()
    """The agents it is attached to (read for the stack's folders only)."""

    def linked(self, agent_ids: tuple[str, ...]) -> LiveFolder:
        return replace(self, agent_ids=agent_ids)


class Folders(Found[LiveFolder]):
    """The folder kind's part of the live state: every folder on the server (names are
    unique, so any can be in a declared folder's way), the stack's with their agents."""

    @cached_property
    def by_name(self) -> dict[str, LiveFolder]:
        return {f.name: f for f in self.found}


LIVE = Part(KIND, Folders())
of = LIVE.of
named_ids = no_named_ids
read_record = nothing_recorded
shown = shown_as_sent
owned = owned_in(LIVE)
fingerprinted = fingerprinted_in(LIVE)


def deleted_with(live: LiveState) -> Mapping[str, frozenset[str]]:
    """A folder's files go with it (the server deletes them)."""
    from reconciler.kinds import file  # the files' part refers to folders

    return holders.deleted_with(file.of(live).found, lambda f: f.folder_id)


def declared(desired: DesiredState) -> Iterable[Address]:
    return (spec.address for spec in desired.folders)


def needs(desired: DesiredState) -> Iterable[tuple[Address, Iterable[Address]]]:
    """An agent needs the folders it lists (they are attached to it)."""
    return holders.listed_by_agents(desired, KIND)


# Reading --------------------------------------------------------------------------------------


def from_server(raw: FolderRecord, stack: str) -> LiveFolder:
    metadata = raw["metadata"]
    recorded = ownership.metadata_address(metadata, stack)
    record = metadata.get(ownership.METADATA_KEY) if isinstance(metadata, Mapping) else None
    files = record.get(FILES) if recorded is not None and isinstance(record, Mapping) else None
    config = raw.get("embedding_config")
    return LiveFolder(
        id=raw["id"],
        name=raw["name"],
        address=recorded if recorded is not None and recorded.kind is KIND else None,
        created_at=raw.get("created_at") or "",
        description=raw.get("description"),
        instructions=raw.get("instructions"),
        embedding=config.get("handle") if config else None,
        protected=ownership.metadata_protected(metadata, stack),
        owner=ownership.recorded_stack(metadata),
        files=_inventory(files),
    )


def _inventory(files: object) -> dict[str, dict[str, str]]:
    """The uploaded files' record as written (server data: anything malformed is left out)."""
    if not isinstance(files, Mapping):
        return {}
    return {
        str(name): {
            "sha256": str(entry.get("sha256") or ""),
            "created_at": str(entry["created_at"]),
        }
        for name, entry in files.items()
        if isinstance(entry, Mapping) and isinstance(entry.get("created_at"), str)
    }


def listing(api: LettaApi, stack: str) -> list[LiveFolder]:
    """Every folder on the server (few: names are unique)."""
    return [from_server(SHAPE.parse(raw, LISTED), stack) for raw in api.paginate(ROUTE, None, 100)]


def read(reading: Reading) -> Folders:
    """Every folder (few on a server: any can hold a declared name), and the agents of the
    stack's (with `--adopt`, of the unowned ones of declared names too; `holders.read`)."""
    api = reading.api
    found = holders.read(
        reading, _specs, lambda: listing(api, reading.stack), lambda f: agent_ids(api, f.id)
    )
    return Folders() if found is None else Folders(tuple(found))


def _specs(desired: DesiredState) -> Sequence[FolderSpec]:
    return desired.folders


def adoptable(reading: Reading) -> frozenset[str]:
    """The declared folder names `--adopt` may take over (none without it)."""
    return holders.adoptable(reading, _specs)


def agent_ids(api: LettaApi, folder_id: str) -> tuple[str, ...]:
    """The ids of the agents the folder is attached to (the server lists ids only)."""
    path = f"{ROUTE}{folder_id}/agents"
    return tuple(sorted(an_id(raw, f"GET {path}") for raw in api.paginate(path, None, 100)))


# Exporting -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportedFile:
    """A file as an export writes it back; `text` is None when the server holds none."""

    name: str
    file_type: str
    status: str
    text: str | None


@dataclass(frozen=True)
class ExportedFolder:
    """A folder as an export writes it back: its settings, the agents it is attached to, and
    its files."""

    name: str
    description: str | None
    instructions: str | None
    embedding: str | None
    agent_ids: tuple[str, ...]
    files: tuple[ExportedFile, ...]


def with_agents(api: LettaApi, stack: str, parallelism: int) -> list[LiveFolder]:
    """Every folder with the agents it is attached to: an export may take any."""
    found = listing(api, stack)
    return holders.with_agents(found, lambda f: agent_ids(api, f.id), parallelism)


def exported(api: LettaApi, found: LiveFolder, stack: str | None, page_size: int) -> ExportedFolder:
    """The folder with its files (with `stack`, those its record names) and their text."""
    from reconciler.kinds import file  # the files' part refers to folders

    listed = file.listing(api, found.id, {"include_content": True}, min(page_size, 100))
    files = [
        ExportedFile(
            name=raw["file_name"] or "",
            file_type=raw.get("file_type") or "",
            status=raw.get("processing_status") or "",
            text=raw.get("content"),
        )
        for raw in listed
        if stack is None or file.from_server(raw, found).address is not None
    ]
    return ExportedFolder(
        found.name,
        found.description,
        found.instructions,
        found.embedding,
        found.agent_ids,
        tuple(sorted(files, key=lambda f: f.name)),
    )


# Planning -------------------------------------------------------------------------------------


def plan(desired: DesiredState, live: LiveState, out: Builder) -> None:
    """Create, update, report or delete the stack's folders, and link them to its agents."""
    kept = out.keep_survivors(of(live).by_address, "folders", _protected)
    for spec in desired.folders:
        current = kept.get(spec.address)
        other = of(live).by_name.get(spec.name)
        if current is None and other is not None:
            out.notice(
                NoticeKind.BLOCKED,
                spec.address,
                f"a folder named {spec.name!r} exists and is not owned by this stack (folder "
                "names are unique on a server); adopt it to manage it",
                resource_ids=(other.id,),
            )
        elif current is None:
            out.change(Create(spec.address, freeze(_body(spec, desired.stack))))
        else:
            _update(spec, current, out)
    out.undeclared(kept, declared(desired), _protected)
    attached.plan_links(desired, live, kept, out, KIND)


def _protected(folder: LiveFolder) -> bool:
    return folder.protected


def _managed(spec: FolderSpec) -> dict[str, JSON]:
    return optional(description=spec.description, instructions=spec.instructions)


def _body(spec: FolderSpec, stack: str) -> dict[str, JSON]:
    record = ownership.agent_metadata(stack, spec.address, {}, protected=spec.protected)
    return {
        "name": spec.name,
        **_managed(spec),
        **optional(embedding=spec.embedding),
        "metadata": record,
    }


def _update(spec: FolderSpec, current: LiveFolder, out: Builder) -> None:
    found = optional(description=current.description, instructions=current.instructions)
    out.update(spec.address, current.id, found, _managed(spec))
    holders.embedding_kept(out, spec.address, current.embedding, spec.embedding, current.id)


# Adopting --------------------------------------------------------------------------------------


def adopting(desired: DesiredState, live: LiveState, found: Adoption) -> LiveState:
    """A folder no stack recorded holding a declared name, recorded as the stack's (its
    files holding declared names are the file kind's to adopt)."""
    held = of(live)
    adopted = holders.adopted(
        desired.folders,
        held.found,
        held.by_address,
        found,
        lambda folder, address: replace(folder, address=address, owner=found.stack),
    )
    return live.with_part(LIVE, Folders(swapped(held.found, adopted)))


# Server calls ---------------------------------------------------------------------------------


def create(api: LettaApi, stack: str, change: Create, resolve: Resolve) -> str:
    """Create the folder; its name is unique, so a lost answer is found by name."""
    body = thaw(change.body)
    where = str(change.address)

    def find() -> FolderRecord | None:
        found = by_name(api, str(body["name"]))
        recorded = ownership.metadata_address(found["metadata"] if found else None, stack)
        return found if recorded == change.address else None

    created = api.create(ROUTE, body, address=where, find_existing=find)
    return created_id(created, ROUTE, change.address)


def by_name(api: LettaApi, name: str) -> FolderRecord | None:
    where = f"folder/{name}"
    found = SHAPE.parse_all(api.get(ROUTE, {"name": name}, address=where), LISTED, where)
    return next((f for f in found if f["name"] == name), None)


def update(api: LettaApi, change: Update) -> None:
    api.patch(f"{ROUTE}{change.resource_id}", thaw(change.body), address=str(change.address))


def delete(api: LettaApi, change: Delete) -> None:
    """The server deletes the folder's files and passages with it."""
    delete_if_present(api, f"{ROUTE}{change.resource_id}", change.address)


def adopt(api: LettaApi, stack: str, change: Adopt, _resolve: Resolve) -> str:
    """Write the stack's ownership record on an existing folder of the declared name (its
    files are not the stack's: they are left alone unless adopted one by one)."""
    address, resource_id = change.address, change.resource_id
    path = f"{ROUTE}{resource_id}"
    current = SHAPE.parse(api.get(path, address=str(address)), f"GET {path}", str(address))
    holders.refuse_other_name(address, resource_id, current["name"])
    metadata = current["metadata"]
    refuse_other_owner(address, ownership.recorded_stack(metadata), stack)
    held = metadata if isinstance(metadata, Mapping) else {}
    foreign = {k: v for k, v in held.items() if k != ownership.METADATA_KEY}
    api.patch(
        path, {"metadata": ownership.agent_metadata(stack, address, foreign)}, address=str(address)
    )
    return str(resource_id)


def attach(api: LettaApi, change: Attach, resolve: Resolve) -> None:
    """The server also gives the agent its file tools and opens the folder's files."""
    attach_at(api, "folders", change, resolve)


def detach(api: LettaApi, change: Detach, resolve: Resolve) -> None:
    detach_at(api, "folders", change, resolve)
