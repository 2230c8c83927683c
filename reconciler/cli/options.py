"""Options shared by the commands: the stack's paths and root, where the server is, how many
requests.

Connection options open a client only when a command runs, so parsing them costs nothing.
"""

from __future__ import annotations

import functools
import gc
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from reconciler.client import LettaApi

DEFAULT_BASE_URL = "http://localhost:8283"

paths_argument = click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))

root_option = click.option(
    "--root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The folder manifests may read files from (default: the folder of PATHS).",
)

parallelism_option = click.option(
    "--parallelism",
    default=8,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Requests in flight at once.",
)

lock_timeout_option = click.option(
    "--lock-timeout", default=0.0, type=float, help="Seconds to wait for the lock."
)


@dataclass(frozen=True)
class Connection:
    """The configured server: --base-url or LETTA_BASE_URL, --project-id, --timeout.

    The API key is read from LETTA_API_KEY only, so it never shows in process lists or logs.
    """

    base_url: str
    project_id: str | None
    timeout: float

    def open(self) -> LettaApi:
        """A client for this server (a context manager that closes its connections)."""
        from reconciler.client import LettaApi, Target  # the SDK: only when a command connects

        # What was imported lives as long as the process: frozen, the collector stops scanning
        # the SDK's many objects again and again while the server's pages are read.
        gc.freeze()
        key = os.environ.get("LETTA_API_KEY") or None
        target = Target(
            self.base_url, api_key=key, project_id=self.project_id, timeout=self.timeout
        )
        return LettaApi(target)


def connection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the connection options; the command receives them as one `connection` argument."""

    @functools.wraps(command)
    def with_connection(
        *args: Any, base_url: str, project_id: str | None, timeout: float, **kwargs: Any
    ) -> Any:
        return command(*args, connection=Connection(base_url, project_id, timeout), **kwargs)

    options = [
        click.option(
            "--base-url",
            envvar="LETTA_BASE_URL",
            default=DEFAULT_BASE_URL,
            show_default=True,
            show_envvar=True,
            help="The Letta server.",
        ),
        click.option(
            "--project-id", envvar="LETTA_PROJECT_ID", show_envvar=True, help="Letta Cloud project."
        ),
        click.option(
            "--timeout",
            default=60.0,
            show_default=True,
            type=float,
            help="Seconds to wait for one request.",
        ),
    ]
    decorated: Callable[..., Any] = with_connection
    for option in reversed(options):
        decorated = option(decorated)
    return decorated
