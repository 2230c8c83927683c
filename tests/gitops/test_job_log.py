"""`letta-apply github plan` in a job's log: the text plan, line by line (not the comment's
markdown as one escaped line); and a step that posts nothing needs no GITHUB_TOKEN."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.answering import empty_letta
from tests.cli.invoke import EXAMPLE, run


def job_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str) -> None:
    """What a runner sets for a push event, without GITHUB_TOKEN."""
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/fleet")
    monkeypatch.setenv("GITHUB_EVENT_NAME", "push")
    monkeypatch.setenv("GITHUB_SHA", "0" * 40)
    monkeypatch.setenv("RUNNER_TEMP", str(tmp_path))
    monkeypatch.setenv("LETTA_BASE_URL", url)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GITHUB_EVENT_PATH", raising=False)


def test_plan_without_comment_or_labels_needs_no_token_and_logs_the_text_plan(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with empty_letta() as server:
        job_environment(monkeypatch, tmp_path, server.url)
        code = run(["github", "plan", EXAMPLE, "--no-comment", "--no-labels"])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("Target: http://127.0.0.1:")
    assert "  + agent/user:alice" in lines
    assert lines[-1] == "Plan: 3 to create, 0 to update, 0 to attach, 0 to detach, 0 to delete."
    assert "\\x0a" not in out
    assert "## " not in out  # not the comment's markdown


def test_a_step_that_posts_still_needs_the_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job_environment(monkeypatch, tmp_path, "http://127.0.0.1:9")
    assert run(["github", "plan", EXAMPLE, "--no-labels"]) == 1
    assert "GITHUB_TOKEN is not set" in capsys.readouterr().err
