"""`letta-apply export`: write the manifests of what a server holds (all of it, the agents
carrying some tags, or one stack's resources), for review and `plan --adopt`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.cli.options import Connection, connection_options, parallelism_option
from reconciler.cli.output import Console, say
from reconciler.errors import LettaApplyError

if TYPE_CHECKING:
    from reconciler.export import Selection

STACK_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")


def _stack_name(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not STACK_NAME.fullmatch(value):
        raise click.BadParameter(
            "lowercase letters, digits, '.', '_' and '-', at most 63 characters"
        )
    return value


@click.command("export")
@connection_options
@parallelism_option
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The folder to write the manifests to (empty, or --force).",
)
@click.option(
    "--tag",
    "tags",
    multiple=True,
    help="Export the agents carrying this tag (repeatable; `*` and `?` wildcards), with the "
    "conversations and identities of the shared ones. Default: every agent.",
)
@click.option(
    "--stack",
    callback=_stack_name,
    help="Export only what this stack marked as its own.",
)
@click.option(
    "--name",
    callback=_stack_name,
    help="The exported stack's name (default: --stack, else `exported`).",
)
@click.option(
    "--users-file",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="Write the users to users.csv (users.jsonl when a value does not fit a CSV cell): "
    "when there are more than 50 (auto), always, or never (inline in stack.yaml).",
)
@click.option("--force", is_flag=True, help="Overwrite the files in a folder that is not empty.")
def export_command(
    connection: Connection,
    parallelism: int,
    out: Path,
    tags: tuple[str, ...],
    stack: str | None,
    name: str | None,
    users_file: str,
    force: bool,
) -> None:
    """Write manifests that reproduce what the server holds, to onboard an existing fleet:
    review them, then `letta-apply plan OUT --adopt` shows the takeover and
    `letta-apply OUT --adopt` applies it.

    Users come from agents' `user:<id>` tags (dedicated), conversations on shared agents
    (shared) and identities attached to them (identity); alike agents share a template.
    Memory blocks are written with `policy: seed`, so learned memory is never overwritten.
    Settings the server gives every agent by default are left out; what cannot be exported
    is named in a `Note:` line. Secrets are never read or written. An export that matches
    no agent, folder nor archive writes nothing.
    """
    from reconciler.cli.validate import summary
    from reconciler.export import Selection, UsersFile, check_folder, export, write_stack
    from reconciler.manifest import load_desired
    from reconciler.render.lines import counted

    if stack is not None and tags:
        raise click.UsageError("--stack exports one stack's resources; drop --tag")
    check_folder(out, force)  # before any request: nothing read is left unwritten
    console = Console.for_streams()
    selection = Selection(tags=tags, stack=stack)
    with connection.open() as api:
        exported = export(
            api,
            selection,
            name or stack or "exported",
            parallelism=parallelism,
            progress=console.status,
        )
    console.end_status()
    if exported.empty:
        for note in exported.notes:
            say(f"Note: {note}")
        raise LettaApplyError(f"nothing to export: {_no_match(selection)}; nothing written")
    written = write_stack(out, exported, UsersFile(users_file), force=force)
    desired = load_desired([out], out)  # what was written must be a valid stack
    say(f"Wrote {', '.join(str(p) for p in written)}")
    templates = len(exported.document.get("templates", {}))
    say(f"Exported {summary(desired)}, {counted(templates, 'template')}")
    for note in exported.notes:
        say(f"Note: {note}")
    adopt = "" if stack else " --adopt"  # a stack's own resources carry its marks already
    say(f"Next: review, then `letta-apply plan {out}{adopt}`")


WITH_AGENTS = "memory blocks, tools, identities and conversations"
"""What an export takes with the agents it exports (never by itself)."""


def _no_match(selection: Selection) -> str:
    """Why nothing was exported, naming everything an export covers."""
    if selection.stack is not None:
        return (
            f"stack {selection.stack!r} marks no agent, folder or archive as its own "
            f"({WITH_AGENTS} are exported with its agents)"
        )
    if selection.tags:
        return (
            f"no agent carries a tag matching {', '.join(selection.tags)} ({WITH_AGENTS}, "
            "folders and archives are exported with the agents they belong to)"
        )
    return (
        "the server holds no agent, folder or archive that no stack marked "
        f"({WITH_AGENTS} are exported with the agents)"
    )
