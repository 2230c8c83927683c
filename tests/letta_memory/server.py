"""The in-memory Letta server: its collections, the routes of the REST subset letta-apply
calls, and what a test can arrange or inspect (records, requests, hooks).

`MemoryLetta.handle` answers one request as Letta 0.16.8 does (see each route's module for the
behaviour it reproduces); `tests.letta_memory.serving` puts it on a local port.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.letta_memory import agents, memory, people, sources, tools
from tests.letta_memory.store import Clock, Collection, Query, Record, Refused

HANDLES = ("letta/letta-free",)
"""The model and embedding handles a server without provider keys offers."""


@dataclass(frozen=True)
class Request:
    """One request as the server received it."""

    method: str
    path: str
    query: Query
    body: Any

    @property
    def writes(self) -> bool:
        return self.method != "GET"

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


Route = Callable[["MemoryLetta", re.Match[str], Query, Any], Any]


class Dropped(Exception):
    """No answer at all: the connection is closed (a timeout or a proxy dropping it)."""


@dataclass
class Fault:
    """Requests that fail: `method` and a pattern searched in the path. `status` None drops
    the connection instead of answering; `acted`: the server carries the request out first,
    then the answer is lost (an ambiguous failure); `when` narrows it to some requests (by
    their body, say). Fails `times` times, then answers."""

    method: str
    path: str
    status: int | None = 500
    acted: bool = False
    times: int = 1
    when: Callable[[Request], bool] = lambda _request: True

    def matches(self, request: Request) -> bool:
        return (
            self.times > 0
            and self.method == request.method
            and re.search(self.path, request.path) is not None
            and self.when(request)
        )

    def error(self) -> Exception:
        if self.status is None:
            return Dropped()
        return Refused(self.status, f"injected failure (HTTP {self.status})")


class MemoryLetta:
    """A Letta server in memory: thread-safe, one lock around every request."""

    def __init__(self, *, identities: bool = True, handles: tuple[str, ...] = HANDLES) -> None:
        self.clock = Clock()
        self.agents = Collection("Agent", "agent")
        self.blocks = Collection("Block", "block", default_order="asc")
        self.conversations = Collection("Conversation", "conv")
        self.identities = Collection("Identity", "identity")
        self.tools = Collection("Tool", "tool")
        self.mcp_servers = Collection("MCP server", "mcp_server")
        self.sources = sources.collections()
        """Folders, files, archives and passages (`tests.letta_memory.sources`)."""
        self.processing_held = False
        """Uploaded files stay `parsing` until `process_files` (the real server processes them
        in the background)."""
        self.has_identities = identities
        """False: the identities API answers 404, as on a server without it."""
        self.handles = handles
        self.mcp_tools: dict[str, tuple[str, ...]] = {}
        """The tools each MCP server (by name) provides once registered."""
        self.registered: dict[str, list[str]] = {}
        """MCP server id -> the ids of the tools registered for it (the server's own mapping,
        not the tools' writable metadata)."""
        self.requests: list[Request] = []
        self.unlisted = False
        """Listings of blocks and identities come back empty (an index lagging behind)."""
        self.faults: list[Fault] = []
        self.before: Callable[[Request], None] = lambda _request: None
        """Runs before each request is answered, outside the server's lock (another client
        acting in between)."""
        self.after: Callable[[Request], None] = lambda _request: None
        """Runs after each request was carried out, before its answer is sent."""
        self.lock = threading.RLock()
        tools.seed_base_tools(self)

    # Arranging and inspecting ----------------------------------------------------------------

    def new(self, collection: Collection, fields: Record) -> Record:
        """A record with a fresh id and creation time (both may be given in `fields`)."""
        record_id, created = self.clock.stamp(collection.prefix)
        record = {"id": record_id, "created_at": created, "updated_at": created, **fields}
        return collection.add(record)

    def agent(self, **body: Any) -> Record:
        """An agent made as a create request with `body` would make it (model handles the
        server's own unless given), without a request."""
        defaults = {"model": self.handles[0], "embedding": self.handles[0]}
        with self.lock:
            return agents.new_agent(self, {**defaults, **body})

    def block(self, **body: Any) -> Record:
        """A block made as a create request with `body` would make it, without a request."""
        with self.lock:
            return memory.new_block(self, body)

    def mcp_server(self, name: str, **config: Any) -> Record:
        """An MCP server made as a create request would make it (its tools registered),
        without a request."""
        with self.lock:
            made = self.new(self.mcp_servers, tools.flattened(name, config))
            tools.register(self, made)
            return made

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.writes]

    def process_files(self) -> int:
        """Process every uploaded file still `parsing`; how many there were."""
        with self.lock:
            waiting = [
                f
                for f in self.sources["files"].rows.values()
                if f["processing_status"] == "parsing"
            ]
            for file in waiting:
                sources.processed(file)
            return len(waiting)

    def fail(self, method: str, path: str, **how: Any) -> Fault:
        """Make matching requests fail (see `Fault`)."""
        fault = Fault(method, path, **how)
        self.faults.append(fault)
        return fault

    # Answering ---------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: Query, body: Any) -> Any:
        """The answer to one request; raises Refused for an error answer, Dropped for none."""
        request = Request(method, path, query, body)
        self.before(request)
        with self.lock:
            self.requests.append(request)
            fault = next((f for f in self.faults if f.matches(request)), None)
            if fault is not None:
                fault.times -= 1
                if not fault.acted:
                    raise fault.error()
            answer = self._route(request)
        self.after(request)
        if fault is not None:
            raise fault.error()
        return answer

    def _route(self, request: Request) -> Any:
        trimmed = request.path.rstrip("/") or "/"
        for verb, pattern, route in ROUTES:
            match = pattern.fullmatch(trimmed)
            if verb == request.method and match is not None:
                return route(self, match, request.query, request.body)
        raise Refused(404, "Not Found")


def _health(_s: MemoryLetta, _m: re.Match[str], _q: Query, _b: Any) -> Any:
    return {"version": "0.16.8", "status": "ok"}


def _models(s: MemoryLetta, _m: re.Match[str], _q: Query, _b: Any) -> Any:
    return [{"handle": h, "model_type": "llm", "context_window": 30000} for h in s.handles]


def _embeddings(s: MemoryLetta, _m: re.Match[str], _q: Query, _b: Any) -> Any:
    return [{"handle": h, "model_type": "embedding", "embedding_dim": 1536} for h in s.handles]


ID = r"([^/]+)"
ROUTES: tuple[tuple[str, re.Pattern[str], Route], ...] = tuple(
    (verb, re.compile(pattern), route)
    for verb, pattern, route in (
        ("GET", r"/v1/health", _health),
        ("GET", r"/v1/models", _models),
        ("GET", r"/v1/models/embedding", _embeddings),
        *sources.ROUTES,
        *agents.ROUTES,
        *memory.ROUTES,
        *people.ROUTES,
        *tools.ROUTES,
    )
)
