"""The `--out` option: the place a saved plan goes, checked before planning (the file itself
is written by `reconciler.planfile`)."""

from __future__ import annotations

from pathlib import Path

import click


def _writable_place(_ctx: click.Context, _param: click.Parameter, path: Path | None) -> Path | None:
    """Refuse, before any request, a place a plan cannot be saved to."""
    if path is None:
        return None
    if path.is_dir():
        raise click.BadParameter(f"{path} is a folder; name the file to save the plan to")
    if not path.parent.is_dir():
        raise click.BadParameter(f"the folder {path.parent} does not exist")
    return path


out_option = click.option(
    "--out",
    type=click.Path(path_type=Path),
    callback=_writable_place,
    help="Save the plan for `apply` (a new file, readable by its owner only).",
)
