"""A stand-in server that answers what a test tells it to: for what letta-apply does with
answers no Letta server gives (a web page, broken JSON, hostile text in an error detail)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Answer:
    """One HTTP answer."""

    status: int
    body: bytes
    content_type: str = "application/json"

    @classmethod
    def json(cls, value: object, status: int = 200) -> Answer:
        return cls(status, json.dumps(value).encode())

    @classmethod
    def html(cls, status: int = 200) -> Answer:
        page = b"<!DOCTYPE html>\n<html><body><h1>Welcome</h1>\n</body></html>\n"
        return cls(status, page, "text/html; charset=utf-8")


Route = Callable[[str, str], Answer]
"""(method, path with query) -> the answer."""


class Answering(ThreadingHTTPServer):
    """Answers every request with `route(method, path)` and remembers what it was asked."""

    def __init__(self, route: Route) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.route = route
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Answering

    def do_GET(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        self.server.requests.append(f"{self.command} {self.path}")
        answer = self.server.route(self.command, self.path)
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    do_POST = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads `requests`."""


@contextmanager
def answering(route: Route) -> Iterator[Answering]:
    """A server on a free local port answering with `route` until the block ends."""
    server = Answering(route)
    # A short poll interval: shutting down waits for the loop to look.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def letta_like(method: str, path: str) -> Answer | None:
    """What an empty Letta server answers to the pre-flight reads and listings, or None."""
    if method != "GET":
        return None
    if path.startswith("/v1/health/"):
        return Answer.json({"version": "0.0.0", "status": "ok"})
    if path.startswith("/v1/models/"):
        return Answer.json([{"handle": "letta/letta-free"}])
    return Answer.json([])


def empty_letta() -> AbstractContextManager[Answering]:
    """A server answering as an empty Letta server does (pre-flight reads, empty listings)."""
    return answering(lambda method, path: letta_like(method, path) or Answer.json(None))
