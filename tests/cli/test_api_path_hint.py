"""A base URL naming the API's `/v1` path: every request is a 404, and the error says to give
the server's root instead."""

from __future__ import annotations

import pytest

from tests.cli.answering import Answer, answering
from tests.cli.invoke import EXAMPLE, run


@pytest.mark.parametrize("command", ["plan", "outputs"])
@pytest.mark.parametrize("suffix", ["/v1", "/v1/"])
def test_a_base_url_ending_in_v1_gets_the_root_to_use(
    command: str,
    suffix: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with answering(lambda _method, _path: Answer.json({"detail": "Not Found"}, 404)) as server:
        monkeypatch.setenv("LETTA_BASE_URL", server.url + suffix)
        assert run([command, EXAMPLE]) == 1
    err = capsys.readouterr().err
    assert "Not Found (HTTP 404)" in err
    assert (
        f"the base URL is the server's root, without /v1 (letta-apply adds it): try {server.url}"
        in err
    )


def test_other_404s_get_no_such_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with answering(lambda _method, _path: Answer.json({"detail": "Not Found"}, 404)) as server:
        monkeypatch.setenv("LETTA_BASE_URL", server.url + "/letta")
        assert run(["plan", EXAMPLE]) == 1
    assert "without /v1" not in capsys.readouterr().err
