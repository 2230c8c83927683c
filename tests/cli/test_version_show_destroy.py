"""`--version` names the configured server's version; `show` tells paths from addresses;
`plan --destroy` plans the whole stack only. (Against the real server:
tests/integration/test_show_destroy.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.answering import empty_letta
from tests.cli.invoke import EXAMPLE, run
from tests.devserver.records import only_the_dev_server


def test_version_alone_without_a_configured_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from reconciler import __version__

    monkeypatch.delenv("LETTA_BASE_URL", raising=False)
    assert run(["--version"]) == 0
    assert capsys.readouterr().out == f"letta-apply {__version__}\n"


def test_version_names_the_configured_servers_version(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with empty_letta() as server:
        monkeypatch.setenv("LETTA_BASE_URL", server.url)
        assert run(["--version"]) == 0
    second = capsys.readouterr().out.splitlines()[1]
    assert second == f"server: {server.url} (LETTA_BASE_URL): Letta 0.0.0"


def test_version_names_the_running_dev_servers_version(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with empty_letta() as server, only_the_dev_server(monkeypatch, tmp_path / "dev", server.url):
        assert run(["--version"]) == 0
    second = capsys.readouterr().out.splitlines()[1]
    assert second == f"server: {server.url} (the local dev server): Letta 0.0.0"


def test_version_says_when_the_server_does_not_answer(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LETTA_BASE_URL", "http://127.0.0.1:9")
    assert run(["--version"]) == 0
    assert "(LETTA_BASE_URL): not reachable (" in capsys.readouterr().out


def test_show_lists_nothing_for_a_stack_not_applied(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with empty_letta() as server:
        monkeypatch.setenv("LETTA_BASE_URL", server.url)
        assert run(["show", EXAMPLE]) == 0
        assert capsys.readouterr().out == (
            f"Stack example-dedicated on {server.url}: 0 resource(s)\n"
        )
        assert run(["show", EXAMPLE, "agent/user:alice"]) == 1
    assert "no resource of stack example-dedicated at agent/user:alice" in capsys.readouterr().err


def test_show_needs_paths_before_addresses(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["show", "agent/user:alice"]) == 1
    assert "name the stack's manifests (PATHS)" in capsys.readouterr().err


@pytest.mark.parametrize("extra", [["--adopt"], ["--target", "agent/*"], ["--users", "alice"]])
def test_plan_destroy_is_for_the_whole_stack(
    extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["plan", EXAMPLE, "--destroy", *extra]) == 1
    assert "--destroy plans the whole stack's removal" in capsys.readouterr().err
