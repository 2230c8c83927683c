"""Writing an exported stack: `stack.yaml`, the users in `users.csv` (or `users.jsonl`
when a value cannot survive a CSV cell) when there are many, tools' sources in `tools/` and
folders' files in `folders/<folder>/`.

Only these names are written (a tool's file is named for the tool, a Python identifier; a
folder's files as the server names them, checked to be plain paths below their folder). The
whole export is written into a folder beside the output folder first and read back as a stack
(`load_desired`): one that would not be valid (a name the server gave that no manifest can
hold) is refused with nothing written. Then each file is moved into place through folders
opened without following links, so a link planted in the output folder (`tools ->
elsewhere`) is refused before anything moves, and a link at a file's name is replaced, never
written through. Values are the server's, so the YAML is dumped by the safe dumper and read
back to check it says exactly the same; a folder with files in it is refused unless `force`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import LettaApplyError
from reconciler.text import reorders_or_hides

from .fleet import ExportedStack

MANIFEST = "stack.yaml"
USERS_CSV = "users.csv"
USERS_JSONL = "users.jsonl"
MANY_USERS = 50
"""More users than this go to a users file by default."""
HEADER = (
    "# Exported by `letta-apply export`. Review it, then `letta-apply plan --adopt` takes the\n"
    "# existing resources over (memory blocks are `policy: seed`: learned memory is kept).\n"
)


class UsersFile(StrEnum):
    """Where users go: a file when there are more than `MANY_USERS` (auto), or always, or
    never (inline in the manifest)."""

    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"


def write_stack(
    out: Path, exported: ExportedStack, users_file: UsersFile, *, force: bool = False
) -> list[Path]:
    """Write the stack into `out`, whole or not at all; the paths written."""
    check_folder(out, force)
    files = _files(exported, users_file)
    for name in files:
        _check_name(name)
    if stale := _stale_files(out, files, exported.globbed):
        raise LettaApplyError(
            f"--out {out}: {', '.join(stale[:5])}{' ...' if len(stale) > 5 else ''} would be "
            "taken by a glob the export writes but this export does not write them; remove them or "
            "choose an empty folder (nothing written)"
        )
    place = out.resolve()
    place.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=place.parent, prefix=f".{place.name}.export-"))
    try:
        for name, text in files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_text(text, encoding="utf-8", newline="")
        _check_valid(staging, out)
        _move(staging, out, list(files))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [out / name for name in files]


def _files(exported: ExportedStack, users_file: UsersFile) -> dict[str, str]:
    """Every file of the export by its name under the output folder."""
    document = dict(exported.document)
    files: dict[str, str] = {}
    rows = exported.users
    wants_file = users_file is UsersFile.ALWAYS or (
        users_file is UsersFile.AUTO and len(rows) > MANY_USERS
    )
    if rows and wants_file:
        name, text = (USERS_CSV, _csv(rows)) if _fits_csv(rows) else (USERS_JSONL, _jsonl(rows))
        document["usersFrom"] = name
        files[name] = text
    elif rows:
        document["users"] = rows
    files[MANIFEST] = HEADER + dump_yaml(document)
    files.update(exported.files)
    return files


def _check_name(name: str) -> None:
    """Every file of an export is a plain path below the output folder: a folder's file is
    named by the server, so a name is checked here once more before anything is written."""
    if name.startswith("/") or any(part in ("", ".", "..") for part in name.split("/")):
        raise LettaApplyError(f"refusing to write {name!r}: not a path below --out")


def _stale_files(out: Path, names: Iterable[str], globbed: Iterable[str]) -> list[str]:
    """Files already in `out` under the directories the manifest's globs take whole that the
    export does not write (an earlier export's, with --force): the globs would take them too."""
    writing = set(names)
    stale: list[str] = []
    for directory in sorted(set(globbed)):
        base = out / directory
        if base.is_symlink() or not base.is_dir():
            continue  # a link is refused when moving; nothing there yet otherwise
        for where, _folders, found in os.walk(base):
            held = (Path(where, f).relative_to(out).as_posix() for f in found)
            stale += sorted(name for name in held if name not in writing)
    return stale


def _check_valid(staging: Path, out: Path) -> None:
    """The staged export reads back as a valid stack; otherwise its problems, named as they
    would be in `out`, and nothing is written."""
    from reconciler.manifest import load_desired

    try:
        load_desired([staging], staging)
    except LettaApplyError as exc:
        lines = [line.replace(staging.as_posix(), out.as_posix()) for line in exc.lines()]
        raise LettaApplyError(
            "\n".join(["the export would not be a valid stack; nothing written:", *lines])
        ) from exc


_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _move(staging: Path, out: Path, names: Sequence[str]) -> None:
    """Move the staged files into `out`: every destination checked first (no link among the
    folders under `out`, no folder where a file goes), then moved through folders opened
    without following links."""
    out.mkdir(parents=True, exist_ok=True)
    root = os.open(out, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for name in names:
            _check_destination(root, Path(name).parts, out)
        for name in names:
            *folders, leaf = Path(name).parts
            folder = _open_folders(root, folders, create=True)
            try:
                os.replace(staging / name, leaf, dst_dir_fd=folder)
            finally:
                if folder != root:
                    os.close(folder)
    finally:
        os.close(root)


def _check_destination(root: int, parts: tuple[str, ...], out: Path) -> None:
    *folders, leaf = parts
    try:
        folder = _open_folders(root, folders, create=False)
    except FileNotFoundError:
        return  # made when moving
    except OSError as exc:
        where = Path(*folders).as_posix()
        raise LettaApplyError(
            f"--out {out}: {where} is a link or not a folder; refusing to write through it "
            "(nothing written)"
        ) from exc
    try:
        info = os.stat(leaf, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return
    finally:
        if folder != root:
            os.close(folder)
    if stat.S_ISDIR(info.st_mode):
        where = Path(*parts).as_posix()
        raise LettaApplyError(f"--out {out}: {where} is a folder; nothing written")


def _open_folders(root: int, folders: Sequence[str], *, create: bool) -> int:
    """The folder `root/folders...`, each opened without following a link (made if
    `create`); `root` itself when `folders` is empty."""
    current = root
    for name in folders:
        if create:
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, dir_fd=current)
        try:
            opened = os.open(name, _DIRECTORY, dir_fd=current)
        finally:
            if current != root:
                os.close(current)
        current = opened
    return current


def check_folder(out: Path, force: bool) -> None:
    """Refuse a path that is not a folder, or a folder with files in it unless `force`."""
    if out.exists() and not out.is_dir():
        raise LettaApplyError(f"--out {out} is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise LettaApplyError(
            f"--out {out} is not empty; choose an empty folder, or --force to overwrite "
            f"{MANIFEST} and the users file there"
        )


class _Dumper(yaml.SafeDumper):
    """The safe dumper, writing multi-line text as literal blocks where YAML can."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and "\t" not in value else None
    if "\t" in value:
        style = '"'  # a tab read back at a line's start would look like indentation
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dump_yaml(document: dict[str, Any]) -> str:
    """YAML that reads back as exactly `document` (plain double quotes where a literal
    block would not)."""
    text = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    # A bidi control written as itself would reorder what a reviewer of the file sees.
    if yaml.safe_load(text) == document and not reorders_or_hides(text):
        return text
    plain = yaml.safe_dump(document, sort_keys=False, allow_unicode=False, default_style='"')
    if yaml.safe_load(plain) != document:
        raise LettaApplyError("the exported manifest would not read back as written")
    return plain


_FIELDS = ("id", "name", "pattern", "template", "agent")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""How a cell a spreadsheet runs as a formula starts (a tenant's identity named
`=HYPERLINK(...)`): users holding one go to `users.jsonl` instead."""


def _fits_csv(rows: Sequence[dict[str, Any]]) -> bool:
    """Whether every value survives a CSV cell: text only (property values are read back as
    text), not empty and without surrounding spaces (cells are trimmed), tags without
    separators, none a spreadsheet would run as a formula, none reordering what it shows."""
    for row in rows:
        cells = [row[k] for k in _FIELDS if k in row]
        cells += list(row.get("properties", {}).values())
        if not all(isinstance(c, str) and c and c == c.strip() and "\r" not in c for c in cells):
            return False
        if any(c.startswith(FORMULA_STARTS) for c in [*cells, *row.get("tags", ())]):
            return False
        if any(reorders_or_hides(c) for c in [*cells, *row.get("tags", ())]):
            return False  # JSON Lines writes it as an escape
        if any(not t or any(c.isspace() or c == ";" for c in t) for t in row.get("tags", ())):
            return False
    return True


def _csv(rows: Sequence[dict[str, Any]]) -> str:
    keys = sorted({k for row in rows for k in row.get("properties", {})})
    header = [*_FIELDS, "tags", "protected", *(f"properties.{k}" for k in keys)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        properties = row.get("properties", {})
        writer.writerow(
            [
                *(row.get(k, "") for k in _FIELDS),
                ";".join(row.get("tags", ())),
                "true" if row.get("protected") else "",
                *(properties.get(k, "") for k in keys),
            ]
        )
    return buffer.getvalue()


def _jsonl(rows: Sequence[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=True, sort_keys=False) + "\n" for row in rows)
