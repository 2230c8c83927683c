"""`letta-apply dev-server`: a local, real Letta server for development, tests and demos."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from reconciler.cli.options import Seconds
from reconciler.cli.output import say
from reconciler.exitcodes import ExitCode
from reconciler.text import clean, target_label

if TYPE_CHECKING:
    from reconciler.devserver import DevServer, ServerInfo


def _progress(message: str) -> None:
    say(message, err=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _server(ctx: click.Context, port: int | None = None) -> DevServer:
    from reconciler.devserver import DevServer  # process management: only when a command runs

    state_dir: Path = ctx.obj["dev_server_dir"]
    return DevServer(state_dir, port=port, progress=_progress)


@click.group("dev-server")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="LETTA_APPLY_DEV_SERVER_DIR",
    help="Folder holding the server's database, logs and state "
    "[default: ~/.cache/letta-apply/dev-server].",
)
@click.pass_context
def dev_server(ctx: click.Context, state_dir: Path | None) -> None:
    """Manage a local Letta server (installed and started by letta-apply itself).

    The server and its PostgreSQL live in their own environment under ~/.cache/letta-apply;
    the first `up` installs them (~1 GB, a few minutes).
    """
    from reconciler.devserver import default_state_dir

    ctx.ensure_object(dict)["dev_server_dir"] = state_dir or default_state_dir()


@dev_server.command()
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    help="Port to listen on (127.0.0.1) [default: a free one].",
)
@click.option(
    "--timeout",
    type=Seconds(),
    default=240.0,
    show_default=True,
    help="Seconds to wait for the server to be ready (a first install comes on top).",
)
@click.pass_context
def up(ctx: click.Context, port: int | None, timeout: float) -> None:
    """Start the server; print `export LETTA_BASE_URL=...` on stdout for `eval`."""
    began = time.monotonic()
    # A terminated `up` (CI timeout, `kill`) must stop what it started, as Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        info = _server(ctx, port).up(timeout=timeout)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if info.started:
        _progress(
            f"Letta server {info.version} ready at {info.url} in {time.monotonic() - began:.0f} s"
        )
    else:
        _progress(f"Letta server already running at {info.url}")
    _progress(
        f"  pids: server {info.server_pid}, postgres {info.postgres_pid}; log: {info.log_path}"
    )
    _progress(_embedding_line(info))
    click.echo(f"export LETTA_BASE_URL={info.url}")


@dev_server.command()
@click.pass_context
def down(ctx: click.Context) -> None:
    """Stop the server and its database (the data is kept for the next `up`)."""
    stopped = _server(ctx).down()
    if stopped:
        say(f"Stopped (pids {', '.join(str(pid) for pid in stopped)}).")
    else:
        say("Not running.")


@dev_server.command()
@click.pass_context
def status(ctx: click.Context) -> ExitCode:
    """Show whether the server runs, its URL and health; exit 1 if it does not run."""
    info = _server(ctx).status()
    if info is None:
        say("Not running.")
        return ExitCode.ERROR
    for line in _describe(info):
        say(line)
    return ExitCode.OK


def _describe(info: ServerInfo) -> list[str]:
    health = f"healthy, Letta {info.version}" if info.version else "NOT answering /v1/health/"
    return [
        f"Running at {target_label(info.url)} ({health})",
        f"  pids: server {info.server_pid}, postgres {info.postgres_pid}",
        _embedding_line(info),
        f"  data: {info.data_dir}",
        f"  log:  {info.log_path}",
    ]


def _embedding_line(info: ServerInfo) -> str:
    if not info.embedding_url:
        return (
            "  embeddings: none (started by an older letta-apply; restart it for the local model)"
        )
    return (
        f"  embeddings: {info.embedding_handle} (the default) at {info.embedding_url}, "
        f"pid {info.embedding_pid}"
    )


@dev_server.command()
@click.option(
    "-n",
    "--lines",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="How many of the last log lines to show.",
)
@click.option("--path", "path_only", is_flag=True, help="Print only the log file's path.")
@click.pass_context
def logs(ctx: click.Context, lines: int, path_only: bool) -> None:
    """Show the end of the server's log."""
    log = _server(ctx).logs()
    if path_only:
        say(str(log))
        return
    if not log.exists():
        say(f"No log yet ({log}).", err=True)
        return
    # The server logs what agents and apps sent it: each line escaped like any server text.
    shown = log.read_text(errors="replace").splitlines()[-lines:] if lines else []
    click.echo("\n".join(clean(line) for line in shown))
    say(f"-- {log}", err=True)
