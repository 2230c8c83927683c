"""Finding manifest files and reading any input file safely: size cap and strict UTF-8."""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import Location
from reconciler.manifest.problems import Problems

MANIFEST_MAX_BYTES = 5 * 1024 * 1024
"""Manifests are hand-written; anything larger is a mistake and is refused before parsing."""

DATA_MAX_BYTES = 50 * 1024 * 1024
"""User lists (`usersFrom`) may legitimately be larger than any hand-written manifest."""

MANIFEST_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class TextFile:
    """A decoded input file and the name to show for it in messages."""

    path: Path
    display: str
    text: str


def display_name(path: Path) -> str:
    """The name used in messages: the path as the user wrote it (or as found under it)."""
    return path.as_posix()


def discover(paths: Sequence[Path], problems: Problems) -> list[Path]:
    """The manifest files named by `paths`: files as given, directories searched recursively.

    Files under a directory are sorted so that the merge order (and thus which of two
    conflicting definitions is reported as the second) never depends on the file system.
    Hidden files and directories (such as `.git`) are skipped.
    """
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(_manifests_under(path))
        elif path.is_file():
            found.append(path)
        else:
            problems.add(Location(display_name(path)), "no such file or directory")
    return list(dict.fromkeys(found))


def _manifests_under(directory: Path) -> list[Path]:
    files = (
        p
        for p in directory.rglob("*")
        if p.suffix in MANIFEST_SUFFIXES and p.is_file() and not _hidden(p, directory)
    )
    return sorted(files, key=lambda p: p.relative_to(directory).parts)


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def read_text(path: Path, max_bytes: int, problems: Problems) -> TextFile | None:
    """Read and decode a file, or record why it cannot be (missing, too big, not UTF-8)."""
    display = display_name(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            problems.add(Location(display), _too_big(size, max_bytes))
            return None
        data = path.read_bytes()
    except OSError as exc:
        problems.add(Location(display), f"cannot read file: {exc.strerror or exc}")
        return None
    text = decode_utf8(data, display, problems)
    return None if text is None else TextFile(path, display, text)


def _too_big(size: int, max_bytes: int) -> str:
    mib = 1024 * 1024
    return f"file is {size / mib:.1f} MiB, over the {max_bytes // mib} MiB limit; refusing to parse"


def decode_utf8(data: bytes, display: str, problems: Problems) -> str | None:
    """Decode strictly; a bad byte is reported at its line and column. A BOM is dropped."""
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + bom
        line = data.count(b"\n", 0, offset) + 1
        column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
        byte = data[offset : offset + 1].hex()
        message = f"not valid UTF-8: byte 0x{byte} at offset {offset}"
        problems.add(Location(display, line, column), message)
        return None
