"""The three GitHub jobs: `plan` on pull requests, `apply` on the main branch, `drift` on a
schedule. Each returns an `Outcome` (exit code, outputs, job summary) for the command to
write; what they post on GitHub goes through `GitHub`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from reconciler.desired import DesiredState
from reconciler.errors import LettaApplyError
from reconciler.exitcodes import ExitCode
from reconciler.gitops.context import RunContext
from reconciler.gitops.github import Comment, GitHub
from reconciler.gitops.review import (
    MANAGED_LABELS,
    Review,
    Status,
    changes_digest,
    differences,
    key_digest,
    labels_for,
    marker,
    read_review,
    read_reviews,
    record_line,
    review_of,
)
from reconciler.plan.model import Plan
from reconciler.planfile import save_plan
from reconciler.render import render_json, render_text
from reconciler.render.markdown import GITHUB_COMMENT_LIMIT, code_block, inline_code
from reconciler.render.markdown import render_markdown as markdown_of
from reconciler.render.redact import redact_values
from reconciler.text import clean

FOOTER_ROOM = 400
"""Characters of a comment kept for the footer under the plan (digest, commit, run link)."""


@dataclass(frozen=True)
class Job:
    """What the workflow asked for."""

    paths: tuple[Path, ...]
    root: Path | None
    key: str
    """Names the stack's comment and issue: the paths as configured, stable when the
    manifests do not load."""
    redact: bool = True
    comment: bool = True
    labels: bool = True
    allow_delete: bool = False
    parallelism: int = 8
    lock_timeout: float = 0.0


@dataclass
class Outcome:
    """How the step ends and what it leaves for the next steps."""

    exit_code: ExitCode
    detailed: int
    """The `exitcode` output: 0 nothing to do, 1 failed, 2 changes (or drift)."""
    summary: str
    markdown: str
    files: dict[str, Path] = field(default_factory=dict)
    log: str = ""
    """What the job's log shows, as plain lines: the text plan where there is one, else the
    markdown."""

    @property
    def log_lines(self) -> list[str]:
        return (self.log or self.markdown).splitlines()

    def outputs(self, artifact: tuple[str, Path]) -> dict[str, str]:
        name, folder = artifact
        return {
            "exitcode": str(self.detailed),
            "has_changes": "true" if self.detailed == 2 else "false",
            "summary": self.summary,
            "plan_json": str(self.files.get("plan_json", "")),
            "plan_markdown": str(self.files.get("plan_markdown", "")),
            "artifact_name": name,
            "artifact_dir": str(folder),
        }


Planner = Callable[[DesiredState], Plan]
"""Reads the server and plans (`planning.make_plan` on an open client)."""
Signer = Callable[[Plan], str | None]
"""A saved plan's signature (`reconciler.plan.signing.sign_plan`), None without a key."""


def artifact(ctx: RunContext, job: Job, command: str) -> tuple[str, Path]:
    """The artifact's name and the private folder its files are written to."""
    name = f"letta-apply-{command}-{key_digest(job.key)}"
    folder = ctx.temp_dir / "letta-apply" / name
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return name, folder


# plan: pull requests


def plan_job(
    ctx: RunContext,
    job: Job,
    folder: Path,
    load: Callable[[], DesiredState],
    planner: Planner,
    github: GitHub | None,
    sign: Signer,
) -> Outcome:
    """Validate, plan, and show the plan on the pull request: one comment per stack, edited
    on every push, and the managed labels. Fails on invalid manifests, a failed plan and
    blocked resources."""
    try:
        desired = load()
    except LettaApplyError as exc:
        text = _failure("do not validate", job, exc)
        _publish(ctx, job, github, Review(job.key, Status.INVALID), text)
        return Outcome(ExitCode.ERROR, 1, f"{job.key}: the manifests do not validate", text)
    pull = ctx.pull_request
    if pull is not None and pull.from_fork:
        text = (
            f"## letta-apply: {inline_code(clean(desired.stack))} validates\n\n"
            "Not planned: a pull request from a fork runs without the server's credentials. "
            "A maintainer can push the branch to this repository to get a plan."
        )
        return Outcome(ExitCode.OK, 0, f"{desired.stack}: valid (not planned: fork)", text)
    try:
        plan = planner(desired)
    except LettaApplyError as exc:
        text = _failure("could not be planned", job, exc)
        review = Review(job.key, Status.FAILED, stack=desired.stack)
        _publish(ctx, job, github, review, text)
        return Outcome(ExitCode.ERROR, 1, f"{desired.stack}: planning failed", text)
    files = _save(folder, plan, sign, redact=job.redact or desired.redact_values)
    review = review_of(plan, key=job.key, head=pull.head_sha if pull else ctx.sha)
    text = _plan_text(plan, review, ctx, redact=job.redact or desired.redact_values, what="plan")
    files["plan_markdown"].write_text(text, encoding="utf-8")
    _publish(ctx, job, github, review, text)
    blocked = len(plan.blocked)
    summary = _one_line(plan)
    log = _log_text(plan, redact=job.redact or desired.redact_values)
    if blocked:
        return Outcome(ExitCode.ERROR, 2, f"{summary}; {blocked} blocked", text, files, log)
    return Outcome(ExitCode.OK, 2 if plan.has_changes else 0, summary, text, files, log)


def _log_text(plan: Plan, *, redact: bool) -> str:
    """The plan as the job's log shows it: the text rendering, values redacted as in the
    comment (a log is read as widely)."""
    return render_text(redact_values(plan) if redact else plan, color=False)


def _publish(
    ctx: RunContext, job: Job, github: GitHub | None, review: Review, text: str
) -> Comment | None:
    """The stack's comment edited (or posted) with `text` and the record; then the labels
    from every stack's latest record on the pull request."""
    pull = ctx.pull_request
    if github is None or pull is None or not job.comment:
        return None
    comments = github.comments(pull.number)
    mine = [c for c in comments if c.body.startswith(marker(job.key))]
    body = f"{marker(job.key)}\n{record_line(review)}\n{text}"
    posted = github.upsert_comment(pull.number, mine[-1] if mine else None, body)
    if job.labels:
        others = [c.body for c in comments if c not in mine]
        wanted = labels_for([*read_reviews(others), review])
        github.sync_labels(pull.number, wanted, MANAGED_LABELS)
    return posted


def _plan_text(plan: Plan, review: Review, ctx: RunContext, *, redact: bool, what: str) -> str:
    """The plan as markdown with a footer; with the marker and record it fits a comment."""
    shown = redact_values(plan) if redact else plan
    reserved = len(marker(review.key, what)) + len(record_line(review)) + 2 + FOOTER_ROOM
    document = markdown_of(shown, max_chars=GITHUB_COMMENT_LIMIT - reserved)
    head = f" · commit {inline_code(review.head[:12])}" if review.head else ""
    run = f" · [workflow run]({ctx.run_url})" if ctx.run_url else ""
    digest = review.digest[:16] if review.digest else ""
    return f"{document}\n\n<sub>Plan digest {inline_code(digest)}{head}{run}</sub>"


def _failure(what: str, job: Job, exc: LettaApplyError) -> str:
    lines = _first_lines([clean(line) for line in exc.lines()], GITHUB_COMMENT_LIMIT // 2)
    return (
        f"## letta-apply: the manifests in {inline_code(clean(job.key))} {what}\n\n"
        f"{code_block(lines)}\n\nNothing was planned; this comment holds no plan to apply."
    )


def _first_lines(lines: list[str], max_chars: int) -> str:
    """As many whole lines as fit in `max_chars`, then how many were left out."""
    kept: list[str] = []
    size = 0
    for line in lines:
        size += len(line) + 1
        if size > max_chars:
            kept.append(f"... and {len(lines) - len(kept)} more line(s)")
            break
        kept.append(line)
    return "\n".join(kept)


def _save(folder: Path, plan: Plan, sign: Signer, *, redact: bool) -> dict[str, Path]:
    """The JSON document (redacted when the comment is) and the markdown, in the artifact
    folder; and the saved plan (values kept: `apply` needs them; signed) only when values are
    shown: an artifact is read as widely as the comment, and the saved plan keeps the memory
    the comment redacts."""
    files = {"plan_json": folder / "plan.json", "plan_markdown": folder / "plan.md"}
    if not redact:
        files["saved_plan"] = folder / "saved-plan.json"
        save_plan(files["saved_plan"], render_json(plan, sign(plan)) + "\n")
    shown = redact_values(plan) if redact else plan
    save_plan(files["plan_json"], render_json(shown) + "\n")
    return files


def _one_line(plan: Plan) -> str:
    counts = plan.counts()
    parts = [f"{n} to {a.value}" for a, n in counts.items() if n]
    return f"{plan.stack}: " + (", ".join(parts) if parts else "no changes")


# apply: the main branch


class NotReviewed(LettaApplyError):
    """The plan made now is not the plan the pull request showed."""

    def __init__(self, reason: str, details: list[str]) -> None:
        self.reason = reason
        self.details = details
        super().__init__(reason)

    def lines(self) -> tuple[str, ...]:
        advice = (
            "Nothing was applied. Get the current plan reviewed: open a pull request with the "
            "manifests as they are on this branch (an empty commit is enough), let the plan "
            "job post its plan, and merge it once approved; or, if the server was changed by "
            "hand since the review, change it back and re-run this job."
        )
        return (self.reason, *self.details, advice)


def reviewed_plan(ctx: RunContext, job: Job, github: GitHub, plan: Plan) -> Review:
    """The review the merged pull request's comment records, checked against `plan`."""
    number = github.merged_pull(ctx.sha)
    if number is None:
        raise NotReviewed(
            f"commit {ctx.sha[:12]} was not merged from a pull request: there is no reviewed "
            f"plan for {job.key}",
            [],
        )
    reviews = [read_review(c.body, job.key) for c in github.comments(number)]
    found = [r for r in reviews if r is not None]
    if not found or found[-1].status is not Status.PLANNED or found[-1].digest is None:
        raise NotReviewed(
            f"pull request #{number} has no plan of {job.key} to apply (its last plan job "
            "failed, or never ran)",
            [],
        )
    reviewed = found[-1]
    digest = reviewed.digest or ""
    if digest != changes_digest(plan):
        raise NotReviewed(
            f"the plan for stack {plan.stack} differs from the plan reviewed on pull request "
            f"#{number} (digest {digest[:16]}, commit {(reviewed.head or '?')[:12]})",
            differences(reviewed, plan),
        )
    return reviewed


def apply_job(
    ctx: RunContext,
    job: Job,
    folder: Path,
    desired: DesiredState,
    plan: Plan,
    github: GitHub,
    apply: Callable[[Plan], None],
    sign: Signer,
) -> Outcome:
    """Apply `plan` (made now, on the merged commit) if it is the plan that was reviewed."""
    files = _save(folder, plan, sign, redact=job.redact or desired.redact_values)
    if not plan.has_changes and not plan.blocked:
        text = f"## letta-apply: {inline_code(clean(plan.stack))} matches the manifests\n"
        return Outcome(ExitCode.OK, 0, f"{plan.stack}: no changes", text, files)
    try:
        reviewed = reviewed_plan(ctx, job, github, plan)
    except NotReviewed as exc:
        text = _refusal(exc, plan)
        return Outcome(ExitCode.ERROR, 1, f"{plan.stack}: not applied ({exc.reason})", text, files)
    apply(plan)
    text = (
        f"## letta-apply: applied the reviewed plan for {inline_code(clean(plan.stack))}\n\n"
        f"{_one_line(plan)} (digest {inline_code((reviewed.digest or '')[:16])})."
    )
    return Outcome(ExitCode.OK, 2, f"{_one_line(plan)} (applied)", text, files)


def _refusal(exc: NotReviewed, plan: Plan) -> str:
    details = _first_lines([clean(line) for line in exc.lines()], GITHUB_COMMENT_LIMIT // 4)
    shown = markdown_of(redact_values(plan), max_chars=GITHUB_COMMENT_LIMIT // 2)
    return f"## letta-apply: not applied\n\n{code_block(details)}\n\nThe plan now:\n\n{shown}"


# drift: on a schedule


def drift_job(
    ctx: RunContext,
    job: Job,
    folder: Path,
    desired: DesiredState,
    plan: Plan,
    github: GitHub,
    sign: Signer,
) -> Outcome:
    """One issue per stack while the server differs from the manifests: opened, kept
    current, and closed when they match again."""
    files = _save(folder, plan, sign, redact=True)
    issues = [i for i in github.drift_issues() if i.body.startswith(marker(job.key, "drift"))]
    drifted = plan.has_changes or bool(plan.blocked)
    if not drifted:
        for issue in issues:
            run = f" ([workflow run]({ctx.run_url}))" if ctx.run_url else ""
            github.close_issue(issue.number, f"The server matches the manifests again{run}.")
        text = f"## letta-apply: {inline_code(clean(plan.stack))} has not drifted\n"
        return Outcome(ExitCode.OK, 0, f"{plan.stack}: no drift", text, files)
    review = replace(review_of(plan, key=job.key, head=ctx.sha), changes=None)
    text = _plan_text(plan, review, ctx, redact=True, what="drift")
    body = f"{marker(job.key, 'drift')}\n{record_line(review)}\n{text}"
    title = f"letta-apply: the server has drifted from the manifests of {clean(plan.stack)}"
    if issues:
        github.update_issue(issues[0].number, title, body)
    else:
        github.open_issue(title, body)
    log = _log_text(plan, redact=True)
    return Outcome(ExitCode.OK, 2, f"{_one_line(plan)} (drift)", text, files, log)
