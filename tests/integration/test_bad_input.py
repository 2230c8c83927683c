"""Bad input is reported before any request is sent; unreachable servers get a clear message."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from tests.integration.helpers import letta_apply, write_manifest


class _Counter(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(500)
        self.end_headers()

    do_POST = do_PATCH = do_DELETE = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def counting_server() -> Iterator[tuple[str, list[str]]]:
    hits: ClassVar[list[str]] = []
    handler = type("Handler", (_Counter,), {"hits": hits})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()


def test_invalid_manifest_sends_no_request(
    tmp_path: Path, counting_server: tuple[str, list[str]]
) -> None:
    url, hits = counting_server
    path = write_manifest(
        tmp_path,
        """
        apiVersion: letta-apply/v1
        stack: demo
        users:
          - {id: alice, pattern: dedicated, templte: assistant}
    """,
    )
    for command in (["plan", str(path)], [str(path)]):
        result = letta_apply(*command, url=url)
        assert result.code == 1, result.output
        assert "stack.yaml:4:" in result.stderr
        assert "Traceback" not in result.output
    assert hits == []


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    path = write_manifest(
        tmp_path,
        """
        apiVersion: letta-apply/v1
        stack: demo
        defaults: {model: letta/letta-free, embedding: letta/letta-free}
        agents:
          support: {}
    """,
    )
    result = letta_apply("plan", str(path), url="http://127.0.0.1:9", LETTA_API_KEY="sk-secret-1")
    assert result.code == 1
    assert "cannot reach the Letta server" in result.stderr
    assert "Traceback" not in result.output
    assert "sk-secret-1" not in result.output
