"""Saved plan files: written whole and private, and read back with a one-line error for
anything that is not a saved plan (the command line and the GitOps flows both use them)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.errors import LettaApplyError

if TYPE_CHECKING:
    from reconciler.plan.serialize import SavedPlan

PLAN_FILE_MODE = 0o600
"""Saved plans hold block values and server ids: readable by their owner only."""


def save_plan(path: Path, text: str) -> None:
    """Write a plan file readable by its owner only, whole or not at all: into a new file next
    to `path`, then renamed over it (so a reader never sees half a plan, and a link or a file
    already at `path` is replaced, not written through)."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PLAN_FILE_MODE)
    except OSError as exc:
        raise _cannot_save(path, exc) from exc
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise _cannot_save(path, exc) from exc


def _cannot_save(path: Path, exc: OSError) -> LettaApplyError:
    return LettaApplyError(f"{path}: cannot save the plan ({exc.strerror or exc})")


def read_plan(path: Path) -> SavedPlan:
    """The saved plan at `path` with its signature (checked where the key is:
    `reconciler.plan.signing`); anything that is not one is a `LettaApplyError` naming it."""
    from reconciler.plan.serialize import saved_plan_from_json

    if not path.is_file():
        raise LettaApplyError(f"{path}: not a saved plan (not a regular file)")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LettaApplyError(
            f"{path}: cannot read the saved plan ({exc.strerror or exc})"
        ) from exc
    except UnicodeDecodeError as exc:
        raise LettaApplyError(f"{path}: not a saved plan (not UTF-8 text: {exc.reason})") from exc
    try:
        return saved_plan_from_json(text)
    except LettaApplyError as exc:
        raise LettaApplyError(f"{path}: {exc}") from exc
    except RecursionError as exc:
        raise LettaApplyError(f"{path}: not a saved plan (nested too deeply)") from exc
    except ValueError as exc:  # e.g. an integer too long to convert
        raise LettaApplyError(f"{path}: not a saved plan ({exc})") from exc
