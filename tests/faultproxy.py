"""A fault-injecting reverse proxy to put in front of the real Letta server in tests.

Faults are chosen by rules (method, path pattern, rate or the first N matches) from a seeded
random generator, so a failing run reproduces. Kinds of fault:
- `status`: answer with an HTTP error (e.g. 500, or 429 with a Retry-After header) without
  forwarding;
- `drop`: close the connection without forwarding or answering;
- `lose`: forward the request (the server acts on it), then close the connection without
  passing the answer on: the client sees an error for something that happened;
- `delay`: wait before forwarding.

`without_identities()` is the rule that makes the server behind look like one without the
identities API, as Letta Cloud's is now.

`stop()` makes the proxy drop every request from then on, as if the server had stopped;
`stop_after(method, path, count)` does so once `count` matching requests were forwarded.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

HOP_HEADERS = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "host",
    "content-encoding",
}


@dataclass
class Rule:
    """Inject `fault` into requests matching `method` and `path` (a regex)."""

    fault: str
    method: str = ".*"
    path: str = ".*"
    rate: float = 1.0
    first: int | None = None
    status: int = 500
    retry_after: float | None = None
    delay: float = 0.0
    matched: int = 0

    def matches(self, method: str, path: str) -> bool:
        return bool(re.fullmatch(self.method, method) and re.search(self.path, path))


def without_identities() -> Rule:
    """A server without the identities API: every identities request answers 404."""
    return Rule("status", path=r"^/v1/identities", status=404)


@dataclass
class FaultProxy:
    """The proxy's rules and what it did; `url` is where clients should point."""

    upstream: str
    seed: int = 0
    rules: list[Rule] = field(default_factory=list)
    injected: Counter[str] = field(default_factory=Counter)
    forwarded: Counter[str] = field(default_factory=Counter)
    url: str = ""
    stopped: bool = False
    times: list[float] = field(default_factory=list)
    """When each forwarded request arrived (`time.monotonic()`)."""
    projects: Counter[str] = field(default_factory=Counter)
    """Requests by the project they named (`X-Project-Id`; "" for none)."""

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()
        self._stop_rule: Rule | None = None

    def stop(self) -> None:
        """Drop every request from now on: the server looks stopped."""
        with self._lock:
            self.stopped = True

    def stop_after(self, method: str, path: str, count: int) -> None:
        """Stop once `count` requests matching `method` and `path` have been forwarded."""
        with self._lock:
            self._stop_rule = Rule("stop", method, path, first=count)

    def refuses(self) -> bool:
        """Whether the proxy is stopped; counts the request as dropped if so."""
        with self._lock:
            if self.stopped:
                self.injected["stopped"] += 1
            return self.stopped

    def choose(self, method: str, path: str) -> Rule | None:
        """The rule that fires for this request, if any (deterministic for a seed)."""
        with self._lock:
            for rule in self.rules:
                if not rule.matches(method, path):
                    continue
                rule.matched += 1
                if rule.first is not None:
                    fire = rule.matched <= rule.first
                else:
                    fire = self._random.random() < rule.rate
                if fire:
                    self.injected[rule.fault] += 1
                    return rule
            return None

    def note_project(self, project: str) -> None:
        with self._lock:
            self.projects[project] += 1

    def count_forwarded(self, method: str, path: str) -> None:
        with self._lock:
            self.times.append(time.monotonic())
            self.forwarded[f"{method} {path.split('?')[0]}"] += 1
            rule = self._stop_rule
            if rule is not None and rule.matches(method, path):
                rule.matched += 1
                self.stopped = self.stopped or rule.matched >= (rule.first or 0)


def _handler(proxy: FaultProxy, client: httpx.Client) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            if proxy.refuses():
                self.close_connection = True
                return None
            proxy.note_project(self.headers.get("x-project-id") or "")
            rule = proxy.choose(self.command, self.path)
            if rule is not None and rule.fault == "delay":
                time.sleep(rule.delay)
            elif rule is not None and rule.fault == "status":
                return self._answer_error(rule)
            elif rule is not None and rule.fault == "drop":
                self.close_connection = True
                return None
            response = self._forward(body)
            if rule is not None and rule.fault == "lose":
                self.close_connection = True
                return None
            self._relay(response)
            return None

        def _forward(self, body: bytes) -> httpx.Response:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
            proxy.count_forwarded(self.command, self.path)
            return client.request(
                self.command, proxy.upstream + self.path, headers=headers, content=body
            )

        def _relay(self, response: httpx.Response) -> None:
            self.send_response(response.status_code)
            for key, value in response.headers.items():
                if key.lower() not in HOP_HEADERS:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(response.content)))
            self.end_headers()
            self.wfile.write(response.content)

        def _answer_error(self, rule: Rule) -> None:
            payload = b'{"detail": "injected fault"}'
            self.send_response(rule.status)
            if rule.retry_after is not None:
                self.send_header("Retry-After", f"{rule.retry_after:g}")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def busiest_second(times: list[float]) -> int:
    """The most requests in any one-second window starting at a request."""
    ordered = sorted(times)
    return max(sum(1 for t in ordered if start <= t < start + 1.0) for start in ordered)


@contextmanager
def running(upstream: str, rules: list[Rule] | None = None, seed: int = 0) -> Iterator[FaultProxy]:
    """Start a proxy on a free local port in front of `upstream`; stop it on exit."""
    proxy = FaultProxy(upstream.rstrip("/"), seed=seed, rules=list(rules or []))
    with httpx.Client(timeout=120) as client:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy, client))
        server.daemon_threads = True
        proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield proxy
        finally:
            server.shutdown()
            server.server_close()
