"""`letta-apply dev-server`: a local, real Letta server for development, tests and demos."""

from __future__ import annotations

import click


@click.group("dev-server")
def dev_server() -> None:
    """Manage a local Letta server (installed and started by letta-apply itself)."""
