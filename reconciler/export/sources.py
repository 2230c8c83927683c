"""Folders and archives in an export: which are read, and how they are written back.

With `--stack`, the stack's own folders (the files its record names) and archives (the
passages it wrote); otherwise the folders and archives no stack owns, every one (or, with
`--tag`, those attached to the selected agents), with all their files and the passages no
stack wrote. A folder's files go under `folders/<folder>/` in the export, named as on the
server, and its manifest entry takes them with `folders/<folder>/**/*`; an archive's passages
are written inline. The server keeps a file's text, not its bytes: only text files are
exported (their text is their bytes), and only names a manifest can hold and a path below the
folder can carry (no `..`, no hidden part, no space); what is left out is named in a note.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from reconciler import ownership
from reconciler.client import LettaApi
from reconciler.kinds import archive, file, folder, passage
from reconciler.manifest import schema
from reconciler.manifest.sources import FILE_MAX_BYTES
from reconciler.values import JSON

from .text import literal

FOLDERS_DIR = "folders"
TEXT_TYPES = frozenset(
    {
        "application/json",
        "application/x-jsonlines",
        "application/jsonl",
        "application/xml",
        "application/javascript",
        "application/x-yaml",
        "application/yaml",
        "application/toml",
        "application/sql",
        "application/x-sh",
    }
)
"""Besides `text/*`: the types the server keeps as the text uploaded (others, a PDF, are
converted, and their bytes cannot be written back)."""


@dataclass(frozen=True)
class ServerFile:
    """A file of an exported folder; `text` is None when the server holds none."""

    name: str
    file_type: str
    status: str
    text: str | None


@dataclass(frozen=True)
class ServerFolder:
    name: str
    description: str | None
    instructions: str | None
    embedding: str | None
    agent_ids: tuple[str, ...]
    files: tuple[ServerFile, ...]


@dataclass(frozen=True)
class ServerPassage:
    text: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class ServerArchive:
    name: str
    description: str | None
    embedding: str | None
    agent_ids: tuple[str, ...]
    passages: tuple[ServerPassage, ...]


@dataclass(frozen=True)
class Sources:
    """The folders and archives of an export, and those attached to its agents that another
    stack owns (left out: name -> owner)."""

    folders: tuple[ServerFolder, ...] = ()
    archives: tuple[ServerArchive, ...] = ()
    others: tuple[tuple[str, str], ...] = ()


# Reading --------------------------------------------------------------------------------------


def read_sources(
    api: LettaApi,
    stack: str | None,
    agent_ids: Iterable[str],
    *,
    every: bool,
    parallelism: int,
    page_size: int,
) -> Sources:
    """`stack`'s folders and archives, or (None) the unowned ones: all of them when `every`,
    else those attached to one of the exported agents (`agent_ids`)."""
    selected = frozenset(agent_ids)
    listed = [folder.from_server(raw, stack or "") for raw in folder.listing(api)]
    archives = [archive.from_server(r, stack or "") for r in api.paginate("/v1/archives/")]
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        linked = dict(pool.map(lambda f: (f.id, folder.agent_ids(api, f.id)), listed))
        linked.update(pool.map(lambda a: (a.id, _archive_agents(api, a.id)), archives))

        def chosen(item: folder.LiveFolder | archive.LiveArchive) -> bool:
            if stack is not None:
                return item.address is not None
            return item.owner is None and (every or _attached(linked[item.id], selected))

        folders = tuple(
            pool.map(
                lambda f: _folder(api, f, linked[f.id], stack, page_size),
                [f for f in listed if chosen(f)],
            )
        )
        found = tuple(
            pool.map(lambda a: _archive(api, a, linked[a.id], stack), filter(chosen, archives))
        )
    every_one: list[folder.LiveFolder | archive.LiveArchive] = [*listed, *archives]
    others = tuple(
        (item.name, item.owner)
        for item in every_one
        if item.owner is not None and item.owner != stack and _attached(linked[item.id], selected)
    )
    return Sources(folders, found, others)


def _attached(agents: Sequence[str], selected: frozenset[str]) -> bool:
    return any(a in selected for a in agents)


def _archive_agents(api: LettaApi, archive_id: str) -> tuple[str, ...]:
    path = f"/v1/archives/{archive_id}/agents"
    return tuple(sorted(str(raw["id"]) for raw in api.paginate(path, None, 100)))


def _folder(
    api: LettaApi,
    found: folder.LiveFolder,
    agent_ids: tuple[str, ...],
    stack: str | None,
    page_size: int,
) -> ServerFolder:
    """The folder with its files (with `stack`, those its record names) and their text."""
    path = f"/v1/folders/{found.id}/files"
    files = [
        ServerFile(
            name=str(raw.get("file_name") or ""),
            file_type=str(raw.get("file_type") or ""),
            status=str(raw.get("processing_status") or ""),
            text=raw.get("content") if isinstance(raw.get("content"), str) else None,
        )
        for raw in api.paginate(path, {"include_content": True}, min(page_size, 100))
        if stack is None or file.from_server(raw, found).address is not None
    ]
    return ServerFolder(
        found.name,
        found.description,
        found.instructions,
        found.embedding,
        agent_ids,
        tuple(sorted(files, key=lambda f: f.name)),
    )


def _archive(
    api: LettaApi, found: archive.LiveArchive, agent_ids: tuple[str, ...], stack: str | None
) -> ServerArchive:
    """The archive with its passages: with `stack`, those it wrote; else those no stack
    wrote."""
    passages = []
    for raw in passage.listed(api, found.id):
        metadata = raw.get("metadata") or {}
        if (ownership.recorded_stack(metadata) == stack) if stack else _unrecorded(metadata):
            tags = tuple(sorted(str(t) for t in raw.get("tags") or ()))
            passages.append(ServerPassage(str(raw.get("text") or ""), tags))
    return ServerArchive(found.name, found.description, found.embedding, agent_ids, tuple(passages))


def _unrecorded(metadata: JSON) -> bool:
    return ownership.recorded_stack(metadata if isinstance(metadata, Mapping) else {}) is None


# Writing --------------------------------------------------------------------------------------


@dataclass
class Written:
    """The `folders:` and `archives:` sections, the files they name, each agent's links."""

    folders: dict[str, Any]
    archives: dict[str, Any]
    files: dict[str, str]
    links: dict[str, dict[str, list[str]]]
    """Agent id -> {"folders": [...], "archives": [...]} (names)."""


def write_sources(sources: Sources, notes: list[str]) -> Written:
    """The manifest sections and files of the exported folders and archives; what cannot be
    written is left out and named in `notes`."""
    written = Written({}, {}, {}, {})
    used: set[str] = set()
    for name, owner in sources.others:
        notes.append(f"{name!r} belongs to stack {owner!r}: left out (export it with --stack)")
    for found in sources.folders:
        if _valid_name(found.name, "folder", notes):
            directory = _directory(found.name, used)
            written.folders[found.name] = _folder_entry(found, directory, written, notes)
            _link(written, found.agent_ids, "folders", found.name)
    for held in sources.archives:
        if _valid_name(held.name, "archive", notes):
            written.archives[held.name] = _archive_entry(held, notes)
            _link(written, held.agent_ids, "archives", held.name)
    for links in written.links.values():
        if len(links.get("archives", ())) > 1:
            listed = ", ".join(map(repr, links["archives"]))
            notes.append(f"an agent has archives {listed}: none listed (a manifest lists one)")
            del links["archives"]
    return written


def _valid_name(name: str, kind: str, notes: list[str]) -> bool:
    if schema.fits(schema.SOURCE_NAME, name):
        return True
    notes.append(f"{kind} {name!r} left out: a name no manifest can hold")
    return False


def _directory(name: str, used: set[str]) -> str:
    """The folder's own directory under `folders/`: its name, never hidden."""
    base = name if not name.startswith(".") else f"_{name}"
    directory, n = base, 2
    while directory.lower() in used:
        directory, n = f"{base}-{n}", n + 1
    used.add(directory.lower())
    return directory


def _folder_entry(
    found: ServerFolder, directory: str, written: Written, notes: list[str]
) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    for key, value in (
        ("description", literal(found.description) if found.description else None),
        ("instructions", found.instructions),
        ("embedding", found.embedding if schema.fits(schema.HANDLE, found.embedding) else None),
    ):
        if value:
            entry[key] = value
    names = [f.name for f in found.files]
    count = 0
    for item in found.files:
        reason = _unwritable(item, names)
        if reason is not None:
            notes.append(f"folder {found.name!r}: file {item.name!r} left out: {reason}")
            continue
        assert item.text is not None
        written.files[f"{FOLDERS_DIR}/{directory}/{item.name}"] = item.text
        count += 1
    if count:
        entry["files"] = f"{FOLDERS_DIR}/{directory}/**/*"
    return entry


def _unwritable(file: ServerFile, names: Sequence[str]) -> str | None:
    """Why the file cannot be written back (None: it can)."""
    parts = file.name.split("/")
    if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        return "a name that is no path below the folder (or a hidden one)"
    if any(c.isspace() or not c.isprintable() or c == "\\" for c in file.name):
        return "a name with spaces or control characters"
    if any(other.startswith(file.name + "/") for other in names):
        return "another file's name runs through it"
    if file.text is None or file.status != "completed":
        return f"the server holds no text of it ({file.status or 'not processed'})"
    if not (file.file_type.startswith("text/") or file.file_type in TEXT_TYPES):
        return f"the server keeps only the text it extracted from it ({file.file_type})"
    if len(file.text.encode()) > FILE_MAX_BYTES:
        return "larger than a folder takes"
    return None


def _archive_entry(held: ServerArchive, notes: list[str]) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if held.description:
        entry["description"] = literal(held.description)
    if held.embedding and schema.fits(schema.HANDLE, held.embedding):
        entry["embedding"] = held.embedding
    seen: set[str] = set()
    passages: list[Any] = []
    for item in held.passages:
        if not item.text or item.text in seen:
            left = "an empty passage" if not item.text else "a passage written twice"
            notes.append(f"archive {held.name!r}: {left} left out")
            continue
        seen.add(item.text)
        tags = [t for t in item.tags if t]
        passages.append({"text": item.text, "tags": tags} if tags else item.text)
    if passages:
        entry["passages"] = passages
    return entry


def _link(written: Written, agent_ids: Sequence[str], section: str, name: str) -> None:
    for agent_id in agent_ids:
        written.links.setdefault(agent_id, {}).setdefault(section, []).append(name)
