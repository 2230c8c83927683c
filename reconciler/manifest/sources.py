"""Folders of files and archives of passages (`folders:`, `archives:`), read from the repository.

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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from reconciler.address import Address, Kind
from reconciler.desired import ArchiveSpec, FileSpec, FolderSpec, PassageSpec
from reconciler.errors import Location
from reconciler.manifest.files import Root, Unreadable, decode, display_name, read_file
from reconciler.manifest.marked import MarkedList, MarkedMap, plain
from reconciler.manifest.merge import Definition, Stack
from reconciler.manifest.problems import Problems
from reconciler.manifest.variables import Text, compile_text

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
    if any(c.isspace() or not c.isprintable() for c in name):
        problems.add(loc, f"{display_name(path)}: a file name in a folder may not hold spaces")
        return False
    if any(part in ("", ".", "..") for part in name.split("/")):
        problems.add(loc, f"{display_name(path)}: a file's name must be a path below its glob")
        return False
    return True


# The sections -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    """A top-level section of the manifest whose definitions are a kind's resources, read from
    the repository, which agents list by name (`folders:`, and an agent's `folders`). Its name
    is also the `DesiredState` field its specs fill."""

    name: str
    kind: Kind
    globs: Callable[[MarkedMap, Problems], Iterator[Glob]]
    """The groups of files a definition names."""
    spec: Callable[[SourcePrint, Mapping[str, str], Stack, Problems], Any]
    """The spec a definition declares, for the user whose values are given (none: shared)."""
    adds_up: bool
    """An agent's list adds to that of `defaults` (else it replaces it)."""

    def address(self, name: str) -> Address:
        return Address(self.kind, (name,))


SECTIONS = (
    Section("folders", Kind.FOLDER, _folder_globs, folder_spec, adds_up=True),
    Section("archives", Kind.ARCHIVE, _archive_globs, archive_spec, adds_up=False),
)
"""The sections agents list by name; an agent has one archive (its archival memory), so its
own replaces that of `defaults`."""
