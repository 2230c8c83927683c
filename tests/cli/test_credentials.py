"""A user and password in the base URL are never printed or saved: errors, the plan's target
in every format and in the saved file, the apply header. A saved plan still applies to the
server it was made for, whatever credentials the URL carries then."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.errors import ConnectionFailed
from tests.cli.answering import Answer, Answering, answering, letta_like

SECRET = "s3cret"


def run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(args)
    return int(exited.value.code or 0)


def with_credentials(url: str, user: str = "ci", password: str = SECRET) -> str:
    scheme, rest = url.split("://")
    return f"{scheme}://{user}:{password}@{rest}"


@pytest.fixture
def server() -> Iterator[Answering]:
    """An empty Letta-like server that also takes and releases the stack's lock."""

    locks: list[dict[str, str]] = []

    def route(method: str, path: str) -> Answer:
        if method == "POST" and path.startswith("/v1/identities/"):
            locks[:] = [
                {"id": "identity-lock", "identifier_key": "letta-apply-lock:acme", "properties": []}
            ]
            return Answer.json(locks[0])
        if method == "GET" and path.startswith("/v1/identities/?identifier_key=letta-apply-lock"):
            return Answer.json(locks)
        if method == "DELETE":
            locks.clear()
            return Answer.json(None)
        return letta_like(method, path) or Answer.json({"detail": "unexpected"}, status=400)

    with answering(route) as answering_server:
        yield answering_server


@pytest.fixture
def empty_stack(tmp_path: Path) -> Path:
    folder = tmp_path / "stack"
    folder.mkdir()
    (folder / "stack.yaml").write_text("apiVersion: letta-apply/v1\nstack: acme\n", "utf-8")
    return folder


def test_an_unreachable_server_is_named_without_credentials() -> None:
    from reconciler.client import LettaApi, Target

    target = Target(f"http://ci:{SECRET}@127.0.0.1:9")
    api = LettaApi(target, sleep=lambda _seconds: None)
    with api, pytest.raises(ConnectionFailed) as failed:
        api.get("/v1/health/", address="health check")
    assert SECRET not in str(failed.value) and SECRET not in repr(target)
    assert "connection failed talking to http://***@127.0.0.1:9" in str(failed.value)


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_the_plan_shows_and_saves_the_target_without_credentials(
    fmt: str,
    server: Answering,
    empty_stack: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "plan.json"
    url = with_credentials(server.url)
    assert (
        run(["plan", str(empty_stack), "--base-url", url, "--format", fmt, "--out", str(out)]) == 0
    )
    printed = capsys.readouterr()
    saved = out.read_text(encoding="utf-8")
    assert SECRET not in printed.out + printed.err + saved
    label = server.url.replace("://", "://***@")
    assert label in printed.out
    assert f'"target": "{label}"' in saved


def test_a_saved_plan_applies_to_its_server_with_other_credentials(
    server: Answering, empty_stack: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plan.json"
    made_with = with_credentials(server.url, "ci", SECRET)
    assert run(["plan", str(empty_stack), "--base-url", made_with, "--out", str(out)]) == 0
    capsys.readouterr()
    applied_with = with_credentials(server.url, "deploy", "0ther" + SECRET) + "/"
    assert run(["apply", str(out), "--base-url", applied_with]) == 0
    err = capsys.readouterr().err
    assert SECRET not in err
    assert f"Applying 0 change(s) to {server.url.replace('://', '://***@')} (stack acme)." in err


def test_a_plan_for_another_server_is_refused_without_showing_credentials(
    server: Answering, empty_stack: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plan.json"
    assert run(["plan", str(empty_stack), "--base-url", server.url, "--out", str(out)]) == 0
    capsys.readouterr()
    requests = len(server.requests)
    elsewhere = f"http://ci:{SECRET}@127.0.0.1:9"
    assert run(["apply", str(out), "--base-url", elsewhere]) == 1
    err = capsys.readouterr().err
    assert SECRET not in err
    assert f"this plan was made for {server.url}, not http://***@127.0.0.1:9" in err
    assert len(server.requests) == requests
