"""The in-memory Letta server on a free local port, over real HTTP: letta-apply talks to it
through its own client (retries, pagination, read-backs) and its command line, exactly as to
a Letta server."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.letta_memory.server import Dropped, MemoryLetta
from tests.letta_memory.store import Refused


class Serving(ThreadingHTTPServer):
    """An HTTP server answering every request from one `MemoryLetta`."""

    daemon_threads = True

    def __init__(self, letta: MemoryLetta) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.letta = letta

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Serving
    protocol_version = "HTTP/1.1"  # keep-alive, as the client expects

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        multipart = (self.headers.get("content-type") or "").startswith("multipart/")
        body: Any = {"multipart": raw} if multipart else json.loads(raw) if raw else None
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        if _legacy(self.headers.get("X-Stainless-Package-Version"), self.headers.get("User-Agent")):
            query["include"] = list(LEGACY_INCLUDES)
        try:
            status, answer = 200, self.server.letta.handle(self.command, parts.path, query, body)
        except Refused as refused:
            status, answer = refused.status, refused.body
        except Dropped:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        except Exception as exc:  # a route's own bug: an error answer, not a hang
            status, answer = 500, {"detail": f"in-memory server: {exc!r}"}
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _answer

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests read `MemoryLetta.requests`."""


LEGACY_INCLUDES = (
    "agent.tags",
    "agent.blocks",
    "agent.identities",
    "agent.secrets",
    "agent.managed_group",
    "agent.tools",
)
"""What Letta answers a client it takes for a legacy SDK: every relationship, whatever it asks."""


def _legacy(sdk_version: str | None, user_agent: str | None) -> bool:
    """Letta 0.16.8 takes a client for a 1.x SDK by its `X-Stainless-Package-Version` header,
    a `letta-client/<version>` user agent, or no user agent at all."""
    if sdk_version or not user_agent:
        return False
    return "letta-client/" not in user_agent


@contextmanager
def serving(letta: MemoryLetta | None = None) -> Iterator[tuple[MemoryLetta, str]]:
    """`letta` (a new one by default) served until the block ends, and its URL."""
    letta = letta or MemoryLetta()
    server = Serving(letta)
    # A short poll interval: shutting down waits for the loop to look.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield letta, server.url
    finally:
        server.shutdown()
        server.server_close()
