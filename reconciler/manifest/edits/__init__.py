"""Edits of where users are declared: take users out of the manifests, or move dedicated
users to a shared agent, as a change of the files to review, not a change of the server.

Each user is edited where it is written, an entry of a manifest's `users:` list, a CSV record
or a JSON Lines line, using the location the manifest loader recorded; every other byte of
the file stays as it was (comments, order, formatting, a byte order mark). A user whose
declaration cannot be edited safely is left as it is, with the reason.
"""

from __future__ import annotations

import codecs
import difflib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import LettaApplyError, Location
from reconciler.manifest.edits.base import Move, Remove, Request, Span, apply_spans
from reconciler.manifest.edits.rows import edit_csv, edit_jsonl
from reconciler.manifest.edits.yaml_users import edit_yaml
from reconciler.manifest.files import DATA_MAX_BYTES, Root, Unreadable, read_file
from reconciler.manifest.users import Format, Origin

__all__ = ["Edits", "FileEdit", "Move", "NotEdited", "Remove", "Request", "edit_users", "write"]

Editor = Callable[[str, Sequence[Request]], tuple[list[Span], dict[str, str]]]
EDITORS: dict[Format, Editor] = {
    Format.YAML: edit_yaml,
    Format.CSV: edit_csv,
    Format.JSONL: edit_jsonl,
}

_WRITE_FLAGS = os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class FileEdit:
    """One file's content before and after the edit; `path` as the manifests name it."""

    path: Path
    before: bytes
    after: bytes

    def diff(self) -> str:
        """The edit as a unified diff (`a/<path>`, `b/<path>`)."""
        name = self.path.as_posix()
        old, new = (
            (f"{side}/{name}" for side in "ab") if not self.path.is_absolute() else [name] * 2
        )
        lines = difflib.unified_diff(_lines(self.before), _lines(self.after), old, new)
        return "".join(
            line if line.endswith("\n") else f"{line}\n\\ No newline at end of file\n"
            for line in lines
        )


@dataclass(frozen=True)
class NotEdited:
    """A user left as declared, where it is declared, and why."""

    user: str
    where: Location
    reason: str


@dataclass(frozen=True)
class Edits:
    """The edit of every file concerned, the users it edits and those it leaves alone."""

    files: tuple[FileEdit, ...] = ()
    edited: tuple[str, ...] = ()
    not_edited: tuple[NotEdited, ...] = ()

    def diff(self) -> str:
        return "".join(file.diff() for file in self.files)


def edit_users(requests: Sequence[Request], root: Root) -> Edits:
    """The edits making `requests`, file by file, in the order the users are declared."""
    by_file: dict[Origin, list[Request]] = {}
    unplaced: list[NotEdited] = []
    for request in requests:
        origin = request.user.origin
        if origin is None:
            unplaced.append(NotEdited(request.user.id, request.user.loc, "not read from a file"))
        else:
            by_file.setdefault(origin, []).append(request)
    files: list[FileEdit] = []
    edited: list[str] = []
    for origin, wanted in by_file.items():
        done, refused = _edit_file(origin, wanted, root)
        files.extend([done] if done is not None else [])
        edited.extend(r.user.id for r in wanted if r.user.id not in refused)
        unplaced.extend(
            NotEdited(r.user.id, r.user.loc, refused[r.user.id])
            for r in wanted
            if r.user.id in refused
        )
    return Edits(tuple(files), tuple(edited), tuple(unplaced))


def _edit_file(
    origin: Origin, requests: Sequence[Request], root: Root
) -> tuple[FileEdit | None, dict[str, str]]:
    try:
        data = _read(origin.path, root)
        bom = codecs.BOM_UTF8 if data.startswith(codecs.BOM_UTF8) else b""
        text = data[len(bom) :].decode("utf-8")
    except (Unreadable, OSError, UnicodeDecodeError) as exc:
        reason = f"the file cannot be read again: {getattr(exc, 'reason', exc)}"
        return None, {request.user.id: reason for request in requests}
    spans, refused = EDITORS[origin.format](text, requests)
    after = apply_spans(text, spans)
    if after == text:
        return None, refused
    return FileEdit(origin.path, data, bom + after.encode("utf-8")), refused


def _read(path: Path, root: Root) -> bytes:
    real = root.resolve(path)
    if real is None:
        raise Unreadable(f"{path.as_posix()} is outside the stack's root {root}")
    return read_file(real, DATA_MAX_BYTES)


def write(edits: Edits, root: Root) -> None:
    """Write every edited file, each only if it still holds what the edit was made from."""
    for file in edits.files:
        try:
            current = _read(file.path, root)
        except (Unreadable, OSError) as exc:
            raise LettaApplyError(f"{file.path.as_posix()}: cannot read it again: {exc}") from exc
        if current != file.before:
            raise LettaApplyError(
                f"{file.path.as_posix()} changed while it was being edited; run the command again"
            )
    for file in edits.files:
        real = root.resolve(file.path)
        assert real is not None  # checked when read just above
        descriptor = os.open(real, _WRITE_FLAGS)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(file.after)


def _lines(data: bytes) -> list[str]:
    """The text's lines, each with its "\\n" (a "\\r" is part of the line)."""
    text = data.removeprefix(codecs.BOM_UTF8).decode("utf-8")
    return [line for line in re.split("(?<=\n)", text) if line]
