"""Writing an exported stack: `stack.yaml`, the users in `users.csv` (or `users.jsonl`
when a value cannot survive a CSV cell) when there are many, and tools' sources in `tools/`.

Only these names are written (a tool's file is named for the tool, a Python identifier), each
through a temporary file in the output folder renamed over the old one (a symlink planted
there is replaced, never followed). Values are the server's, so the YAML is dumped by the
safe dumper and read back to check it says exactly the same; a folder with files in it is
refused unless `force`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import LettaApplyError

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
    """Write the stack into `out`; the paths written."""
    check_folder(out, force)
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
    written = []
    for name, text in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        _replace(path, text)
        written.append(path)
    return written


def check_folder(out: Path, force: bool) -> None:
    """Refuse a path that is not a folder, or a folder with files in it unless `force`."""
    if out.exists() and not out.is_dir():
        raise LettaApplyError(f"--out {out} is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise LettaApplyError(
            f"--out {out} is not empty; choose an empty folder, or --force to overwrite "
            f"{MANIFEST} and the users file there"
        )


def _replace(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".export-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


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
    if yaml.safe_load(text) == document:
        return text
    plain = yaml.safe_dump(document, sort_keys=False, allow_unicode=False, default_style='"')
    if yaml.safe_load(plain) != document:
        raise LettaApplyError("the exported manifest would not read back as written")
    return plain


_FIELDS = ("id", "name", "pattern", "template", "agent")


def _fits_csv(rows: Sequence[dict[str, Any]]) -> bool:
    """Whether every value survives a CSV cell: text only (property values are read back as
    text), not empty and without surrounding spaces (cells are trimmed), tags without
    separators."""
    for row in rows:
        cells = [row[k] for k in _FIELDS if k in row]
        cells += list(row.get("properties", {}).values())
        if not all(isinstance(c, str) and c and c == c.strip() and "\r" not in c for c in cells):
            return False
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
