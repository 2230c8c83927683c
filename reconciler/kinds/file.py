"""Files of the stack's folders (`file/<folder>/<name>`), identified by their content.

The server keeps no metadata on files, so the stack records the files it uploaded in its
folder's ownership record (`reconciler.kinds.folder`): name -> SHA-256 and the creation time
the server gave the upload (a file of that name made at another time is another file). A
file of the folder not in that record was made by someone else and is never touched; one
holding a declared name blocks it. An unchanged file is never uploaded again; a changed one,
or one the server failed to process, is replaced (the plan shows its size and a line diff for
text).

An upload ends when the server has processed the file (parsed, chunked, embedded):
`completed`, or `error` with the server's reason, which fails the change; the file is
recorded either way, so a re-run replaces it. The upload itself is the change's one request
within the apply's parallelism; it is then left pending (`finish`): the uploads, deletes and
adoptions of one folder pending together have their entries written into its record in one
write (the server replaces a folder's metadata whole, so one writer at a time), and the
uploads' processing is polled with one listing of the folder.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, NotRequired, TypedDict

from reconciler import ownership
from reconciler.address import Address, Kind
from reconciler.desired import DesiredState, FileSpec
from reconciler.errors import LettaApplyError
from reconciler.kinds import folder, holders
from reconciler.kinds.common import (
    Adoption,
    Pending,
    Reading,
    Resolve,
    fingerprinted_in,
    no_named_ids,
    nothing_deleted_with,
    nothing_recorded,
    owned_in,
    swapped,
)
from reconciler.live.state import Found, LiveState, Part
from reconciler.plan.builder import Builder
from reconciler.plan.model import Adopt, Create, Delete, FieldChange, NoticeKind, Update
from reconciler.shape import Shape
from reconciler.values import JSON, freeze, thaw

if TYPE_CHECKING:
    from reconciler.client import LettaApi, Params

KIND = Kind.FILE
DIFF_MAX_BYTES = 256 * 1024
"""Larger files are shown changed by size and digest, without a line diff."""
_DONE = ("completed", "error")


@dataclass(frozen=True, slots=True)
class LiveFile:
    """A file in one of the stack's folders; `address` is set when the folder's record names
    it, with the digest of what was uploaded. `content` is the server's text of a file whose
    digest differs from the manifest's (read for the plan's diff), and of every file of a
    folder `--adopt` may take over."""

    id: str
    name: str
    folder_id: str
    address: Address | None
    created_at: str = ""
    digest: str = ""
    size: int = 0
    status: str = ""
    error: str | None = None
    content: str | None = field(default=None, compare=False)


class Files(Found[LiveFile]):
    """The file kind's part of the live state: the files of the stack's folders."""

    @cached_property
    def unrecorded(self) -> dict[tuple[str, str], LiveFile]:
        """Files the stack did not upload, by (folder id, name)."""
        return {(f.folder_id, f.name): f for f in self.found if f.address is None}


LIVE = Part(KIND, Files())
of = LIVE.of
named_ids = no_named_ids
read_record = nothing_recorded
deleted_with = nothing_deleted_with
owned = owned_in(LIVE)
fingerprinted = fingerprinted_in(LIVE)


def declared(desired: DesiredState) -> Iterable[Address]:
    return (file.address for spec in desired.folders for file in spec.files)


def needs(desired: DesiredState) -> Iterable[tuple[Address, Iterable[Address]]]:
    """A file needs its folder."""
    return ((file.address, (spec.address,)) for spec in desired.folders for file in spec.files)


def shown(change: Create) -> Mapping[str, JSON]:
    """An upload without its bytes (the plan shows its size and digest)."""
    return {k: v for k, v in change.body.items() if k not in ("text", "base64")}


# Reading --------------------------------------------------------------------------------------


def read(reading: Reading) -> Files:
    """The files of the stack's folders; the text of those the manifest changes, for diffs.
    With `--adopt`, also the files of the unowned folders of declared names, with their text
    (what the server holds, compared with the manifest)."""
    api, desired = reading.api, reading.desired
    owned_folders = holders.readable(reading.part(folder.LIVE).found, folder.adoptable(reading))
    specs = desired.folders if desired else ()
    wanted = {file.address: file for spec in specs for file in spec.files}
    with ThreadPoolExecutor(max_workers=max(1, reading.parallelism)) as pool:
        listed = list(pool.map(lambda f: _files_of(api, f), owned_folders))
        found = [file for files in listed for file in files]
        changed = [f for f in found if f.address in wanted and _differs(f, wanted[f.address])]
        fetched = pool.map(lambda f: _text_of(api, f), changed)
        texts = dict(zip((f.id for f in changed), fetched, strict=True))
    return Files(tuple(_with_text(f, texts.get(f.id)) for f in found))


class FileRecord(TypedDict):
    """A file of a folder as the server answers it, with the fields letta-apply reads."""

    id: str
    file_name: str | None
    created_at: str | None
    """With the name, what tells the stack's upload in its folder's record (`folder.FILES`)."""
    file_size: NotRequired[int | None]
    file_type: NotRequired[str | None]
    processing_status: NotRequired[str | None]
    error_message: NotRequired[str | None]
    content: NotRequired[str | None]
    """Only when asked for (`include_content`)."""


SHAPE = Shape(FileRecord)


def files_route(folder_id: str) -> str:
    return f"{folder.ROUTE}{folder_id}/files"


def listing(
    api: LettaApi, folder_id: str, params: Params | None = None, page_size: int = 1000
) -> Iterator[FileRecord]:
    """The files of a folder, every page (`include_content`: with their text)."""
    path = files_route(folder_id)
    return (SHAPE.parse(raw, f"GET {path}") for raw in api.paginate(path, params, page_size))


def _files_of(api: LettaApi, holder: folder.LiveFolder) -> list[LiveFile]:
    """A folder's files; an unowned folder's with their text (listed with it)."""
    params = None if holder.address is not None else {"include_content": True}
    return [from_server(raw, holder) for raw in listing(api, holder.id, params)]


def from_server(raw: FileRecord, holder: folder.LiveFolder) -> LiveFile:
    """A file as listed; the stack's when its folder's record names it, made when it was."""
    name = raw["file_name"] or ""
    entry = holder.files.get(name)
    created = raw["created_at"] or ""
    ours = holder.address is not None and entry is not None and entry["created_at"] == created
    address = Address.file(holder.address, name) if ours and holder.address else None
    size = raw.get("file_size")
    return LiveFile(
        id=raw["id"],
        name=name,
        folder_id=holder.id,
        address=address,
        created_at=created,
        digest=entry["sha256"] if ours and entry else "",
        size=size or 0,
        status=raw.get("processing_status") or "",
        error=raw.get("error_message") or None,
        content=raw.get("content"),
    )


def text_digest(text: str | None) -> str:
    """The digest of a file's text as the server holds it (that of the bytes uploaded, for
    a UTF-8 text file); empty when the server holds none."""
    return hashlib.sha256(text.encode()).hexdigest() if text is not None else ""


def _differs(live: LiveFile, spec: FileSpec) -> bool:
    return live.digest != spec.digest or live.status == "error"


def _text_of(api: LettaApi, live: LiveFile) -> str | None:
    if live.size > DIFF_MAX_BYTES or live.status == "error":
        return None
    path = f"{files_route(live.folder_id)}/{live.id}"
    where = str(live.address)
    raw = SHAPE.parse(api.get(path, {"include_content": True}, address=where), f"GET {path}")
    return raw.get("content")


def _with_text(live: LiveFile, text: str | None) -> LiveFile:
    return live if text is None else replace(live, content=text)


# Planning -------------------------------------------------------------------------------------


def plan(desired: DesiredState, live: LiveState, out: Builder) -> None:
    """Upload the declared files the folders lack or hold with other content; report or
    delete the stack's files no longer declared in declared folders."""
    files = of(live)
    kept = out.keep_survivors(files.by_address, "files")
    folders = folder.of(live)
    taken = lambda name: name in folders.by_name  # noqa: E731
    for spec, holder in holders.declared_holders(desired.folders, folders.by_address, taken):
        for file in spec.files:
            current = kept.get(file.address)
            other = files.unrecorded.get((holder.id, file.name)) if holder else None
            if current is None and other is not None:
                out.notice(
                    NoticeKind.BLOCKED,
                    file.address,
                    f"the folder holds a file named {file.name!r} this stack did not upload; "
                    "adopt it, or remove it from the folder",
                    resource_ids=(other.id,),
                )
            elif current is None:
                out.change(Create(file.address, freeze(_body(file))))
            elif _differs(current, file):
                body = {**_body(file), "folder_id": current.folder_id}
                out.change(Update(file.address, current.id, _fields(current, file), freeze(body)))
    holders.undeclared_contents(out, kept, desired.folders, declared(desired))


def _body(file: FileSpec) -> dict[str, JSON]:
    """What an upload sends: the name, the digest and size it records, and the bytes (as
    text when they are UTF-8, else base64)."""
    body: dict[str, JSON] = {"name": file.name, "sha256": file.digest, "size": file.size}
    text = _decoded(file.content)
    if text is not None:
        body["text"] = text
    else:
        body["base64"] = base64.b64encode(file.content).decode("ascii")
    return body


def _decoded(content: bytes) -> str | None:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _fields(current: LiveFile, file: FileSpec) -> tuple[FieldChange, ...]:
    """How a replaced file is shown: why, its size, and its text's lines where both are text."""
    shown: list[FieldChange] = []
    if current.status == "error":
        reason = (current.error or "no reason given").splitlines()[0][:200]
        shown.append(FieldChange("processing", f"error: {reason}", "uploaded again"))
    if current.size != file.size:
        shown.append(FieldChange("size", current.size, file.size))
    new = _decoded(file.content) if file.size <= DIFF_MAX_BYTES else None
    if current.content is not None and new is not None and current.content != new:
        shown.append(FieldChange("content", current.content, new))
    elif current.digest != file.digest:
        shown.append(FieldChange("sha256", current.digest[:16] or "(unknown)", file.digest[:16]))
    return tuple(shown)


# Adopting --------------------------------------------------------------------------------------


def adopting(desired: DesiredState, live: LiveState, found: Adoption) -> LiveState:
    """In a folder adopted in the same plan, the files holding declared files' names,
    recorded with the digest of the text the server holds."""
    folders = found.taken(folder.KIND)
    held = of(live)
    recorded: dict[str, LiveFile] = {}
    for spec in desired.folders:
        folder_id = folders.get(spec.address)
        if folder_id is None:
            continue
        names = {f.name: f for f in held.found if f.folder_id == folder_id}
        for file in spec.files:
            if (live_file := names.get(file.name)) is not None:
                found.take(file.address, live_file.id)
                digest = text_digest(live_file.content)
                recorded[live_file.id] = replace(live_file, address=file.address, digest=digest)
    return live.with_part(LIVE, Files(swapped(held.found, recorded)))


# Server calls ---------------------------------------------------------------------------------


def create(api: LettaApi, stack: str, change: Create, resolve: Resolve) -> Recording:
    holder = change.address.owner
    assert holder is not None
    return _upload(api, resolve(holder), change.address, thaw(change.body), replaces=None)


def update(api: LettaApi, change: Update) -> Recording:
    """Replace the file: the server deletes the old one and takes the new one in its name."""
    body = thaw(change.body)
    folder_id = str(body.pop("folder_id"))
    return _upload(api, folder_id, change.address, body, replaces=change.resource_id)


def delete(api: LettaApi, change: Delete) -> Recording | None:
    """Delete the file; its entry leaves the folder's record once the deletes finishing
    together are written."""
    holder = change.address.owner
    assert holder is not None
    found = folder.by_name(api, holder.name)
    if found is None:
        return None  # gone with its folder
    folder_id = found["id"]
    try:
        api.delete(f"/v1/folders/{folder_id}/{change.resource_id}", address=str(change.address))
    except LettaApplyError as exc:
        if getattr(exc, "status", None) != 404:
            raise
    return Recording(folder_id, change.resource_id, change.address, None)


def adopt(api: LettaApi, stack: str, change: Adopt, resolve: Resolve) -> Recording:
    """Record an existing file of the stack's folder as the stack's, with the digest of the
    text the server holds: a file the manifest declares with that content is then left as it
    is, any other content is uploaded over it by the plan."""
    holder = change.address.owner
    assert holder is not None
    folder_id = resolve(holder)
    path = f"{files_route(folder_id)}/{change.resource_id}"
    where = str(change.address)
    answer = api.get(path, {"include_content": True}, address=where)
    current = SHAPE.parse(answer, f"GET {path}", where)
    holders.refuse_other_name(change.address, change.resource_id, current["file_name"] or "")
    sha256 = text_digest(current.get("content"))
    entry = {"sha256": sha256, "created_at": current["created_at"] or ""}
    return Recording(folder_id, change.resource_id, change.address, entry)


def _upload(
    api: LettaApi, folder_id: str, address: Address, body: dict[str, JSON], replaces: str | None
) -> Recording:
    """Upload; the change is left pending until the file is recorded and processed."""
    name, where = str(body["name"]), str(address)
    content = (
        str(body["text"]).encode() if "text" in body else base64.b64decode(str(body["base64"]))
    )
    params = {"name": name, "duplicate_handling": "replace" if replaces else "error"}

    def find() -> FileRecord | None:
        listed = listing(api, folder_id)
        return next((f for f in listed if f["file_name"] == name and f["id"] != replaces), None)

    path = f"{folder.ROUTE}{folder_id}/upload"
    answer = api.upload(path, name, content, params=params, address=where, find_existing=find)
    created = SHAPE.parse(answer, f"POST {path}", where)
    entry = {"sha256": str(body["sha256"]), "created_at": created["created_at"] or ""}
    return Recording(folder_id, created["id"], address, entry, uploaded=True)


# Finishing: the folder's record, and the server's processing -----------------------------------

FINISH_EVERY = 1.0
"""Seconds between two looks at one folder's pending file changes."""
PROCESSING_TIMEOUT = 900.0
"""Seconds an upload waits for the server to parse and embed the file."""


@dataclass(eq=False)
class Recording(Pending):
    """A file change waiting for its folder's record to be written (`entry` under its name;
    None: the name leaves the record) and, for an upload, for the server's processing of the
    file (`resource_id`); `group` is the folder's id."""

    address: Address
    entry: dict[str, str] | None
    uploaded: bool = False
    since: float = field(default_factory=time.monotonic)
    recorded: bool = False
    processed: FileRecord | None = None


def finish(api: LettaApi, pending: Sequence[Pending]) -> dict[Pending, LettaApplyError | None]:
    """One look at a folder's pending file changes: one listing for the processing of every
    upload in flight, then one write of the record for every entry not written yet (the
    server replaces a folder's metadata whole, so one writer at a time: the executor's one
    look per group). A change ends once recorded and, for an upload, processed: `error`
    fails it with the server's reason, the file recorded all the same so a re-run replaces
    it."""
    changes = [p for p in pending if isinstance(p, Recording)]
    folder_id = changes[0].group
    _poll(api, folder_id, [c for c in changes if c.uploaded and c.processed is None])
    unrecorded = [c for c in changes if not c.recorded]
    ended: dict[Pending, LettaApplyError | None] = {}
    if unrecorded:
        try:
            _write(api, folder_id, unrecorded)
        except LettaApplyError as exc:
            ended.update((c, exc) for c in unrecorded)
    for change in changes:
        if change not in ended and change.recorded:
            ended.update(_outcome(change))
    return ended


def _outcome(change: Recording) -> dict[Pending, LettaApplyError | None]:
    """Whether a recorded change ended, and how (empty: the file is still processing)."""
    done = change.processed
    if not change.uploaded:
        return {change: None}
    if done is None:
        if time.monotonic() - change.since < PROCESSING_TIMEOUT:
            return {}
        failure = f"the server was still processing after {PROCESSING_TIMEOUT:.0f} s"
        return {change: LettaApplyError(f"{change.address}: {failure}")}
    if done.get("processing_status") == "error":
        reason = done.get("error_message") or "no reason given"
        failure = f"the server could not process the file: {reason}"
        return {change: LettaApplyError(f"{change.address}: {failure}")}
    return {change: None}


def _poll(api: LettaApi, folder_id: str, uploads: Sequence[Recording]) -> None:
    """The folder's newest files (one request for every upload in flight), then by id those
    the listing did not reach (others uploaded after them); a file processed is taken, its
    entry corrected if its creation time is not the one the upload answered."""
    if not uploads:
        return
    where = str(uploads[0].address.owner)
    params = {"order": "desc", "limit": min(1000, max(20, 2 * len(uploads)))}
    path = files_route(folder_id)
    listed = SHAPE.parse_all(api.get(path, params, address=where), f"GET {path}", where)
    seen = {raw["id"]: raw for raw in listed}
    for missing in (u for u in uploads if u.resource_id not in seen):
        one = f"{path}/{missing.resource_id}"
        answer = api.get(one, address=str(missing.address))
        seen[missing.resource_id] = SHAPE.parse(answer, f"GET {one}", str(missing.address))
    for upload in uploads:
        raw = seen[upload.resource_id]
        if raw.get("processing_status") not in _DONE:
            continue
        upload.processed = raw
        created = raw["created_at"] or ""
        if upload.entry is not None and created and upload.entry["created_at"] != created:
            upload.entry = {**upload.entry, "created_at": created}
            upload.recorded = False


def _write(api: LettaApi, folder_id: str, changes: Sequence[Recording]) -> None:
    """Write the changes' entries into the folder's record, in one read and one write."""
    address = changes[0].address
    path, where = f"{folder.ROUTE}{folder_id}", str(address)
    current = folder.SHAPE.parse(api.get(path, address=where), f"GET {path}", where)
    held = current["metadata"]
    metadata = dict(held) if isinstance(held, Mapping) else {}
    record = metadata.get(ownership.METADATA_KEY)
    if not isinstance(record, Mapping) or record.get("address") != str(address.owner):
        raise LettaApplyError("the folder no longer carries the stack's record")
    files = dict(record.get(folder.FILES) or {})
    for change in changes:
        if change.entry is None:
            files.pop(change.address.name, None)
        else:
            files[change.address.name] = change.entry
    metadata[ownership.METADATA_KEY] = {**record, folder.FILES: files}
    api.patch(path, {"metadata": metadata}, address=where)
    for change in changes:
        change.recorded = True
