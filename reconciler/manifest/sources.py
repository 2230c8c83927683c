"""Folders of files and archives of passages (`folders:`, `archives:`), read from the repository
and written back by an export: the sections agents list by name (`SECTIONS`, which the
manifest's expansion and the export walk without naming either).

A folder's `files` and an archive's `passagesFrom` are globs relative to the manifest. Every
match is read like any file a stack names: inside the stack's root once symlinks are followed,
a regular file, at most `FILE_MAX_BYTES`; hidden files are skipped, linked folders are not
listed through, and `..` may come only before the first wildcard. A file's name in its folder
is its path below the glob's first folder with a wildcard, so `docs/**/*.md` names
`docs/setup/sso.md` `setup/sso.md`. Files and passages are identified by their content: each
carries the SHA-256 of its bytes. A name with `${user.*}` makes one folder or archive per
dedicated user whose agent lists it; its globs may use the same variables.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from reconciler.address import Address, Kind, is_path
from reconciler.desired import ArchiveSpec, FileSpec, FolderSpec, PassageSpec
from reconciler.errors import Location
from reconciler.manifest import schema
from reconciler.manifest.files import Root, Unreadable, decode, display_name, read_file
from reconciler.manifest.marked import MarkedList, MarkedMap, plain
from reconciler.manifest.merge import Definition, Stack
from reconciler.manifest.problems import Problems
from reconciler.manifest.variables import Text, compile_text, literal

if TYPE_CHECKING:
    from reconciler.kinds.archive import ExportedArchive
    from reconciler.kinds.folder import ExportedFile, ExportedFolder

FILE_MAX_BYTES = 10 * 1024 * 1024
"""Largest file a folder or archive takes: the server holds a file's bytes in memory."""

_WILDCARD = re.compile(r"[*?\[]")
_BLANK_LINES = re.compile(r"\n[ \t]*\n+")
_HEADING = re.compile(r"^#{1,6}\s", re.MULTILINE)


def digest(data: bytes) -> str:
    """The content digest files and passages are identified by (SHA-256, hex)."""
    return hashlib.sha256(data).hexdigest()


Glob = tuple[Text, Location, str, tuple[str, ...]]
"""(glob, where it is written, how the files it matches are split, tags): a group of files."""


@dataclass(frozen=True)
class SourcePrint:
    """A definition of a section below with its texts parsed."""

    definition: Definition
    name: Text
    description: Text | None
    globs: tuple[Glob, ...]

    @property
    def per_user(self) -> bool:
        return bool(self.name.variables)

    @property
    def variables(self) -> frozenset[str]:
        texts = (self.name, *(g[0] for g in self.globs), *(t for t in (self.description,) if t))
        return frozenset(v for text in texts for v in text.variables)


def compile_sources(stack: Stack, section: Section, problems: Problems) -> dict[str, SourcePrint]:
    """The definitions of `section` in the stack, by declared name."""
    found: dict[str, SourcePrint] = {}
    for name, definition in sorted(stack.definitions[section.name].items()):
        body = definition.body
        title = compile_text(name, definition.loc, problems)
        description = _text(body, "description", problems)
        globs = tuple(section.globs(body, problems))
        source = SourcePrint(definition, title, description, globs)
        if not title.variables and source.variables:
            where = f"{definition.kind} '{name}'"
            message = f"{where} uses ${{user.*}} but its name does not (one per user needs it)"
            problems.add(definition.loc, message)
            continue
        found[name] = source
    return found


def _text(body: MarkedMap, key: str, problems: Problems) -> Text | None:
    return compile_text(body[key], body.value_loc(key), problems) if key in body else None


def _globs(
    body: MarkedMap, key: str, split: str, tags: tuple[str, ...], problems: Problems
) -> Iterator[Glob]:
    value = body.get(key)
    if value is None:
        return
    if isinstance(value, str):
        yield compile_text(value, body.value_loc(key), problems), body.value_loc(key), split, tags
        return
    for index, pattern in enumerate(value):
        loc = value.item_loc(index)
        yield compile_text(pattern, loc, problems), loc, split, tags


def _folder_globs(body: MarkedMap, problems: Problems) -> Iterator[Glob]:
    return _globs(body, "files", "file", (), problems)


def _archive_globs(body: MarkedMap, problems: Problems) -> Iterator[Glob]:
    for entry in body.get("passagesFrom") or ():
        tags = tuple(plain(entry.get("tags") or ()))
        yield from _globs(entry, "files", str(entry.get("split", "file")), tags, problems)


# Expansion ------------------------------------------------------------------------------------


def folder_spec(
    source: SourcePrint, values: Mapping[str, str], stack: Stack, problems: Problems
) -> FolderSpec:
    """The folder `source` declares, for the user whose `values` are given (none: shared)."""
    body = source.definition.body
    name = source.name.render(values)
    address = Address.folder(name)
    files: dict[str, FileSpec] = {}
    for file_name, data, loc in _matches(source, values, stack, problems):
        spec = FileSpec(Address.file(address, file_name), file_name, data, digest(data))
        earlier = files.get(file_name)
        if earlier is not None and earlier.digest != spec.digest:
            problems.add(loc, f"folder '{name}': two files are named '{file_name}'")
        files[file_name] = spec
    return FolderSpec(
        address=address,
        name=name,
        description=_render(source.description, values),
        instructions=str(body["instructions"]) if "instructions" in body else None,
        embedding=_embedding(body, stack),
        files=tuple(files[key] for key in sorted(files)),
        protected=bool(body.get("protected", False)),
    )


def archive_spec(
    source: SourcePrint, values: Mapping[str, str], stack: Stack, problems: Problems
) -> ArchiveSpec:
    """The archive `source` declares, for the user whose `values` are given (none: shared)."""
    body = source.definition.body
    name = source.name.render(values)
    address = Address.archive(name)
    passages: dict[Address, PassageSpec] = {}

    def add(spec: PassageSpec, loc: Location) -> None:
        if spec.address in passages:
            problems.add(loc, f"archive '{name}': passage '{spec.address.name}' is declared twice")
        passages[spec.address] = spec

    inline: MarkedList = body.get("passages", MarkedList(source.definition.loc))
    for index, item in enumerate(inline):
        text = item if isinstance(item, str) else str(item["text"])
        tags = () if isinstance(item, str) else tuple(plain(item.get("tags") or ()))
        add(_passage(address, digest(text.encode())[:16], text, tags), inline.item_loc(index))
    for file_name, data, shown, loc, split, tags in _passage_files(source, values, stack, problems):
        document = decode(data, Path(shown), problems)
        if document is None:
            continue
        for key, text in split_text(file_name, document.text, split):
            add(_passage(address, key, text, tags), loc)
    return ArchiveSpec(
        address=address,
        name=name,
        description=_render(source.description, values),
        embedding=_embedding(body, stack),
        passages=tuple(passages[key] for key in sorted(passages)),
        protected=bool(body.get("protected", False)),
    )


def _passage(archive: Address, key: str, text: str, tags: tuple[str, ...]) -> PassageSpec:
    return PassageSpec(Address.passage(archive, key), text, tags, digest(text.encode()))


def split_text(name: str, text: str, split: str) -> list[tuple[str, str]]:
    """A file's passages as (key, text): the whole file, or its paragraphs or Markdown
    sections, numbered from 1 (`faq.md#3`). Empty pieces are left out."""
    if split == "file":
        pieces = [text.strip()]
    elif split == "paragraphs":
        pieces = [piece.strip() for piece in _BLANK_LINES.split(text)]
    else:
        starts = [m.start() for m in _HEADING.finditer(text)]
        bounds = [0, *starts] if not starts or starts[0] != 0 else starts
        pieces = [text[a:b].strip() for a, b in zip(bounds, [*bounds[1:], len(text)], strict=True)]
    kept = [piece for piece in pieces if piece]
    if split == "file":
        return [(name, piece) for piece in kept]
    return [(f"{name}#{number}", piece) for number, piece in enumerate(kept, start=1)]


def _render(text: Text | None, values: Mapping[str, str]) -> str | None:
    return None if text is None else text.render(values)


def _embedding(body: MarkedMap, stack: Stack) -> str | None:
    if "embedding" in body:
        return str(body["embedding"])
    default = stack.defaults.get("embedding")
    return str(default.value) if default is not None else None


def _matches(
    source: SourcePrint, values: Mapping[str, str], stack: Stack, problems: Problems
) -> Iterator[tuple[str, bytes, Location]]:
    """(name, bytes, where the glob is written) of every file of a folder."""
    for name, data, _shown, loc, _split, _tags in _passage_files(source, values, stack, problems):
        yield name, data, loc


def _passage_files(
    source: SourcePrint, values: Mapping[str, str], stack: Stack, problems: Problems
) -> Iterator[tuple[str, bytes, str, Location, str, tuple[str, ...]]]:
    base = source.definition.base
    for pattern, loc, split, tags in source.globs:
        written = pattern.render(values)
        for name, path in _glob(written, base, stack.root, loc, problems, pattern.variables):
            data = _read(path, stack.root, loc, problems)
            if data is not None and _valid_name(name, path, loc, problems):
                yield name, data, display_name(path), loc, split, tags


def _glob(
    pattern: str,
    base: Path,
    root: Root,
    loc: Location,
    problems: Problems,
    variables: frozenset[str],
) -> list[tuple[str, Path]]:
    """(name in the folder, path) of every file `pattern` matches, in name order. Only a
    folder inside the root is listed; a pattern without variables must match a file."""
    posix = PurePosixPath(pattern)
    if posix.is_absolute():
        problems.add(loc, f"'{pattern}': files are named relative to the manifest")
        return []
    parts = posix.parts
    fixed = next((i for i, part in enumerate(parts) if _WILDCARD.search(part)), len(parts) - 1)
    folder = base.joinpath(*parts[:fixed])
    try:
        inside = root.resolve(folder) is not None
    except OSError:
        inside = False
    if not inside:
        problems.add(loc, f"'{pattern}' is outside the stack's root {root} (--root widens it)")
        return []
    rest = PurePosixPath(*parts[fixed:])
    if ".." in rest.parts:  # it would list folders outside the root
        problems.add(loc, f"'{pattern}': '..' may come only before the first wildcard")
        return []
    try:
        matches = _matching(folder, rest) if folder.is_dir() else []
    except ValueError as exc:  # a `**` that is not a whole part
        problems.add(loc, f"'{pattern}': not a glob letta-apply reads ({exc})")
        return []
    found = [(m, folder / m) for m in sorted(matches)]
    found = [(name, path) for name, path in found if not path.is_dir()]
    if not found and not variables:
        problems.add(loc, f"'{pattern}' matches no file")
    return found


def _matching(folder: Path, rest: PurePosixPath) -> list[str]:
    """The paths below `folder` that `rest` matches, hidden names only when the pattern
    writes one (as `glob` finds them), never through a linked folder: `**` through two links
    to their own folder would never end."""
    hidden = any(part.startswith(".") for part in rest.parts)
    found = (path.relative_to(folder) for path in folder.glob(str(rest)))
    return [
        path.as_posix()
        for path in found
        if hidden or not any(part.startswith(".") for part in path.parts)
    ]


def _read(path: Path, root: Root, loc: Location, problems: Problems) -> bytes | None:
    shown = display_name(path)
    try:
        real = root.resolve(path)
        if real is None:
            problems.add(loc, f"{shown} is outside the stack's root {root} (--root widens it)")
            return None
        return read_file(real, FILE_MAX_BYTES)
    except Unreadable as exc:
        problems.add(loc, f"{shown}: {exc.reason}")
    except OSError as exc:
        problems.add(loc, f"{shown}: cannot read file: {exc}")
    return None


def _valid_name(name: str, path: Path, loc: Location, problems: Problems) -> bool:
    if any(part in ("", ".", "..") for part in name.split("/")):
        problems.add(loc, f"{display_name(path)}: a file's name must be a path below its glob")
        return False
    if not is_path(name):
        message = (
            "a file's name may hold single spaces between other characters, "
            "and no other whitespace or control characters"
        )
        problems.add(loc, f"{display_name(path)}: {message}")
        return False
    return True


# Writing back (export) -------------------------------------------------------------------------

FOLDERS_DIR = "folders"
"""Where an export writes the folders' files, a directory a folder, below the manifest."""
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


@dataclass
class Written:
    """What an export writes of the sections below: each one's entries by name, the files
    they name (path below the manifest -> text), and the names each agent lists."""

    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    links: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """Agent id -> section -> the names it lists."""
    directories: set[str] = field(default_factory=set)
    """The directories taken below the manifest, lowercase (a file system may not tell case)."""
    globbed: set[str] = field(default_factory=set)
    """The directories the written globs take whole (`folders/<folder>`)."""


def _folder_entry(found: ExportedFolder, written: Written, notes: list[str]) -> dict[str, Any]:
    """A folder's settings, its files written under `folders/<folder>/` (named as on the
    server) and taken with `folders/<folder>/**/*`; only text files are written back (the
    server keeps a file's text, not its bytes, and their text is their bytes), and only names
    a path below the folder can carry; what is left out is named in `notes`."""
    entry: dict[str, Any] = {}
    for key, value in (
        ("description", literal(found.description) if found.description else None),
        ("instructions", found.instructions),
        ("embedding", found.embedding if schema.fits(schema.HANDLE, found.embedding) else None),
    ):
        if value:
            entry[key] = value
    directory = _directory(found.name, written.directories)
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
        written.globbed.add(f"{FOLDERS_DIR}/{directory}")
    return entry


def _directory(name: str, used: set[str]) -> str:
    """The folder's own directory under `folders/`: its name, never hidden."""
    base = name if not name.startswith(".") else f"_{name}"
    directory, n = base, 2
    while directory.lower() in used:
        directory, n = f"{base}-{n}", n + 1
    used.add(directory.lower())
    return directory


def _unwritable(file: ExportedFile, names: Sequence[str]) -> str | None:
    """Why the file cannot be written back (None: it can)."""
    parts = file.name.split("/")
    if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        return "a name that is no path below the folder (or a hidden one)"
    if not is_path(file.name) or "\\" in file.name:
        return "a name a manifest cannot hold (whitespace other than single spaces, a backslash)"
    if any(other.startswith(file.name + "/") for other in names):
        return "another file's name runs through it"
    if file.text is None or file.status != "completed":
        return f"the server holds no text of it ({file.status or 'not processed'})"
    if not (file.file_type.startswith("text/") or file.file_type in TEXT_TYPES):
        return f"the server keeps only the text it extracted from it ({file.file_type})"
    if len(file.text.encode()) > FILE_MAX_BYTES:
        return "larger than a folder takes"
    return None


def _archive_entry(held: ExportedArchive, _written: Written, notes: list[str]) -> dict[str, Any]:
    """An archive's settings and its passages, written inline (each text once)."""
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


# The sections -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    """A top-level section of the manifest whose definitions are a kind's resources, read from
    the repository, which agents list by name (`folders:`, and an agent's `folders`). Its name
    is also the `DesiredState` field its specs fill; the kind reads it for an export
    (`reconciler.kinds.registry.exporter`)."""

    name: str
    kind: Kind
    globs: Callable[[MarkedMap, Problems], Iterator[Glob]]
    """The groups of files a definition names."""
    spec: Callable[[SourcePrint, Mapping[str, str], Stack, Problems], Any]
    """The spec a definition declares, for the user whose values are given (none: shared)."""
    one_per_agent: bool
    """An agent lists at most one: its own replaces that of `defaults` (else they add up),
    and an export lists none for an agent holding several."""
    entry: Callable[[Any, Written, list[str]], dict[str, Any]]
    """Export: the definition written back for an exported resource."""

    def address(self, name: str) -> Address:
        return Address(self.kind, (name,))


SECTIONS = (
    Section(
        "folders",
        Kind.FOLDER,
        _folder_globs,
        folder_spec,
        one_per_agent=False,
        entry=_folder_entry,
    ),
    Section(
        "archives",
        Kind.ARCHIVE,
        _archive_globs,
        archive_spec,
        one_per_agent=True,  # an agent's archival memory is its one archive
        entry=_archive_entry,
    ),
)
"""The sections agents list by name, in the order an export writes them."""
