"""`letta-apply validate PATHS`: check manifests offline and summarize the stack they declare."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.cli.options import root_option
from reconciler.cli.output import say

if TYPE_CHECKING:
    from reconciler.desired import DesiredState


@click.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@root_option
def validate(paths: tuple[Path, ...], root: Path | None) -> None:
    """Check manifests offline: YAML, schema, cross-references and variables.

    Problems are printed as `file:line:col: message`, one per line (exit code 1).
    """
    from reconciler.manifest import load_desired  # jsonschema: not needed for `--help`

    say(f"OK: {summary(load_desired(list(paths), root))}")


def summary(state: DesiredState) -> str:
    """`<stack>: 3 users, 2 agents, 1 shared block, 1 conversation, 1 identity` (and the
    stack's own tools, when it defines any)."""
    dedicated = sum(1 for agent in state.agents if agent.user_id is not None)
    users = dedicated + len(state.conversations) + len(state.identities)
    counts = (
        (users, "user"),
        (len(state.agents), "agent"),
        (len(state.blocks), "shared block"),
        (len(state.conversations), "conversation"),
        (len(state.identities), "identity"),
        *(((len(state.tools), "tool"),) if state.tools else ()),
    )
    return f"{state.stack}: " + ", ".join(_count(n, word) for n, word in counts)


def _count(number: int, word: str) -> str:
    plural = word[:-1] + "ies" if word.endswith("y") else word + "s"
    return f"{number} {word if number == 1 else plural}"
