"""`letta-apply github plan|apply|drift PATHS`: the steps of the GitHub Action (`action.yml`).

Each reads the runner's environment, runs its job, and writes the step's outputs and job
summary, also when it fails.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.cli.options import (
    Connection,
    connection_options,
    lock_timeout_option,
    parallelism_option,
    paths_argument,
    root_option,
)
from reconciler.cli.output import say
from reconciler.errors import LettaApplyError
from reconciler.exitcodes import ExitCode

if TYPE_CHECKING:
    from reconciler.desired import DesiredState
    from reconciler.gitops.context import RunContext
    from reconciler.gitops.flows import Job, Outcome
    from reconciler.gitops.github import GitHub
    from reconciler.plan.model import Plan


def _job_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
        paths_argument,
        root_option,
        connection_options,
        parallelism_option,
        click.option(
            "--key",
            help="Names the stack's comment and drift issue (default: the paths as given).",
        ),
        click.option(
            "--redact-values/--show-values",
            "redact",
            default=True,
            show_default=True,
            help="Memory block values in comments, issues and the summary as their length only.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group("github")
def github() -> None:
    """Steps of a GitHub Actions job: plan comments, reviewed applies, drift issues.

    Read GITHUB_REPOSITORY, GITHUB_EVENT_PATH, GITHUB_TOKEN and the other variables a runner
    sets; see docs/gitops.md.
    """


@github.command("plan")
@_job_options
@click.option("--comment/--no-comment", default=True, show_default=True)
@click.option("--labels/--no-labels", default=True, show_default=True)
def plan_command(
    paths: tuple[Path, ...],
    root: Path | None,
    connection: Connection,
    parallelism: int,
    key: str | None,
    redact: bool,
    comment: bool,
    labels: bool,
) -> ExitCode:
    """Validate and plan; show the plan on the pull request (one comment per stack)."""
    from reconciler.gitops.flows import Job, plan_job
    from reconciler.manifest import load_desired

    ctx = _context(posts=comment or labels)
    job = Job(paths, root, key or _key(paths), redact, comment, labels, parallelism=parallelism)

    def plan(desired: DesiredState) -> Plan:
        return _plan(connection, desired, parallelism)

    with contextlib.ExitStack() as stack:
        # Posting nothing, the step needs no GitHub client (nor GITHUB_TOKEN).
        client = stack.enter_context(_github(ctx)) if comment or labels else None
        return _step(
            ctx,
            job,
            "plan",
            lambda folder: plan_job(
                ctx,
                job,
                folder,
                lambda: load_desired(paths, root),
                plan,
                client,
                _signer(connection),
            ),
        )


@github.command("apply")
@_job_options
@click.option("--allow-delete", is_flag=True, help="Apply reviewed plans that delete.")
@lock_timeout_option
def apply_command(
    paths: tuple[Path, ...],
    root: Path | None,
    connection: Connection,
    parallelism: int,
    key: str | None,
    redact: bool,
    allow_delete: bool,
    lock_timeout: float,
) -> ExitCode:
    """Apply the merged pull request's reviewed plan; refuse if the plan now differs."""
    from reconciler.gitops.flows import Job, apply_job
    from reconciler.kinds.read import read_live
    from reconciler.manifest import load_desired
    from reconciler.planning import make_plan, preflight
    from reconciler.workflow import (
        ApplyOptions,
        Hooks,
        apply_saved_plan,
        outputs,
        render_outputs,
    )

    ctx = _context()
    job = Job(paths, root, key or _key(paths), redact, allow_delete=allow_delete)
    options = ApplyOptions(allow_delete, False, parallelism, lock_timeout)
    hooks = Hooks(notify=lambda message: say(message, err=True))

    def run(folder: Path) -> Outcome:
        desired = load_desired(paths, root)
        with connection.open() as api, _github(ctx) as client:
            preflight(api, desired)
            plan, _live = make_plan(api, desired, prune=None, parallelism=parallelism)
            outcome = apply_job(
                ctx,
                job,
                folder,
                desired,
                plan,
                client,
                lambda reviewed: _applied(apply_saved_plan(api, reviewed, options, hooks)),
                _signer(connection),
            )
            if outcome.exit_code is ExitCode.OK:
                live = read_live(api, desired.stack, desired, parallelism=parallelism, prune=False)
                rows = outputs(desired, live)
                path = folder / "outputs.json"
                path.write_text(render_outputs(desired.stack, rows, "json"), encoding="utf-8")
                outcome.files["outputs"] = path
        return outcome

    return _step(ctx, job, "apply", run)


@github.command("drift")
@_job_options
def drift_command(
    paths: tuple[Path, ...],
    root: Path | None,
    connection: Connection,
    parallelism: int,
    key: str | None,
    redact: bool,
) -> ExitCode:
    """Plan; keep one issue open per stack while the server differs from the manifests."""
    from reconciler.gitops.flows import Job, drift_job
    from reconciler.manifest import load_desired

    ctx = _context()
    job = Job(paths, root, key or _key(paths), redact)

    def run(folder: Path) -> Outcome:
        desired = load_desired(paths, root)
        plan = _plan(connection, desired, parallelism)
        with _github(ctx) as client:
            return drift_job(ctx, job, folder, desired, plan, client, _signer(connection))

    return _step(ctx, job, "drift", run)


def _signer(connection: Connection) -> Callable[[Plan], str | None]:
    from reconciler.plan.signing import sign_plan

    return lambda plan: sign_plan(plan, connection.secrets)


def _applied(_results: object) -> None:
    return None


def _context(*, posts: bool = True) -> RunContext:
    from reconciler.gitops.context import RunContext

    return RunContext.from_environ(os.environ, posts=posts)


def _key(paths: tuple[Path, ...]) -> str:
    return " ".join(str(path) for path in paths)


def _plan(connection: Connection, desired: DesiredState, parallelism: int) -> Plan:
    from reconciler.planning import make_plan, preflight

    with connection.open() as api:
        preflight(api, desired)
        plan, _live = make_plan(api, desired, prune=None, parallelism=parallelism)
    return plan


class _github:
    """The GitHub client of the run, closed at the end."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.client: GitHub | None = None

    def __enter__(self) -> GitHub:
        from reconciler.gitops.github import GitHub

        token = self.ctx.token
        if token is None:
            raise LettaApplyError("GITHUB_TOKEN is not set: this step posts to GitHub")
        self.client = GitHub(self.ctx.api_url, token, self.ctx.repository, self.ctx.author)
        return self.client

    def __exit__(self, *_exc: object) -> None:
        if self.client is not None:
            self.client.close()


def _step(ctx: RunContext, job: Job, command: str, run: Callable[[Path], Outcome]) -> ExitCode:
    """Run the job; write its outputs and summary whether it succeeds or not."""
    from reconciler.cli import exit_code
    from reconciler.gitops.flows import Outcome, artifact
    from reconciler.gitops.report import write_outputs, write_summary
    from reconciler.render.markdown import code_block
    from reconciler.text import clean

    name, folder = artifact(ctx, job, command)
    try:
        outcome = run(folder)
    except LettaApplyError as exc:
        text = "\n".join(clean(line) for line in exc.lines())
        failed = Outcome(
            exit_code(exc),
            1,
            f"{job.key}: {command} failed",
            f"## letta-apply {command} failed\n\n{code_block(text)}",
        )
        write_outputs(ctx.output_file, failed.outputs((name, folder)))
        write_summary(ctx.summary_file, failed.markdown)
        raise
    write_outputs(ctx.output_file, outcome.outputs((name, folder)))
    write_summary(ctx.summary_file, outcome.markdown)
    for line in outcome.log_lines:
        say(line)
    return outcome.exit_code
