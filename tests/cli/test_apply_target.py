"""`apply PLANFILE` sends requests, and the API key, only to the configured server: a saved
plan naming another server is refused before any request."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.cli.options import DEFAULT_BASE_URL
from reconciler.desired import DesiredState
from reconciler.live import LiveState
from reconciler.planner import build_plan
from tests.cli.recorder import Recorder
from tests.cli.signed import saved_plan_text

ELSEWHERE = "http://127.0.0.1:9"


def saved_plan(tmp_path: Path, target: str) -> Path:
    """A plan the planner made for `target`, saved as `letta-apply plan --out` saves it."""
    plan = build_plan(DesiredState("acme"), LiveState("acme"), target=target)
    path = tmp_path / "plan.json"
    path.write_text(saved_plan_text(plan), encoding="utf-8")
    return path


def run_apply(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(["apply", *args])
    return int(exited.value.code or 0)


def test_a_plan_for_another_server_is_refused_before_any_request(
    tmp_path: Path,
    recorder: Recorder,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LETTA_BASE_URL", recorder.url)
    assert run_apply([str(saved_plan(tmp_path, ELSEWHERE))]) == 1
    err = capsys.readouterr().err
    assert f"this plan was made for {ELSEWHERE}, not {recorder.url}" in err
    assert recorder.requests == []


@pytest.mark.parametrize(
    "base_url", [[], ["--base-url", DEFAULT_BASE_URL]], ids=["unset", "explicit"]
)
def test_the_default_server_is_the_target_too(
    tmp_path: Path,
    base_url: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without --base-url or LETTA_BASE_URL the target is the default, not the plan's own."""
    monkeypatch.delenv("LETTA_BASE_URL", raising=False)
    assert run_apply([str(saved_plan(tmp_path, ELSEWHERE)), *base_url]) == 1
    assert f"made for {ELSEWHERE}, not {DEFAULT_BASE_URL}" in capsys.readouterr().err


def test_a_plan_for_the_configured_server_is_sent_there(
    tmp_path: Path,
    recorder: Recorder,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LETTA_BASE_URL", recorder.url)
    assert run_apply([str(saved_plan(tmp_path, recorder.url)), "--timeout", "5"]) == 1
    assert recorder.requests  # it went on to take the lock there, and the server failed
    assert "HTTP 400" in capsys.readouterr().err
