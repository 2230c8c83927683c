"""Text from manifests, saved plans and the server reaches the terminal escaped, on every path:
errors, notes, notices, progress, the lock holder, validation messages, click's own errors.

A value holding "\\nError: all fine" must not print a line of its own, and escape sequences,
bells, carriage returns and bidi overrides must arrive as visible escapes.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.address import Address
from reconciler.apply.results import ApplyResult
from reconciler.cli import main
from reconciler.cli.output import Console
from reconciler.desired import DesiredState
from reconciler.errors import ApplyFailed, ServerError
from reconciler.live import LiveState
from reconciler.plan.model import Delete
from reconciler.planner import build_plan
from reconciler.workflow import render_outputs
from tests.cli.answering import Answer, Answering, answering, letta_like
from tests.cli.signed import saved_plan_text

HOSTILE = "evil\x1b[2J\x1b]0;title\x07\r\nError: all fine\u202e\x9b31m"
ESCAPED = r"evil\x1b[2J\x1b]0;title\x07\x0d\x0aError: all fine\u202e\x9b31m"
ACTIVE = ("\x1b", "\x07", "\r", "\u202e", "\x9b")
EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "dedicated")


def assert_inert(text: str, *, errors: int = 1) -> None:
    """Nothing in `text` acts on a terminal, and no value made a line of its own."""
    assert not [c for c in ACTIVE if c in text], text
    assert not [line for line in text.splitlines() if line.startswith("Error: all fine")], text
    assert sum(line.startswith("Error:") for line in text.splitlines()) == errors, text
    assert "Traceback" not in text


def run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(args)
    return int(exited.value.code or 0)


@pytest.fixture
def refusing_with_hostile_detail() -> Iterator[Answering]:
    """A Letta-like server whose listings fail with a hostile explanation."""

    def route(method: str, path: str) -> Answer:
        if path.startswith(("/v1/health/", "/v1/models/")):
            return letta_like(method, path) or Answer.json(None)
        return Answer.json({"detail": HOSTILE}, status=400)

    with answering(route) as server:
        yield server


def test_a_server_error_detail_is_one_escaped_line(
    refusing_with_hostile_detail: Answering, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["plan", EXAMPLE, "--base-url", refusing_with_hostile_detail.url]) == 1
    err = capsys.readouterr().err
    assert_inert(err)
    assert "\\x0aError: all fine" in err and "\\x1b[2J" in err


def test_the_lock_holder_is_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The holder and start time in a lock record are server data: anyone may write them."""
    record = {
        "id": "identity-1",
        "identifier_key": "letta-apply-lock:acme",
        "properties": [
            {"key": "holder", "value": HOSTILE, "type": "string"},
            {"key": "started_at", "value": HOSTILE, "type": "string"},
        ],
    }

    def route(method: str, path: str) -> Answer:
        if method == "POST":
            return Answer.json({"detail": "exists"}, status=409)
        return Answer.json([record])

    with answering(route) as server:
        plan = build_plan(DesiredState("acme"), LiveState("acme"), target=server.url)
        saved = tmp_path / "plan.json"
        saved.write_text(saved_plan_text(plan), encoding="utf-8")
        assert run(["apply", str(saved), "--base-url", server.url]) == 1
    err = capsys.readouterr().err
    assert_inert(err)
    assert "is locked by evil\\x1b[2J" in err


def test_validation_messages_escape_the_values_they_quote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "stack.yaml"
    manifest.write_text(
        "apiVersion: letta-apply/v1\n"
        "stack: acme\n"
        "agents:\n"
        "  support:\n"
        '    "bad\\e[2J\\r\\nError: all fine\\a": 1\n'
        '    model: "x\\e]0;t\\a\\u202e"\n',
        encoding="utf-8",
    )
    assert run(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert_inert(err)
    lines = err.splitlines()
    assert len(lines) == 2  # one per problem: the list keeps its own line breaks
    assert all(str(manifest) in line for line in lines)


def test_each_failure_of_an_apply_is_one_escaped_line_and_notes_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    failures = [ServerError(f"agent/user:{n}", HOSTILE, 500) for n in ("alice", "bob")]
    error = ApplyFailed(failures, applied=1)
    error.add_note(f"lock not released ({HOSTILE})")

    def fail(*_args: object, **_kwargs: object) -> None:
        raise error

    monkeypatch.setattr("reconciler.workflow.plan_and_apply", fail)
    assert run([EXAMPLE, "--base-url", "http://127.0.0.1:9"]) == 3
    lines = capsys.readouterr().err.splitlines()
    assert_inert("\n".join(lines))
    assert lines[0] == "Error: 2 change(s) failed, 1 applied:"
    assert lines[1].startswith("  agent/user:alice: evil\\x1b[2J")
    assert lines[2].startswith("  agent/user:bob: evil\\x1b[2J")
    assert lines[3].startswith("Note: lock not released (evil\\x1b[2J")
    assert len(lines) == 4


def test_an_unforeseen_failure_is_one_escaped_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail(*_args: object, **_kwargs: object) -> None:
        raise KeyError(HOSTILE)

    monkeypatch.setattr("reconciler.workflow.plan_and_apply", fail)
    assert run([EXAMPLE, "--base-url", "http://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err
    assert_inert(err)
    assert err.startswith("Error: unexpected KeyError: ")


def test_debug_traceback_escapes_the_messages_in_it(
    refusing_with_hostile_detail: Answering, capsys: pytest.CaptureFixture[str]
) -> None:
    url = refusing_with_hostile_detail.url
    assert run(["--debug", "plan", EXAMPLE, "--base-url", url]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last):" in err
    assert not [c for c in ACTIVE if c in err]
    assert not [line for line in err.splitlines() if line.startswith("Error: all fine")]


def test_click_errors_escape_the_arguments_they_quote(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["apply", HOSTILE]) == 1  # no such file: click quotes the argument
    err = capsys.readouterr().err
    assert_inert(err)
    assert err.startswith("Usage: letta-apply apply")


def test_notices_and_progress_lines_are_escaped() -> None:
    console = Console(io.StringIO(), io.StringIO(), color=False, interactive=False)
    console.err(f"Took over the lock of {HOSTILE}")
    change = Delete(Address.parse("agent/user:alice"), "agent-1", "no longer declared")
    failed = ApplyResult(change, failure=ServerError(str(change.address), HOSTILE, 500))
    console.progress(1, 1, failed)
    err = console.stderr.getvalue()  # type: ignore[attr-defined]
    assert_inert(err, errors=0)
    assert err.splitlines() == [
        f"Took over the lock of {ESCAPED}",
        f"  failed - agent/user:alice: {ESCAPED} (HTTP 500)",
        "  1/1 changes processed, 1 failed",
    ]


def test_outputs_csv_cells_are_escaped() -> None:
    rows: list[dict[str, str | None]] = [
        {
            "user_id": "alice",
            "pattern": "dedicated",
            "agent_id": HOSTILE,
            "conversation_id": None,
            "identity_id": None,
        }
    ]
    text = render_outputs("acme", rows, "csv")
    assert_inert(text, errors=0)
    assert text.splitlines()[1].startswith("alice,dedicated,evil\\x1b[2J")


def test_dev_server_log_lines_are_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The log's own lines are kept; what is in each is escaped."""
    log = tmp_path / "logs" / "server.log"
    log.parent.mkdir()
    line = HOSTILE.replace("\r\n", " ")
    log.write_text(f"started\n{line}\n", encoding="utf-8")
    assert run(["dev-server", "--state-dir", str(tmp_path), "logs", "-n", "5"]) == 0
    out = capsys.readouterr().out
    assert_inert(out, errors=0)
    assert out.splitlines() == [
        "started",
        "evil\\x1b[2J\\x1b]0;title\\x07 Error: all fine\\u202e\\x9b31m",
    ]
