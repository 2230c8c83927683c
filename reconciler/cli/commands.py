"""The main commands: run (plan then apply), plan, apply, outputs, unlock."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from reconciler.adopt import adopt
from reconciler.apply import apply_plan
from reconciler.apply.executor import check_guards
from reconciler.apply.lock import StackLock, force_unlock
from reconciler.cli.output import Console
from reconciler.client import LettaApi, Target
from reconciler.desired import DesiredState
from reconciler.errors import LettaApplyError, NotConverged
from reconciler.live.reader import read_live
from reconciler.manifest import load_desired
from reconciler.plan.model import Plan
from reconciler.plan.serialize import plan_from_json
from reconciler.render import render_json, render_markdown, render_text
from reconciler.workflow import (
    ApplyOptions,
    apply_saved_plan,
    check_target,
    make_plan,
    outputs,
    preflight,
    render_outputs,
)

DEFAULT_BASE_URL = "http://localhost:8283"
PATHS = click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))


def target_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--base-url / LETTA_BASE_URL, LETTA_API_KEY, --project-id / LETTA_PROJECT_ID."""
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
            "--parallelism",
            default=8,
            show_default=True,
            type=click.IntRange(1, 64),
            help="Requests in flight at once.",
        ),
        click.option(
            "--timeout",
            default=60.0,
            show_default=True,
            type=float,
            help="Seconds to wait for one request.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _connect(base_url: str, project_id: str | None, timeout: float) -> LettaApi:
    # The key is read from the environment only, so it never shows in process lists or logs.
    key = os.environ.get("LETTA_API_KEY") or None
    return LettaApi(Target(base_url=base_url, api_key=key, project_id=project_id, timeout=timeout))


def _prepare(
    paths: Sequence[Path], base_url: str, project_id: str | None, timeout: float
) -> tuple[DesiredState, LettaApi]:
    desired = load_desired(list(paths))  # validation first: bad input sends no request
    api = _connect(base_url, project_id, timeout)
    preflight(api, desired)
    return desired, api


@click.command("run", hidden=True)
@PATHS
@target_options
@click.option("--prune/--no-prune", default=None, help="Delete owned resources no longer declared.")
@click.option("--allow-delete", is_flag=True, help="Without a terminal, allow deletions.")
@click.option(
    "--allow-mass-delete",
    is_flag=True,
    help="Allow deleting more than the stack's maxDeletePercent.",
)
@click.option("--auto-approve", "-y", is_flag=True, help="Apply without asking at a terminal.")
@click.option("--lock-timeout", default=0.0, type=float, help="Seconds to wait for the lock.")
def run(
    paths: tuple[Path, ...],
    base_url: str,
    project_id: str | None,
    parallelism: int,
    timeout: float,
    prune: bool | None,
    allow_delete: bool,
    allow_mass_delete: bool,
    auto_approve: bool,
    lock_timeout: float,
) -> None:
    """Plan, show the plan, and apply it (asks first at a terminal)."""
    console = Console.for_streams()
    desired, api = _prepare(paths, base_url, project_id, timeout)
    with StackLock(api, desired.stack, timeout=lock_timeout, notify=console.err):
        plan, live = make_plan(
            api, desired, prune=prune, parallelism=parallelism, progress=console.status
        )
        console.end_status()
        console.out(render_text(plan, color=console.color))
        if not plan.has_changes:
            _fail_if_blocked(plan)
            return
        interactive = console.interactive and not auto_approve
        check_guards(
            plan, allow_destructive=allow_delete or interactive, allow_mass_delete=allow_mass_delete
        )
        if interactive and not click.confirm("Apply these changes?", default=False):
            raise click.exceptions.Exit(1)
        results = apply_plan(api, plan, live, parallelism=parallelism, progress=console.progress)
    console.finish(results)
    _fail_if_blocked(plan)


def _fail_if_blocked(result: Plan) -> None:
    """A run that leaves declared resources uncreated has not converged: say so, exit 3."""
    if result.blocked:
        addresses = ", ".join(str(n.address) for n in result.blocked)
        raise NotConverged(
            f"{len(result.blocked)} declared resource(s) blocked by resources this stack does "
            f"not own: {addresses}; adopt them (`letta-apply adopt`) or remove them"
        )


@click.command("plan")
@PATHS
@target_options
@click.option("--prune/--no-prune", default=None, help="Plan deletion of undeclared resources.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
)
@click.option("--out", type=click.Path(path_type=Path), help="Save the plan for `apply`.")
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 2 when there are, 1 on error.",
)
def plan(
    paths: tuple[Path, ...],
    base_url: str,
    project_id: str | None,
    parallelism: int,
    timeout: float,
    prune: bool | None,
    fmt: str,
    out: Path | None,
    detailed_exitcode: bool,
) -> None:
    """Show what applying the manifests would change. Changes nothing."""
    console = Console.for_streams()
    desired, api = _prepare(paths, base_url, project_id, timeout)
    result, _live = make_plan(
        api, desired, prune=prune, parallelism=parallelism, progress=console.status
    )
    console.end_status()
    console.out(_render(result, fmt, console.color))
    if out is not None:
        out.write_text(render_json(result) + "\n", encoding="utf-8")
        console.err(f"Saved the plan to {out}; apply it with `letta-apply apply {out}`.")
    if detailed_exitcode and (result.has_changes or result.blocked):
        raise click.exceptions.Exit(2)


def _render(result: Plan, fmt: str, color: bool) -> str:
    match fmt:
        case "markdown":
            return render_markdown(result)
        case "json":
            return render_json(result)
        case _:
            return render_text(result, color=color)


@click.command("apply")
@click.argument("planfile", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@target_options
@click.option("--allow-delete", is_flag=True, help="Allow the plan's deletions.")
@click.option(
    "--allow-mass-delete",
    is_flag=True,
    help="Allow deleting more than the stack's maxDeletePercent.",
)
@click.option("--lock-timeout", default=0.0, type=float, help="Seconds to wait for the lock.")
def apply(
    planfile: Path,
    base_url: str,
    project_id: str | None,
    parallelism: int,
    timeout: float,
    allow_delete: bool,
    allow_mass_delete: bool,
    lock_timeout: float,
) -> None:
    """Apply a saved plan exactly; refuse if the server changed since it was made."""
    console = Console.for_streams()
    saved = _read_plan(planfile)
    api = _connect(base_url if base_url != DEFAULT_BASE_URL else saved.target, project_id, timeout)
    check_target(saved, api.target)
    options = ApplyOptions(allow_delete, allow_mass_delete, parallelism, lock_timeout)
    console.err(f"Applying {len(saved.changes)} change(s) to {saved.target} (stack {saved.stack}).")
    results = apply_saved_plan(api, saved, options, progress=console.progress, notify=console.err)
    console.finish(results)


def _read_plan(path: Path) -> Plan:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LettaApplyError(f"{path}: cannot read the saved plan ({exc})") from exc
    try:
        return plan_from_json(text)
    except LettaApplyError as exc:
        raise LettaApplyError(f"{path}: {exc}") from exc


@click.command("outputs")
@PATHS
@target_options
@click.option(
    "--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True
)
def outputs_command(
    paths: tuple[Path, ...],
    base_url: str,
    project_id: str | None,
    parallelism: int,
    timeout: float,
    fmt: str,
) -> None:
    """Print user id -> agent / conversation / identity ids, for the app's database."""
    desired = load_desired(list(paths))
    api = _connect(base_url, project_id, timeout)
    live = read_live(api, desired.stack, parallelism=parallelism)
    sys.stdout.write(render_outputs(desired.stack, outputs(desired, live), fmt))


@click.command("unlock")
@PATHS
@target_options
def unlock(
    paths: tuple[Path, ...], base_url: str, project_id: str | None, parallelism: int, timeout: float
) -> None:
    """Remove the stack's apply lock left behind by an apply that died."""
    desired = load_desired(list(paths))
    removed = force_unlock(_connect(base_url, project_id, timeout), desired.stack)
    click.echo(f"Removed {removed} lock(s) for stack {desired.stack}.")


@click.command("adopt")
@PATHS
@target_options
@click.option("--address", required=True, help="The declared address, e.g. agent/user:alice.")
@click.option("--id", "resource_id", required=True, help="The server id of the resource.")
def adopt_command(
    paths: tuple[Path, ...],
    base_url: str,
    project_id: str | None,
    parallelism: int,
    timeout: float,
    address: str,
    resource_id: str,
) -> None:
    """Take an existing resource under the stack's ownership (the next apply converges it)."""
    desired = load_desired(list(paths))
    api = _connect(base_url, project_id, timeout)
    with StackLock(api, desired.stack):
        click.echo(adopt(api, desired, address, resource_id))


COMMANDS: list[click.Command] = [run, plan, apply, outputs_command, unlock, adopt_command]
