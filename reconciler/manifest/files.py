"""The files a stack may read, and how: manifests under the paths given and the files they
name (`valueFrom`, `usersFrom`), all inside the stack's root with symlinks followed.

Every input file is opened once by `read_file`: only a regular file (never a FIFO, device or
directory), at most its cap plus one byte (procfs files report a size of 0), decoded strictly.
A file that is refused is described by its path and the reason, never by its content.
"""

from __future__ import annotations

import codecs
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import LettaApplyError, Location, ManifestError
from reconciler.manifest.problems import Problems

MANIFEST_MAX_BYTES = 5 * 1024 * 1024
"""Manifests are hand-written; anything larger is a mistake and is refused before parsing."""

DATA_MAX_BYTES = 50 * 1024 * 1024
"""User lists (`usersFrom`) may legitimately be larger than any hand-written manifest."""

MANIFEST_SUFFIXES = (".yaml", ".yml")

VCS_FOLDER = ".git"
"""Never read from, even inside the root (see `Root.resolve`)."""

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
"""No symlink swapped in after the check, and no wait for a writer when a FIFO is opened."""

_MIB = 1024 * 1024


@dataclass(frozen=True)
class TextFile:
    """A decoded input file and the name to show for it in messages."""

    path: Path
    display: str
    text: str


@dataclass(frozen=True)
class Root:
    """The folder every file a stack reads must be in once its symlinks are followed."""

    path: Path
    """Absolute, symlinks resolved."""

    def __str__(self) -> str:
        return self.path.as_posix()

    def resolve(self, path: Path) -> Path | None:
        """`path` with every symlink followed, or None when it is not inside the root, or is
        inside a repository's own `.git` folder there (which is no stack's content, and holds
        credentials: a checkout keeps its token in `.git/config`).

        Raises OSError for a symlink loop.
        """
        real = _real(path)
        if not real.is_relative_to(self.path) or VCS_FOLDER in real.relative_to(self.path).parts:
            return None
        return real


def find_root(paths: Sequence[Path], explicit: Path | None, problems: Problems) -> Root | None:
    """The stack's root: `explicit` (`--root`) if given, else the common folder of `paths`
    (a file's own folder). None, with problems recorded, when a folder is refused.

    Without `--root`, a folder given under the current folder must stay under it when its
    symlinks are followed: the checkout decides what those symlinks point at, not the person
    who typed the command.
    """
    if explicit is not None:
        return Root(_real_or_absolute(explicit))
    here = _real_or_absolute(Path.cwd())
    folders: list[Path] = []
    for path in paths:
        lexical = Path(os.path.abspath(path if path.is_dir() else path.parent))
        real = _real_or_absolute(lexical)
        if lexical.is_relative_to(here) and not real.is_relative_to(here):
            message = f"this folder leads to {real.as_posix()}, outside the current folder"
            problems.add(Location(display_name(path)), f"{message}; name it with --root to use it")
        else:
            folders.append(real)
    if len(folders) < len(paths):
        return None
    return Root(Path(os.path.commonpath(folders)) if folders else here)


def _real(path: Path) -> Path:
    try:
        return path.resolve()
    except RuntimeError as exc:  # a symlink loop, before Python 3.13
        raise OSError(f"symlink loop: {exc}") from exc


def _real_or_absolute(path: Path) -> Path:
    try:
        return _real(path)
    except OSError:
        return Path(os.path.abspath(path))


def display_name(path: Path) -> str:
    """The name used in messages: the path as the user wrote it (or as found under it)."""
    return path.as_posix()


def discover(paths: Sequence[Path], root: Root, problems: Problems) -> list[Path]:
    """The manifest files named by `paths`: files as given, directories searched recursively.

    Files under a directory are sorted so that the merge order (and thus which of two
    conflicting definitions is reported as the second) never depends on the file system.
    Hidden files and directories (such as `.git`) are skipped. Whether a file is inside the
    root and regular is checked when it is read.
    """
    found: list[Path] = []
    for path in paths:
        where = Location(display_name(path))
        if path.is_dir():
            if _outside(path, root):
                problems.add(where, f"this folder is outside the stack's root {root}")
            else:
                found.extend(_manifests_under(path))
        elif path.exists() or path.is_symlink():
            found.append(path)
        else:
            problems.add(where, "no such file or directory")
    return list(dict.fromkeys(found))


def _outside(path: Path, root: Root) -> bool:
    try:
        return root.resolve(path) is None
    except OSError:
        return False  # reported when the file is read


def _manifests_under(directory: Path) -> list[Path]:
    files = (
        p
        for p in directory.rglob("*")
        if p.suffix in MANIFEST_SUFFIXES and not p.is_dir() and not _hidden(p, directory)
    )
    return sorted(files, key=lambda p: p.relative_to(directory).parts)


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def read_manifest(path: Path, root: Root, problems: Problems) -> TextFile | None:
    """A manifest file found by `discover`, or None with the reason recorded at its name."""
    where = Location(display_name(path))
    try:
        real = root.resolve(path)
        if real is None:
            problems.add(where, f"this manifest is outside the stack's root {root}")
            return None
        data = read_file(real, MANIFEST_MAX_BYTES)
    except Unreadable as exc:
        problems.add(where, exc.reason)
        return None
    except OSError as exc:
        problems.add(where, f"cannot read file: {exc.strerror or exc}")
        return None
    return decode(data, path, problems)


class Unreadable(Exception):
    """Why a file is not read; says nothing about its content."""

    def __init__(self, reason: str, *, missing: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.missing = missing


def read_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most `max_bytes`; raises Unreadable otherwise."""
    try:
        descriptor = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError as exc:
        raise Unreadable("no such file", missing=True) from exc
    except OSError as exc:
        raise Unreadable(f"cannot read file: {exc.strerror or exc}") from exc
    try:
        _check_regular(os.fstat(descriptor), max_bytes)
        with os.fdopen(descriptor, "rb", closefd=False) as stream:
            data = stream.read(max_bytes + 1)
    except OSError as exc:
        raise Unreadable(f"cannot read file: {exc.strerror or exc}") from exc
    finally:
        os.close(descriptor)
    if len(data) > max_bytes:
        raise Unreadable(_too_big(max_bytes))
    return data


def _check_regular(info: os.stat_result, max_bytes: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise Unreadable(f"not a regular file ({_kind(info.st_mode)}); refusing to read it")
    if info.st_size > max_bytes:
        raise Unreadable(_too_big(max_bytes, info.st_size))


def _kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a file")


def _too_big(max_bytes: int, size: int | None = None) -> str:
    """The size is known from `stat` for most files; procfs reports 0 and is found out reading."""
    what = f"file is {size / _MIB:.1f} MiB, over" if size is not None else "file is over"
    limit = f"{max_bytes // _MIB} MiB" if max_bytes % _MIB == 0 else f"{max_bytes} bytes"
    return f"{what} the {limit} limit; refusing to parse"


@dataclass(frozen=True)
class FileRef:
    """A file a manifest names: under which key, the path as written, the folder it is
    relative to (the manifest's) and where it is written."""

    key: str
    written: str
    base: Path
    loc: Location

    @property
    def path(self) -> Path:
        """The path to open (relative to the current folder, like the manifest's)."""
        return self.base / self.written


def read_reference(ref: FileRef, root: Root, max_bytes: int, problems: Problems) -> TextFile | None:
    """The text of a file a manifest names, or None with the reason recorded where it is
    named: outside the root, missing, not a regular file, too big, or not UTF-8."""
    try:
        real = root.resolve(ref.path)
        if real is None:
            outside = f"{ref.written} is outside the stack's root {root}"
            problems.add(ref.loc, f"{ref.key}: {outside} (--root widens it)")
            return None
        data = read_file(real, max_bytes)
    except Unreadable as exc:
        why = f"file not found: {ref.path.as_posix()}" if exc.missing else f"{ref.written}: {exc}"
        problems.add(ref.loc, f"{ref.key}: {why}")
        return None
    except OSError as exc:
        problems.add(ref.loc, f"{ref.key}: {ref.written}: cannot read file: {exc}")
        return None
    return decode(data, ref.path, problems)


def decode(data: bytes, path: Path, problems: Problems) -> TextFile | None:
    """Decode strictly; a bad byte or a NUL (which the server drops) is reported at its line
    and column. A BOM is dropped."""
    display = display_name(path)
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        text = data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + bom
        byte = data[offset : offset + 1].hex()
        message = f"not valid UTF-8: byte 0x{byte} at offset {offset}"
        problems.add(_byte_loc(data, offset, display), message)
        return None
    nul = data.find(b"\0")
    if nul >= 0:
        message = f"NUL character at offset {nul}: the server cannot store it"
        problems.add(_byte_loc(data, nul, display), message)
        return None
    return TextFile(path, display, text)


def _byte_loc(data: bytes, offset: int, display: str) -> Location:
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return Location(display, line, column)


USER_IDS_MAX_BYTES = 16 * _MIB


def read_user_ids(
    path: Path, paths: Sequence[Path], explicit_root: Path | None
) -> list[tuple[str, str]]:
    """The user ids of a `--users @FILE` file, one a line (`#` starts a comment), each with
    its `FILE:LINE`. The file is read like every file of the stack: inside its root, a
    regular file, UTF-8. A refusal is one line that never quotes the file."""
    problems = Problems()
    root = find_root(paths, explicit_root, problems)
    if root is None:
        raise ManifestError(problems.items)
    shown = display_name(path)
    try:
        real = root.resolve(path)
        if real is None:
            raise Unreadable(f"outside the stack's root {root} (--root widens it)")
        data = read_file(real, USER_IDS_MAX_BYTES)
        text = data.decode("utf-8")
    except Unreadable as exc:
        raise LettaApplyError(f"--users @{shown}: {exc.reason}") from exc
    except OSError as exc:
        raise LettaApplyError(f"--users @{shown}: cannot read file: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise LettaApplyError(f"--users @{shown}: not UTF-8 text") from exc
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        user = line.split("#", 1)[0].strip()
        if user:
            found.append((user, f"{shown}:{number}"))
    return found
