"""`letta-apply show PATHS [ADDRESS...]`: the stack's resources as the server holds them
(Terraform's `state list` / `state show`, kubectl's `get` / `describe`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reconciler.cli.options import (
    Connection,
    connection_options,
    parallelism_option,
    root_option,
)
from reconciler.cli.output import say
from reconciler.exitcodes import ExitCode


@click.command("show")
@click.argument("paths_and_addresses", nargs=-1, required=True, metavar="PATHS [ADDRESS]...")
@root_option
@connection_options
@parallelism_option
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def show_command(
    paths_and_addresses: tuple[str, ...],
    root: Path | None,
    connection: Connection,
    parallelism: int,
    fmt: str,
) -> ExitCode:
    """List what the stack owns on the server, address -> id; given ADDRESS globs (such as
    'agent/user:*'), only those, with the fields the stack manages. JSON always has the
    fields. Reads only the stack's resources; changes nothing. Exit 1 when the addresses
    match nothing."""
    from reconciler.kinds.read import read_live
    from reconciler.manifest import load_desired
    from reconciler.show import matching, owned_resources, render_json, render_text

    paths, addresses = _split(paths_and_addresses)
    desired = load_desired(paths, root)
    with connection.open() as api:
        live = read_live(api, desired.stack, desired, parallelism=parallelism, prune=False)
        target = api.target.base_url
    resources = owned_resources(live)
    if addresses:
        resources = matching(resources, addresses)
        if not resources:
            say(f"Error: no resource of stack {desired.stack} at {', '.join(addresses)}", err=True)
            return ExitCode.ERROR
    if fmt == "json":
        sys.stdout.write(render_json(desired.stack, target, resources))
    else:
        sys.stdout.write(render_text(desired.stack, target, resources, details=bool(addresses)))
    return ExitCode.OK


def _split(arguments: tuple[str, ...]) -> tuple[tuple[Path, ...], tuple[str, ...]]:
    """Paths, then addresses: an argument naming a kind before its first `/` (`agent/...`)
    that is not a file or folder is an address."""
    from reconciler.address import Kind

    kinds = {kind.value for kind in Kind}
    addresses = tuple(
        a
        for a in arguments
        if a.partition("/")[0] in kinds and a.partition("/")[2] and not Path(a).exists()
    )
    paths = tuple(Path(a) for a in arguments if a not in addresses)
    if not paths:
        raise click.UsageError("name the stack's manifests (PATHS) before the addresses")
    return paths, addresses
