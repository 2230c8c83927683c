"""The commands that talk to a server: run (plan then apply), destroy, plan, apply, outputs,
unlock, adopt, audit, inactive (and export and show, in their own modules).

Each parses its options, calls the library and prints. The library is imported inside each
command: it brings in the Letta SDK, which alone takes several times longer to import than
everything `--help` and `validate` need.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler import collector
from reconciler.cli.export import export_command
from reconciler.cli.options import (
    Connection,
    connection_options,
    lock_timeout_option,
    parallelism_option,
    paths_argument,
    root_option,
    scope_options,
)
from reconciler.cli.output import Console, say
from reconciler.cli.planfile import out_option
from reconciler.exitcodes import ExitCode
from reconciler.text import clean, target_label

if TYPE_CHECKING:
    from reconciler.desired import DesiredState
    from reconciler.plan.model import Plan
    from reconciler.scope import Scope
    from reconciler.workflow import Hooks

allow_delete_option = click.option(
    "--allow-delete", is_flag=True, help="Allow deletions (a person asked at a terminal may too)."
)


adopt_option = click.option(
    "--adopt",
    is_flag=True,
    help="Take over existing resources that hold declared keys (a user's tag, an identity's "
    "key, a shared agent's name) instead of reporting them as in the way; never another "
    "stack's.",
)

allow_mass_delete_option = click.option(
    "--allow-mass-delete",
    is_flag=True,
    help="Allow deleting more than the stack's maxDeletePercent.",
)


@click.command("run", short_help="Plan and apply (the default: `letta-apply PATHS`).")
@paths_argument
@root_option
@connection_options
@parallelism_option
@click.option("--prune/--no-prune", default=None, help="Delete owned resources no longer declared.")
@allow_delete_option
@allow_mass_delete_option
@click.option("--auto-approve", "-y", is_flag=True, help="Apply without asking at a terminal.")
@lock_timeout_option
@scope_options
@adopt_option
def run(
    paths: tuple[Path, ...],
    root: Path | None,
    connection: Connection,
    parallelism: int,
    prune: bool | None,
    allow_delete: bool,
    allow_mass_delete: bool,
    auto_approve: bool,
    lock_timeout: float,
    scope: Scope,
    adopt: bool,
) -> None:
    """Plan, show the plan, and apply it (asks first at a terminal).

    `letta-apply PATHS` is short for `letta-apply run PATHS`.
    """
    from reconciler.manifest import load_desired
    from reconciler.scope import cut
    from reconciler.workflow import ApplyOptions, plan_and_apply

    _check_adopt(adopt, scope)
    console = Console.for_streams()
    desired = load_desired(paths, root)  # validation first: bad input sends no request
    scoped = cut(desired, scope) if scope else None
    options = ApplyOptions(allow_delete, allow_mass_delete, parallelism, lock_timeout)
    hooks = _hooks(console, show=lambda plan: _show(console, plan), ask=not auto_approve)
    with connection.open() as api:
        plan_and_apply(api, desired, options, hooks, prune=prune, scoped=scoped, adopt=adopt)


def _check_adopt(adopt: bool, scope: Scope) -> None:
    """Adoption looks across the whole stack: not within a scope."""
    if adopt and scope:
        raise click.UsageError("--adopt plans the whole stack; drop --target/--users")


def _check_destroy(destroy: bool, scope: Scope, adopt: bool) -> None:
    """Destroying removes the whole stack: not a scope of it, and adopts nothing."""
    if destroy and (scope or adopt):
        raise click.UsageError(
            "--destroy plans the whole stack's removal; drop --target/--users/--adopt"
        )


@click.command("destroy")
@paths_argument
@root_option
@connection_options
@parallelism_option
@allow_delete_option
@allow_mass_delete_option
@click.option("--auto-approve", "-y", is_flag=True, help="Apply without asking at a terminal.")
@lock_timeout_option
def destroy(
    paths: tuple[Path, ...],
    root: Path | None,
    connection: Connection,
    parallelism: int,
    allow_delete: bool,
    allow_mass_delete: bool,
    auto_approve: bool,
    lock_timeout: float,
) -> None:
    """Plan the removal of everything the stack owns, show it, and apply it (asks first at a
    terminal). Protected resources are kept. The guards of any deletion hold: --allow-delete
    in CI, and --allow-mass-delete past the stack's maxDeletePercent. `plan --destroy`
    shows the plan alone."""
    from reconciler.manifest import load_desired
    from reconciler.workflow import ApplyOptions, plan_and_apply

    console = Console.for_streams()
    emptied = load_desired(paths, root).emptied()
    options = ApplyOptions(allow_delete, allow_mass_delete, parallelism, lock_timeout)
    hooks = _hooks(console, show=lambda plan: _show(console, plan), ask=not auto_approve)
    with connection.open() as api:
        plan_and_apply(api, emptied, options, hooks, prune=True)


def _hooks(console: Console, *, show: Callable[[Plan], None], ask: bool) -> Hooks:
    """The console's sinks; a prompt only when a person is at the terminal and `ask`."""
    from reconciler.cli.interrupts import graceful_stop
    from reconciler.workflow import Hooks

    def confirm(_plan: Plan) -> bool:
        return click.confirm("Apply these changes?", default=False)

    return Hooks(
        status=console.status,
        notify=console.err,
        show=show,
        confirm=confirm if ask and console.interactive else None,
        progress=console.progress,
        finished=console.finish,
        stopping=graceful_stop,
    )


def _show(console: Console, plan: Plan) -> None:
    from reconciler.render import render_text

    console.end_status()
    console.out(render_text(plan, color=console.color))


@click.command("plan")
@paths_argument
@root_option
@connection_options
@parallelism_option
@click.option("--prune/--no-prune", default=None, help="Plan deletion of undeclared resources.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
)
@out_option
@click.option(
    "--redact-values",
    "redact",
    is_flag=True,
    help="Show memory block values in markdown and JSON as their length only "
    "(also `review.redactValues` in the manifest). A plan saved with --out keeps them.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 2 when there are, 1 on error.",
)
@scope_options
@adopt_option
@click.option(
    "--destroy",
    is_flag=True,
    help="Plan the removal of everything the stack owns (protected resources kept), as "
    "`letta-apply destroy` would apply it.",
)
def plan(
    paths: tuple[Path, ...],
    root: Path | None,
    connection: Connection,
    parallelism: int,
    prune: bool | None,
    fmt: str,
    out: Path | None,
    detailed_exitcode: bool,
    redact: bool,
    scope: Scope,
    adopt: bool,
    destroy: bool,
) -> ExitCode:
    """Show what applying the manifests would change. Changes nothing."""
    with collector.paused():  # modules, which make no garbage
        from reconciler.manifest import open_stack

    _check_adopt(adopt, scope)
    if scope and out is not None:
        raise click.UsageError(
            "--out saves a plan for `apply`, which needs a plan of the whole stack; "
            "drop --target/--users, or apply the scope with `letta-apply PATHS --target ...`"
        )
    _check_destroy(destroy, scope, adopt)
    console = Console.for_streams()
    # Validation first, users files included: bad input sends no request, not even a read.
    # The collector stays off until what was read is frozen: turned on in between, it would
    # go through every object of every user once more (15 ms at 20,000 users).
    with collector.paused():
        opened = open_stack(paths, root)
        loaded = _kept(opened.desired())
    outline = None if scope or destroy else opened.outline
    # Only a plan saved or written as JSON carries the live state's digest and owned count.
    summarized = out is not None or fmt == "json"
    if outline is not None:  # the whole stack: the pre-flight and every kind's read at once
        with connection.open() as api:
            from reconciler.kinds.first_pages import ask_first_pages

            ask_first_pages(api, outline, loaded)
            _load_planning()  # while the server answers them
            from reconciler.planning import plan_while_loading

            desired, result, _live = plan_while_loading(
                api,
                outline,
                lambda: loaded,
                prune=prune,
                parallelism=parallelism,
                progress=console.status,
                adopt=adopt,
                summarized=summarized,
                kept=True,
            )
    else:
        from reconciler.planning import make_plan, preflight
        from reconciler.scope import cut

        desired = loaded
        if destroy:
            desired, prune = desired.emptied(), True
        scoped = cut(desired, scope) if scope else None
        with connection.open() as api:
            preflight(api, scoped.desired if scoped else desired, models=scoped is None)
            result, _live = make_plan(
                api,
                desired,
                prune=prune,
                parallelism=parallelism,
                progress=console.status,
                scoped=scoped,
                adopt=adopt,
                summarized=summarized,
            )
    console.end_status()
    from reconciler.plan.signing import UNSIGNED, sign_plan
    from reconciler.planfile import save_plan
    from reconciler.render import render_json
    from reconciler.render.redact import redact_values

    signature = None
    if out is not None:  # saved before anything is shown: a failure leaves nothing half done
        signature = sign_plan(result, connection.secrets)
        save_plan(out, render_json(result, signature) + "\n")
    # The saved plan keeps the values (applying needs them); what is shown may be read widely.
    shown = redact_values(result) if (redact or desired.redact_values) and fmt != "text" else result
    console.out(_render(shown, fmt, console.color))
    if out is not None:
        console.err(f"Saved the plan to {out}; apply it with `letta-apply apply {out}`.")
        if signature is None:
            console.err(f"Note: {UNSIGNED}.")
    if detailed_exitcode and (result.has_changes or result.blocked):
        return ExitCode.CHANGES
    return ExitCode.OK


def _load_planning() -> None:
    """Import the code that plans and shows plans. It lives as long as the process and makes
    no garbage: imported with the collector off, then frozen like the imports before it (see
    `Connection.open`)."""
    with collector.paused():
        import reconciler.plan.signing
        import reconciler.planfile
        import reconciler.planning
        import reconciler.render.redact  # noqa: F401
    gc.freeze()


def _kept(desired: DesiredState) -> DesiredState:
    """The desired state lives as long as the process: frozen like the imports (see
    `Connection.open`), the collector never scans it (nor what reading the manifests made
    before: a plan's command makes no reference cycles there)."""
    gc.freeze()
    return desired


def _render(result: Plan, fmt: str, color: bool) -> str:
    from reconciler.render import render_json, render_markdown, render_text

    match fmt:
        case "markdown":
            return render_markdown(result)
        case "json":
            return render_json(result)
        case _:
            return render_text(result, color=color)


def _saved_plan_path(_ctx: click.Context, _param: click.Parameter, path: Path) -> Path:
    """A folder or a YAML file is a stack, not a saved plan: say what to run instead."""
    if path.is_dir() or path.suffix.lower() in (".yaml", ".yml"):
        raise click.BadParameter(
            f"{path} is a stack's manifests, not a saved plan: to plan and apply it, run "
            f"`letta-apply {path}`; to review first, `letta-apply plan {path} --out plan.json` "
            "then `letta-apply apply plan.json`"
        )
    return path


@click.command("apply")
@click.argument("planfile", type=click.Path(exists=True, path_type=Path), callback=_saved_plan_path)
@connection_options
@parallelism_option
@allow_delete_option
@allow_mass_delete_option
@lock_timeout_option
def apply(
    planfile: Path,
    connection: Connection,
    parallelism: int,
    allow_delete: bool,
    allow_mass_delete: bool,
    lock_timeout: float,
) -> None:
    """Apply a saved plan exactly; refuse if the server changed since it was made.

    The plan is sent to the configured server (--base-url, LETTA_BASE_URL) only: a plan made
    for another server is refused before any request.
    """
    from reconciler.plan.signing import UNSIGNED, check_signature
    from reconciler.planfile import read_plan
    from reconciler.workflow import ApplyOptions, apply_saved_plan

    console = Console.for_streams()
    saved = read_plan(planfile)
    checked = check_signature(saved, connection.secrets)
    if saved.signature is None:
        console.err(f"Note: {UNSIGNED}.")
    options = ApplyOptions(allow_delete, allow_mass_delete, parallelism, lock_timeout)
    hooks = _hooks(console, show=lambda plan: _announce(console, plan), ask=False)
    with connection.open() as api:
        apply_saved_plan(api, checked, options, hooks)


def _announce(console: Console, plan: Plan) -> None:
    console.end_status()
    target = target_label(plan.target)
    console.err(f"Applying {len(plan.changes)} change(s) to {target} (stack {plan.stack}).")


@click.command("outputs")
@paths_argument
@root_option
@connection_options
@parallelism_option
@click.option(
    "--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True
)
@click.option(
    "--require-all",
    is_flag=True,
    help="Exit 1, printing no ids, when a declared user's resources are not on the server yet.",
)
def outputs_command(
    paths: tuple[Path, ...],
    root: Path | None,
    connection: Connection,
    parallelism: int,
    fmt: str,
    require_all: bool,
) -> ExitCode:
    """Print user id -> agent / conversation / identity ids, for the app's database.

    Users whose resources are not on the server yet (the stack is not applied) have empty ids,
    and stderr names them; with --require-all nothing is printed and the exit code is 1.
    """
    from reconciler.kinds.read import read_live
    from reconciler.manifest import load_desired
    from reconciler.workflow import claimed_twice_lines, not_created, outputs, render_outputs

    desired = load_desired(paths, root)
    with connection.open() as api:
        # Only declared users are output: no need to list every identity for prune.
        live = read_live(api, desired.stack, desired, parallelism=parallelism, prune=False)
    for line in claimed_twice_lines(live):
        say(clean(line), err=True)
    rows = outputs(desired, live)
    missing = not_created(rows)
    if missing:
        say(_not_created_message(missing, len(rows), paths, require_all), err=True)
        if require_all:
            return ExitCode.ERROR
    sys.stdout.write(render_outputs(desired.stack, rows, fmt))
    return ExitCode.OK


def _not_created_message(
    missing: list[str], total: int, paths: tuple[Path, ...], refused: bool
) -> str:
    shown = ", ".join(missing[:MAX_NAMED_USERS])
    if len(missing) > MAX_NAMED_USERS:
        shown += f" and {len(missing) - MAX_NAMED_USERS:,} more"
    stack = " ".join(str(path) for path in paths)
    outcome = "no ids printed (--require-all)" if refused else "their ids are empty"
    return (
        f"{'Error: ' if refused else 'Warning: '}{len(missing):,} of {total:,} declared users "
        f"are not on the server yet ({shown}): {outcome}; apply the stack first "
        f"(`letta-apply {stack}`)"
    )


MAX_NAMED_USERS = 10
"""Users named in the warning about users not created yet; the rest are counted."""


@click.command("unlock")
@paths_argument
@root_option
@connection_options
def unlock(paths: tuple[Path, ...], root: Path | None, connection: Connection) -> None:
    """Remove the stack's apply lock left behind by an apply that died."""
    from reconciler.apply.lock import force_unlock
    from reconciler.manifest import load_desired

    desired = load_desired(paths, root)
    with connection.open() as api:
        removed = force_unlock(api, desired.stack)
    say(f"Removed {removed} lock(s) for stack {desired.stack}.")


@click.command("adopt")
@paths_argument
@root_option
@connection_options
@click.option("--address", required=True, help="The declared address, e.g. agent/user:alice.")
@click.option("--id", "resource_id", required=True, help="The server id of the resource.")
def adopt_command(
    paths: tuple[Path, ...],
    root: Path | None,
    connection: Connection,
    address: str,
    resource_id: str,
) -> None:
    """Take an existing resource under the stack's ownership (the next apply converges it)."""
    from reconciler.adopt import adopt
    from reconciler.apply.lock import StackLock
    from reconciler.manifest import load_desired

    desired = load_desired(paths, root)
    with connection.open() as api, StackLock(api, desired.stack):
        say(adopt(api, desired, address, resource_id))


@click.command("audit")
@paths_argument
@root_option
@connection_options
@parallelism_option
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def audit_command(
    paths: tuple[Path, ...], root: Path | None, connection: Connection, parallelism: int, fmt: str
) -> ExitCode:
    """Check that users are kept apart on the server: one user tag per dedicated agent, each
    user tag on one agent, identities and conversations only where declared, complete
    ownership records. Exit code 2 when a rule is broken."""
    from reconciler.audit import audit, render
    from reconciler.kinds.agent import read_user_tagged
    from reconciler.kinds.read import read_live
    from reconciler.manifest import load_desired

    desired = load_desired(paths, root)
    tags = sorted({spec.user_tag for spec in desired.agents if spec.user_tag})
    with connection.open() as api:
        live = read_live(api, desired.stack, desired, parallelism=parallelism)
        tagged = read_user_tagged(api, desired.stack, tags, parallelism)
    violations = audit(desired, live, tagged)
    sys.stdout.write(render(desired.stack, violations, fmt))
    return ExitCode.VIOLATIONS if violations else ExitCode.OK


@click.command("inactive")
@paths_argument
@root_option
@connection_options
@parallelism_option
@click.option(
    "--days",
    required=True,
    type=click.IntRange(min=1),
    help="List users whose agent or conversation was not used for this many days or more.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--move-to",
    metavar="AGENT",
    help="Move inactive dedicated users to this shared agent (a conversation each) instead "
    "of removing them.",
)
@click.option("--write", is_flag=True, help="Write the edit to the manifest files.")
def inactive_command(
    paths: tuple[Path, ...],
    root: Path | None,
    connection: Connection,
    parallelism: int,
    days: int,
    fmt: str,
    move_to: str | None,
    write: bool,
) -> ExitCode:
    """List dedicated agents and conversations not used for --days, and the manifest edit
    removing their users (or moving them with --move-to): printed as a diff, written to the
    files with --write, for review in a pull request. Changes nothing on the server. Exit
    code 0 whether or not anyone is inactive."""
    from datetime import UTC, datetime

    from reconciler.inactive import check_move_target, render, report
    from reconciler.kinds.read_activity import read_activity
    from reconciler.manifest import load_declared
    from reconciler.manifest.edits import write as write_edits

    declared = load_declared(paths, root)
    if move_to is not None:
        check_move_target(declared, move_to)
    with connection.open() as api:
        activity = read_activity(api, declared.desired.stack, parallelism=parallelism)
    result = report(declared, activity, datetime.now(UTC), days, move_to)
    if write:
        write_edits(result.edits, declared.root)
    sys.stdout.write(render(result, fmt, written=write))
    return ExitCode.OK


COMMANDS: list[click.Command] = [
    run,
    destroy,
    plan,
    apply,
    outputs_command,
    unlock,
    adopt_command,
    audit_command,
    inactive_command,
    export_command,
]
