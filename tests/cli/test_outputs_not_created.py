"""`outputs` before the stack is applied: the users without resources are named on stderr
(their ids are empty), and `--require-all` refuses to print blanks an app would store."""

from __future__ import annotations

import json

import pytest

from tests.cli.answering import empty_letta
from tests.cli.invoke import EXAMPLE, run


def test_users_not_created_yet_are_named_on_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with empty_letta() as server:
        monkeypatch.setenv("LETTA_BASE_URL", server.url)
        assert run(["outputs", EXAMPLE]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["users"]["alice"]["agent_id"] is None
    assert captured.err.splitlines() == [
        "Warning: 3 of 3 declared users are not on the server yet (alice, bob, carol): their "
        f"ids are empty; apply the stack first (`letta-apply {EXAMPLE}`)"
    ]


def test_require_all_prints_no_blank_ids_and_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with empty_letta() as server:
        monkeypatch.setenv("LETTA_BASE_URL", server.url)
        assert run(["outputs", EXAMPLE, "--format", "csv", "--require-all"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Error: 3 of 3 declared users are not on the server yet" in captured.err
