"""A stand-in server that records requests and refuses them all: for tests about where and
whether letta-apply sends requests, not about what the Letta server answers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Recorder(ThreadingHTTPServer):
    """A server that answers 400 to everything and remembers what it was asked."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Recorder

    def do_GET(self) -> None:
        self.server.requests.append(f"{self.command} {self.path}")
        self.send_error(400)

    do_POST = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads `requests`."""


@contextmanager
def running() -> Iterator[Recorder]:
    """A recorder serving on a free local port until the block ends."""
    server = Recorder()
    # A short poll interval: shutting down waits for the loop to look.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
