"""The plan job on plans too large for one comment, and outside a runner, without a server:
the planner is given, GitHub is the local fake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.exitcodes import ExitCode
from reconciler.gitops.context import PullRequest, RunContext
from reconciler.gitops.flows import Job, plan_job
from reconciler.gitops.github import GitHub
from reconciler.gitops.review import read_review
from reconciler.manifest import load_desired
from reconciler.render.markdown import GITHUB_COMMENT_LIMIT
from tests.examples import EXAMPLES
from tests.githubfake import BOT, FakeGitHub, fake_github
from tests.render.plans import drift_plan, many_users_plan


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with fake_github() as fake:
        fake.add_pull(7, head_sha="c" * 40)
        yield fake


def _context(github: FakeGitHub, tmp_path: Path) -> RunContext:
    return RunContext(
        repository=github.repository,
        event_name="pull_request",
        sha="d" * 40,
        api_url=github.url,
        run_url="https://github.example/acme/letta-config/actions/runs/1",
        token=github.token,
        author=BOT,
        output_file=None,
        summary_file=None,
        temp_dir=tmp_path,
        pull_request=PullRequest(7, "c" * 40, from_fork=False),
    )


def test_a_two_thousand_user_plan_fits_one_comment_with_its_record(
    github: FakeGitHub, tmp_path: Path
) -> None:
    plan = many_users_plan(2000)
    desired = load_desired([EXAMPLES / "mixed"])
    job = Job((EXAMPLES / "mixed",), None, "letta/")
    client = GitHub(github.url, github.token, github.repository, BOT)
    outcome = plan_job(
        _context(github, tmp_path),
        job,
        tmp_path,
        lambda: desired,
        lambda _d: plan,
        client,
        lambda _p: None,
    )
    assert outcome.exit_code is ExitCode.OK and outcome.detailed == 2
    (comment,) = github.comments_on(7)
    body = comment["body"]
    assert len(body.encode("utf-16-le")) // 2 <= GITHUB_COMMENT_LIMIT
    review = read_review(body, "letta/")
    assert review is not None and review.summary["total"] == len(plan.changes)
    assert body.rstrip().endswith("</sub>")  # the footer survived the fitting


def test_a_redacted_plan_job_leaves_no_memory_in_its_artifact(
    github: FakeGitHub, tmp_path: Path
) -> None:
    """The artifact is read as widely as the comment: with values redacted it holds no saved
    plan (which keeps them, learned memory included, for `apply`)."""
    desired = load_desired([EXAMPLES / "mixed"])
    job = Job((EXAMPLES / "mixed",), None, "letta/", redact=True)
    client = GitHub(github.url, github.token, github.repository, BOT)
    folder = tmp_path / "artifact"
    folder.mkdir()
    outcome = plan_job(
        _context(github, tmp_path),
        job,
        folder,
        lambda: desired,
        lambda _d: drift_plan(),
        client,
        lambda _p: "hmac-sha256:00",
    )
    assert outcome.detailed == 2
    written = {path.name: path.read_text() for path in folder.iterdir()}
    assert set(written) == {"plan.json", "plan.md"}
    assert not any("short answers, French" in text for text in written.values())


def test_outside_a_runner_the_command_says_where_it_runs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["github", "plan", str(EXAMPLES / "mixed")])
    assert exited.value.code == ExitCode.ERROR
    error = capsys.readouterr().err
    assert error.startswith("Error: GITHUB_REPOSITORY is not set")
    assert "runs inside a GitHub Actions job" in error
