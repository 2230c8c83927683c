"""`letta-apply export`: a stack of manifests that reproduces what a server holds, for
onboarding an existing fleet (export, review, `plan --adopt`, then run with `--adopt`).

`snapshot` reads the server, `defaults` knows what it fills in by itself, `fleet` and
`people` infer the users, templates, shared agents and shared blocks, `text` factors per-user
values into `${user.*}` text, `files` writes them.
"""

from __future__ import annotations

from collections.abc import Callable

from reconciler.client import LettaApi

from .defaults import ServerDefaults, read_defaults
from .files import UsersFile, check_folder, write_stack
from .fleet import ExportedStack, infer
from .snapshot import Selection, Snapshot, read_snapshot

__all__ = [
    "ExportedStack",
    "Selection",
    "ServerDefaults",
    "Snapshot",
    "UsersFile",
    "check_folder",
    "export",
    "infer",
    "read_snapshot",
    "write_stack",
]


def export(
    api: LettaApi,
    selection: Selection,
    name: str,
    *,
    parallelism: int = 8,
    progress: Callable[[str], None] | None = None,
) -> ExportedStack:
    """Read the selected part of the server and infer the stack `name` reproducing it,
    leaving out what the server gives every agent by default."""
    snapshot = read_snapshot(api, selection, parallelism=parallelism, progress=progress)
    return infer(snapshot, name, selection.stack, read_defaults(api))
