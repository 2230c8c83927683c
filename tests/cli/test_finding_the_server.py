"""Where the commands look for the server: --base-url or LETTA_BASE_URL, else the running
local dev server (said in one line), else Letta's default address. A refused connection is
one attempt, not a round of retries, and the error says what to do."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from reconciler.client import LettaApi, RetryPolicy, Target
from reconciler.errors import ConnectionFailed
from tests.cli.answering import Answer, answering, empty_letta
from tests.cli.invoke import EXAMPLE, run
from tests.devserver.records import only_the_dev_server, recorded_dev_server


def refused_url() -> str:
    """A local address where nothing listens (the port was free a moment ago)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_a_refused_connection_is_one_attempt() -> None:
    with LettaApi(Target(refused_url())) as api:
        with pytest.raises(ConnectionFailed, match="Connection refused"):
            api.get("/v1/health/")
        assert api.requests == 1


def test_a_server_that_answered_once_is_retried_when_it_goes_away() -> None:
    with answering(lambda method, path: Answer.json({"status": "ok"})) as server:
        api = LettaApi(Target(server.url), retry=RetryPolicy(attempts=3, base_delay=0.0))
        api.get("/v1/health/")
    with api, pytest.raises(ConnectionFailed):
        api.get("/v1/health/")  # stopped, not never started: worth waiting for
    assert api.requests == 1 + 3


def test_without_a_url_or_dev_server_the_error_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if probe.connect_ex(("127.0.0.1", 8283)) == 0:
            pytest.skip("something listens on Letta's default port here")
    monkeypatch.delenv("LETTA_BASE_URL", raising=False)
    monkeypatch.setenv("LETTA_APPLY_DEV_SERVER_DIR", str(tmp_path / "no-dev-server"))
    assert run(["plan", EXAMPLE]) == 1
    err = capsys.readouterr().err
    assert "cannot reach the Letta server" in err
    assert "http://localhost:8283" in err
    assert "`letta-apply dev-server up`" in err
    assert "set LETTA_BASE_URL" in err
    assert "Traceback" not in err


def test_an_unreachable_given_url_says_to_check_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = refused_url()
    monkeypatch.setenv("LETTA_BASE_URL", url)
    assert run(["outputs", EXAMPLE]) == 1
    err = capsys.readouterr().err
    assert f"check the URL given by --base-url or LETTA_BASE_URL ({url})" in err
    assert "Using the local dev server" not in err


def test_the_running_dev_server_is_used_when_no_url_is_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with empty_letta() as server, only_the_dev_server(monkeypatch, tmp_path / "dev", server.url):
        assert run(["plan", EXAMPLE]) == 0
    captured = capsys.readouterr()
    using = f"Using the local dev server at {server.url} (LETTA_BASE_URL is not set)."
    assert captured.err.splitlines()[0] == using
    assert "Plan: 3 to create" in captured.out
    assert "GET /v1/health/" in server.requests


def test_a_given_url_wins_over_the_dev_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with empty_letta() as server:
        monkeypatch.setenv("LETTA_BASE_URL", server.url)
        monkeypatch.setenv("LETTA_APPLY_DEV_SERVER_DIR", str(tmp_path / "dev"))
        with recorded_dev_server(tmp_path / "dev", refused_url()):
            assert run(["plan", EXAMPLE]) == 0
    assert "Using the local dev server" not in capsys.readouterr().err


def test_a_dev_server_whose_processes_are_gone_is_not_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = refused_url()
    monkeypatch.delenv("LETTA_BASE_URL", raising=False)
    monkeypatch.setenv("LETTA_APPLY_DEV_SERVER_DIR", str(tmp_path / "dev"))
    with recorded_dev_server(tmp_path / "dev", url):
        pass  # the stand-ins are gone once the block ends: the record is stale
    run(["plan", EXAMPLE])
    err = capsys.readouterr().err
    assert "Using the local dev server" not in err
    assert url not in err
