"""A base URL that is not a Letta server (a web page, another JSON API, broken JSON) is one
error line saying so, exit code 1, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.desired import DesiredState
from reconciler.live import LiveState
from reconciler.planner import build_plan
from tests.cli.answering import Answer, Route, answering, letta_like
from tests.cli.signed import saved_plan_text

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "dedicated")


def run(args: list[str]) -> int:
    from reconciler.cli import main

    with pytest.raises(SystemExit) as exited:
        main(args)
    return int(exited.value.code or 0)


def web_page(_method: str, _path: str) -> Answer:
    return Answer.html()


def missing_page(_method: str, _path: str) -> Answer:
    return Answer.html(status=404)


def other_json_api(_method: str, _path: str) -> Answer:
    return Answer.json({"hello": "world"})


def broken_json(_method: str, _path: str) -> Answer:
    return Answer(200, b'{"version": "0.1", "status": ')


def models_not_a_list(method: str, path: str) -> Answer:
    if path.startswith("/v1/models/"):
        return Answer.json({"data": []})
    return letta_like(method, path) or Answer.json(None)


NOT_LETTA = [
    pytest.param(web_page, "text/html, not JSON", id="web-page"),
    pytest.param(missing_page, "text/html, not JSON", id="404-page"),
    pytest.param(other_json_api, "does not look like a Letta server", id="other-json"),
    pytest.param(broken_json, "the answer is not valid JSON", id="broken-json"),
]
"""What no Letta server answers, and what the error line says about it."""


@pytest.mark.parametrize(
    ("route", "says"),
    [
        *NOT_LETTA,
        pytest.param(models_not_a_list, "model lists are not what Letta answers", id="models"),
    ],
)
@pytest.mark.parametrize("command", ["plan", "run"])
def test_the_pre_flight_says_it_is_not_a_letta_server(
    route: Route, says: str, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with answering(route) as server:
        assert run([command, EXAMPLE, "--base-url", server.url]) == 1
    captured = capsys.readouterr()
    assert_one_error_line(captured.err, says)
    if route is not broken_json:
        assert "does not look like a Letta server" in captured.err
    assert captured.out == ""


@pytest.mark.parametrize(("route", "says"), NOT_LETTA)
def test_commands_without_a_pre_flight_fail_in_one_line_too(
    route: Route, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with answering(route) as server:
        assert run(["outputs", EXAMPLE, "--base-url", server.url]) == 1
    assert_one_error_line(capsys.readouterr().err, says)


def assert_one_error_line(err: str, says: str) -> None:
    """One `Error:` line; notes about the run itself (an unsigned plan, say) may come before."""
    lines = [line for line in err.splitlines() if not line.startswith("Note: ")]
    assert len(lines) == 1, err
    assert lines[0].startswith("Error: ")
    assert says in lines[0]
    assert "<html" not in lines[0].lower()


def test_applying_a_saved_plan_to_a_web_page_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with answering(web_page) as server:
        plan = build_plan(DesiredState("acme"), LiveState("acme"), target=server.url)
        saved = tmp_path / "plan.json"
        saved.write_text(saved_plan_text(plan), encoding="utf-8")
        assert run(["apply", str(saved), "--base-url", server.url]) == 1
    err = capsys.readouterr().err
    assert_one_error_line(err, "does not look like a Letta server")
    assert "text/html, not JSON" in err


API_KEY = "sk-letta-0123456789abcdef"


def quotes_the_key(method: str, path: str) -> Answer:
    """A server (or a proxy before it) whose error message quotes the credentials it got."""
    if path.startswith("/v1/health/"):
        return letta_like(method, path) or Answer.json(None)
    return Answer.json({"detail": f"no access for Authorization: Bearer {API_KEY}"}, 400)


def test_an_answer_quoting_the_api_key_never_prints_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LETTA_API_KEY", API_KEY)
    with answering(quotes_the_key) as server:
        assert run(["plan", EXAMPLE, "--base-url", server.url]) == 1
    captured = capsys.readouterr()
    assert "no access for Authorization: Bearer ***" in captured.err, captured.err
    assert API_KEY not in captured.err + captured.out
