"""Options shared by the commands: the stack's paths and root, where the server is, how many
requests.

Connection options open a client only when a command runs, so parsing them costs nothing.
With neither --base-url nor LETTA_BASE_URL, the local dev server is used when one runs.
"""

from __future__ import annotations

import functools
import gc
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click

from reconciler import collector
from reconciler.cli.output import say
from reconciler.errors import ConnectionFailed, ServerError
from reconciler.text import api_path_hint, redact_url

if TYPE_CHECKING:
    from reconciler.client import LettaApi
    from reconciler.secrets import SecretAccess

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


class Seconds(click.ParamType[float]):
    """A finite number of seconds: more than 0, or (with `zero_ok`) 0 or more."""

    name = "seconds"

    def __init__(self, *, zero_ok: bool = False) -> None:
        self.zero_ok = zero_ok

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if math.isfinite(seconds) and (seconds > 0 or (self.zero_ok and seconds == 0)):
            return seconds
        wanted = "0 or more" if self.zero_ok else "more than 0"
        self.fail(f"{value!r} is not a number of seconds {wanted}", param, ctx)


lock_timeout_option = click.option(
    "--lock-timeout", default=0.0, type=Seconds(zero_ok=True), help="Seconds to wait for the lock."
)


def _base_url(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """Refuse, before any request, a server that is not an http(s) URL with a host."""
    if value is None:
        return None
    if not _is_http_url(value):
        raise click.BadParameter(f"{redact_url(value)!r} is not an http:// or https:// URL")
    return value


def _is_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        port = parts.port  # raises for a port that is not a number from 0 to 65535
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and port != 0


class Origin(Enum):
    """Where the server's URL came from, which decides what to suggest when it cannot be
    reached."""

    GIVEN = "given"
    """--base-url or LETTA_BASE_URL."""
    DEV_SERVER = "dev-server"
    """Neither was set, and `letta-apply dev-server` runs a server."""
    DEFAULT = "default"
    """Neither was set and no dev server runs: Letta's default address."""


@dataclass(frozen=True)
class Connection:
    """The configured server: --base-url or LETTA_BASE_URL, --project-id, --timeout.

    The API key is read from LETTA_API_KEY only, so it never shows in process lists or logs.
    """

    base_url: str
    project_id: str | None
    timeout: float
    max_rps: float | None = None
    origin: Origin = Origin.GIVEN
    allow_env: tuple[str, ...] = ()
    """Patterns of the variables manifests may read (with those of LETTA_APPLY_ALLOW_ENV)."""

    @classmethod
    def resolve(
        cls,
        base_url: str | None,
        project_id: str | None,
        timeout: float,
        max_rps: float | None = None,
        allow_env: tuple[str, ...] = (),
    ) -> Connection:
        """The server given, else the running dev server, else Letta's default address."""
        if base_url is not None:
            return cls(base_url, project_id, timeout, max_rps, Origin.GIVEN, allow_env)
        from reconciler.devserver import default_state_dir, running_url

        state_dir = os.environ.get("LETTA_APPLY_DEV_SERVER_DIR")
        found = running_url(Path(state_dir) if state_dir else default_state_dir())
        if found is None:
            return cls(DEFAULT_BASE_URL, project_id, timeout, max_rps, Origin.DEFAULT, allow_env)
        return cls(found, project_id, timeout, max_rps, Origin.DEV_SERVER, allow_env)

    def unreachable_hint(self) -> str:
        """What to do when nothing answers at the server's URL."""
        label = redact_url(self.base_url)
        match self.origin:
            case Origin.GIVEN:
                return (
                    f"check the URL given by --base-url or LETTA_BASE_URL ({label}); for a "
                    "local server run `letta-apply dev-server up`, which prints the URL to use"
                )
            case Origin.DEV_SERVER:
                return (
                    "the local dev server does not answer: see `letta-apply dev-server status` "
                    "and `letta-apply dev-server logs`, or set LETTA_BASE_URL to another server"
                )
            case Origin.DEFAULT:
                return (
                    f"LETTA_BASE_URL is not set and no local dev server runs, so {label} was "
                    "tried: start a local server with `letta-apply dev-server up`, or set "
                    "LETTA_BASE_URL (or --base-url) to your server's URL"
                )

    def open(self) -> LettaApi:
        """A client for this server (a context manager that closes its connections); the dev
        server found without being named is announced in one line on stderr."""
        with collector.paused():  # modules, which make no garbage
            from reconciler.client import LettaApi, Target  # only when a command connects

        if self.origin is Origin.DEV_SERVER:
            say(
                f"Using the local dev server at {self.base_url} (LETTA_BASE_URL is not set).",
                err=True,
            )

        # What was imported lives as long as the process: frozen, the collector stops scanning
        # the SDK's many objects again and again while the server's pages are read.
        gc.freeze()
        target = Target(
            self.base_url,
            api_key=_api_key(),
            project_id=self.project_id,
            timeout=self.timeout,
            max_rps=self.max_rps,
        )
        return LettaApi(target, secrets=self.secrets)

    @functools.cached_property
    def secrets(self) -> SecretAccess:
        """The variables manifests may read (`--allow-env`, `LETTA_APPLY_ALLOW_ENV`) and the
        operator's key (`reconciler.keys`), one for the whole command."""
        from reconciler.environ import EnvGrant
        from reconciler.keys import OperatorKey
        from reconciler.secrets import SecretAccess

        return SecretAccess(EnvGrant.from_operator(self.allow_env), OperatorKey(_api_key()))


def _api_key() -> str | None:
    return os.environ.get("LETTA_API_KEY") or None


def connection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the connection options; the command receives them as one `connection` argument."""

    @functools.wraps(command)
    def with_connection(
        *args: Any,
        base_url: str | None,
        project_id: str | None,
        timeout: float,
        max_rps: float | None,
        allow_env: tuple[str, ...],
        **kwargs: Any,
    ) -> Any:
        connection = Connection.resolve(base_url, project_id, timeout, max_rps, allow_env)
        try:
            return command(*args, connection=connection, **kwargs)
        except ConnectionFailed as exc:
            exc.add_note(connection.unreachable_hint())
            raise
        except ServerError as exc:
            hint = api_path_hint(redact_url(connection.base_url))
            if exc.status == 404 and hint:
                exc.add_note(hint)
            raise

    options = [
        click.option(
            "--base-url",
            envvar="LETTA_BASE_URL",
            show_envvar=True,
            callback=_base_url,
            help="The Letta server [default: the local dev server when it runs "
            f"(`letta-apply dev-server up`), else {DEFAULT_BASE_URL}].",
        ),
        click.option(
            "--project-id", envvar="LETTA_PROJECT_ID", show_envvar=True, help="Letta Cloud project."
        ),
        click.option(
            "--timeout",
            default=60.0,
            show_default=True,
            type=Seconds(),
            help="Seconds to wait for one request.",
        ),
        click.option(
            "--max-rps",
            envvar="LETTA_APPLY_MAX_RPS",
            show_envvar=True,
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            help="At most this many requests a second to the server, pages and retries "
            "included (default: no limit).",
        ),
        click.option(
            "--allow-env",
            "allow_env",
            multiple=True,
            metavar="PATTERNS",
            help="Environment variables the manifests may read (valueFromEnv): names or "
            "patterns such as 'SHOP_*', separated by commas (repeatable; added to those of "
            "LETTA_APPLY_ALLOW_ENV). LETTA_*, GITHUB_*, ACTIONS_* and RUNNER_* never.",
        ),
    ]
    decorated: Callable[..., Any] = with_connection
    for option in reversed(options):
        decorated = option(decorated)
    return decorated


def scope_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add `--target` and `--users`; the command receives them as one `scope` argument."""

    @functools.wraps(command)
    def with_scope(
        *args: Any, targets: tuple[str, ...], users: tuple[str, ...], **kwargs: Any
    ) -> Any:
        from reconciler.scope import Scope

        ids, origins = read_users(users, kwargs.get("paths", ()), kwargs.get("root"))
        return command(*args, scope=Scope(targets, ids, origins), **kwargs)

    decorated: Callable[..., Any] = click.option(
        "--users",
        "users",
        multiple=True,
        metavar="IDS|@FILE",
        help="Only these users' resources: ids separated by commas, or @FILE with one id per "
        "line (repeatable). The plan is partial and never deletes.",
    )(with_scope)
    return click.option(
        "--target",
        "targets",
        multiple=True,
        metavar="ADDRESS",
        help="Only resources at this address, a glob such as 'agent/user:team-a-*' "
        "(repeatable), and what they need. The plan is partial and never deletes.",
    )(decorated)


def read_users(
    values: tuple[str, ...], paths: tuple[Path, ...], root: Path | None
) -> tuple[tuple[str, ...], dict[str, str]]:
    """User ids from `--users`: ids separated by commas, or `@FILE` holding one id per line
    (`#` starts a comment), read like every file of the stack (inside its root, a regular
    file); and where each id read from a file is."""
    found: list[str] = []
    origins: dict[str, str] = {}
    for value in values:
        if value.startswith("@"):
            from reconciler.manifest.files import read_user_ids

            for user, where in read_user_ids(Path(value[1:]), paths, root):
                found.append(user)
                origins.setdefault(user, where)
        else:
            found.extend(part.strip() for part in value.split(",") if part.strip())
    return tuple(dict.fromkeys(found)), origins
