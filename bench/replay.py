"""A stand-in Letta server answering `letta-apply plan` for a fleet of any size, with the JSON
the real server gives: `python -m bench.replay record|serve`.

Seeding 100,000 users on a local Letta server takes most of an hour, so the whole-process
memory benchmark plans against this instead. `record` is a proxy in front of a real Letta
server: run `letta-apply plan` through it on a small applied `bench.fleet` stack and it keeps
one answer of each shape (a dedicated agent and each shared agent as the agent listing gives
them with its includes, a conversation, an identity, the tagged memory blocks, the health
check and model lists) in `bench/replay-letta-<version>.json`. `serve` takes those answers
as templates and synthesizes, for N users, the pages the real server would give: the same
keys and values, only ids, user ids and names substituted (ids of the server's length).
It serves the listings the reader asks for, with the filters and cursor pagination the real
server applies; anything else is answered 404 and counted, so a request it does not know
fails the benchmark instead of passing silently.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bench import fleet

FIXTURE = Path(__file__).with_name("replay-letta-0.16.8.json")


# Templates ------------------------------------------------------------------------------------


class Template:
    """A recorded JSON value as text, with some of its strings made slots to fill."""

    def __init__(self, value: Any, slots: Mapping[str, str]) -> None:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        keys = sorted(slots, key=len, reverse=True)
        pattern = re.compile("|".join(re.escape(k) for k in keys)) if keys else None
        self._parts: list[str] = []
        self._names: list[str] = []
        start = 0
        for match in pattern.finditer(text) if pattern else ():
            self._parts.append(text[start : match.start()])
            self._names.append(slots[match.group()])
            start = match.end()
        self._parts.append(text[start:])

    def render(self, values: Mapping[str, str]) -> str:
        out = [self._parts[0]]
        for name, part in zip(self._names, self._parts[1:], strict=True):
            out.append(values[name])
            out.append(part)
        return "".join(out)


def server_id(prefix: str, n: int) -> str:
    """An id of the server's form and length (`agent-` and a UUID), numbered."""
    return f"{prefix}-00000000-0000-4000-8000-{n:012d}"


# The synthesized fleet --------------------------------------------------------------------------


@dataclass
class Item:
    """One listed resource: its id, what the filters look at, and its JSON text."""

    id: str
    text: str
    tags: frozenset[str] = frozenset()
    keys: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Fleet:
    """Every listing of a `bench.fleet` stack of `size` users, as the real server pages it."""

    agents: list[Item]
    blocks: list[Item]
    identities: list[Item]
    conversations: dict[str, list[Item]]
    fixed: dict[str, str]


def synthesize(recorded: Mapping[str, Any], size: int, shape: str = "fleet") -> Fleet:
    users = [(n, fleet.user_id(n), fleet.pattern_of(n, size, shape)) for n in range(size)]
    identities = _identities(recorded, [u for n, u, p in users if p == "identity"])
    agents, blocks = _shared_agents(recorded, identities)
    dedicated_agents, dedicated_blocks = _dedicated(
        recorded, [(n, u) for n, u, p in users if p == "dedicated"]
    )
    agents += dedicated_agents
    blocks += dedicated_blocks
    conversations = _conversations(
        recorded,
        [(n, u) for n, u, p in users if p == "shared"],
        {a.keys["name"]: a.id for a in agents if a.keys.get("name") in fleet.SHARED_AGENTS},
    )
    fixed = {
        path: json.dumps(recorded[key], separators=(",", ":"))
        for path, key in (
            ("/v1/health/", "health"),
            ("/v1/models/", "models"),
            ("/v1/models/embedding", "embedding_models"),
            ("/v1/mcp-servers/", "mcp_servers"),
        )
    }
    return Fleet(
        sorted(agents, key=_by_id),
        sorted(blocks, key=_by_id),
        [i for i, _ in identities],
        {agent: sorted(items, key=_by_id) for agent, items in conversations.items()},
        fixed,
    )


def _by_id(item: Item) -> str:
    return item.id


def _identities(recorded: Mapping[str, Any], users: list[str]) -> list[tuple[Item, str]]:
    """Each identity as `/v1/identities/` lists it, and as an agent's `identities` include
    lists it."""
    sample = recorded["identity"]
    slots = {sample["id"]: "id", sample["identifier_key"]: "user"}
    listed = Template(sample, slots)
    attached = Template(recorded["attached_identity"], slots)
    found = []
    for n, user in enumerate(users):
        values = {"id": server_id("identity", n), "user": user}
        item = Item(values["id"], listed.render(values), keys={"identifier_key": user})
        found.append((item, attached.render(values)))
    return found


def _shared_agents(
    recorded: Mapping[str, Any], identities: list[tuple[Item, str]]
) -> tuple[list[Item], list[Item]]:
    """The shared agents as recorded (few), the identity agent with every identity attached;
    and their memory blocks."""
    agents: list[Item] = []
    blocks: list[Item] = []
    for name, raw in recorded["shared_agents"].items():
        value = dict(raw)
        if name == fleet.IDENTITY_AGENT:
            value["identities"] = ["\x00identities\x00"]
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        joined = ",".join(attached for _, attached in identities)
        text = text.replace('"\\u0000identities\\u0000"', joined)
        agents.append(Item(raw["id"], text, frozenset(raw["tags"]), {"name": name}))
        blocks += (
            Item(b["id"], json.dumps(b, separators=(",", ":")), frozenset(b.get("tags") or ()))
            for b in recorded["shared_blocks"][name]
        )
    return agents, blocks


def _dedicated(
    recorded: Mapping[str, Any], users: list[tuple[int, str]]
) -> tuple[list[Item], list[Item]]:
    sample = recorded["dedicated_agent"]
    user = recorded["dedicated_user"]
    slots = {sample["id"]: "id", user: "user"}
    labels = []
    for b in sample["blocks"]:
        slots[b["id"]] = f"block:{b['label']}"
        labels.append(b["label"])
    agent = Template(sample, slots)
    listed_blocks = {b["label"]: Template(b, slots) for b in recorded["dedicated_blocks"]}
    tags = [t.replace(user, "\x00") for t in sample["tags"]]
    agents, blocks = [], []
    for n, user_id in users:
        values = {"id": server_id("agent", n), "user": user_id}
        for index, label in enumerate(labels):
            values[f"block:{label}"] = server_id("block", n * len(labels) + index)
        name = f"assistant-{user_id}"
        agent_tags = frozenset(t.replace("\x00", user_id) for t in tags)
        agents.append(Item(values["id"], agent.render(values), agent_tags, {"name": name}))
        for label, template in listed_blocks.items():
            text = template.render(values)
            blocks.append(Item(values[f"block:{label}"], text, frozenset(json.loads(text)["tags"])))
    return agents, blocks


def _conversations(
    recorded: Mapping[str, Any], users: list[tuple[int, str]], agent_ids: Mapping[str, str]
) -> dict[str, list[Item]]:
    sample = recorded["conversation"]
    template = Template(
        sample,
        {sample["id"]: "id", sample["agent_id"]: "agent", recorded["conversation_user"]: "user"},
    )
    found: dict[str, list[Item]] = {agent_id: [] for agent_id in agent_ids.values()}
    for n, user in users:
        agent_id = agent_ids[fleet.shared_agent_of(n)]
        values = {"id": server_id("conv", n), "agent": agent_id, "user": user}
        found[agent_id].append(Item(values["id"], template.render(values)))
    return found


# Serving --------------------------------------------------------------------------------------


def page(items: list[Item], query: Mapping[str, list[str]]) -> str:
    """One page as the real server gives it: ascending ids after the cursor, `limit` long."""
    limit = int(query.get("limit", ["50"])[0])
    after = query.get("after", [None])[0]
    start = 0
    if after is not None:
        start = _after(items, after)
    return "[" + ",".join(item.text for item in items[start : start + limit]) + "]"


def _after(items: list[Item], after: str) -> int:
    low, high = 0, len(items)
    while low < high:
        middle = (low + high) // 2
        if items[middle].id <= after:
            low = middle + 1
        else:
            high = middle
    return low


def _filtered(items: Iterable[Item], query: Mapping[str, list[str]]) -> list[Item]:
    tags = set(query.get("tags", ()))
    kept = [i for i in items if not tags or i.tags & tags]
    for key in ("name", "identifier_key", "label"):
        if key in query:
            kept = [i for i in kept if i.keys.get(key) in query[key]]
    return kept


class Replay:
    """Answers GET requests from a synthesized fleet; counts what it could not answer."""

    def __init__(self, fleet_: Fleet) -> None:
        self.fleet = fleet_
        self.requests: Counter[str] = Counter()
        self.unknown: Counter[str] = Counter()
        self._lock = threading.Lock()

    def answer(self, path: str, query: Mapping[str, list[str]]) -> str | None:
        with self._lock:
            self.requests[path] += 1
        if path in self.fleet.fixed:
            return self.fleet.fixed[path]
        routes: dict[str, Callable[[], list[Item]]] = {
            "/v1/agents/": lambda: _filtered(self.fleet.agents, query),
            "/v1/blocks/": lambda: _filtered(self.fleet.blocks, query),
            "/v1/identities/": lambda: _filtered(self.fleet.identities, query),
            "/v1/conversations/": lambda: self.fleet.conversations.get(
                query.get("agent_id", [""])[0], []
            ),
            "/v1/tools/": lambda: [],
            # Listed by plans since data sources are managed; the recording predates them and
            # the fleet declares none: a server holding none answers an empty page.
            "/v1/folders/": lambda: [],
            "/v1/archives/": lambda: [],
        }
        if path not in routes:
            with self._lock:
                self.unknown[path] += 1
            return None
        return page(routes[path](), query)


def _handler(replay: Replay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            body = replay.answer(url.path, parse_qs(url.query))
            status = 200 if body is not None else 404
            data = (body if body is not None else '{"detail":"Not Found"}').encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


def serve(size: int, port: int, fixture: Path, shape: str = "fleet") -> None:
    """Serve a fleet of `size` users until stdin closes; print the URL once listening and,
    at the end, the requests served and the unknown ones (on stderr)."""
    replay = Replay(synthesize(json.loads(fixture.read_text(encoding="utf-8")), size, shape))
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(replay))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    sys.stdin.read()
    server.shutdown()
    summary = {"requests": dict(replay.requests), "unknown": dict(replay.unknown)}
    print(json.dumps(summary), file=sys.stderr, flush=True)


# Recording ------------------------------------------------------------------------------------


def record(upstream: str, port: int, out: Path) -> None:
    """Proxy GETs to `upstream` until stdin closes, then write the fixture from what passed."""
    import httpx

    seen: list[tuple[str, dict[str, list[str]], Any]] = []
    client = httpx.Client(base_url=upstream, timeout=60)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            answer = client.get(self.path)
            url = urlsplit(self.path)
            if answer.status_code == 200:
                seen.append((url.path, parse_qs(url.query), answer.json()))
            self.send_response(answer.status_code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    sys.stdin.read()
    server.shutdown()
    out.write_text(json.dumps(fixture_from(seen), indent=1, sort_keys=True) + "\n")
    print(f"wrote {out}", file=sys.stderr)


def fixture_from(seen: list[tuple[str, dict[str, list[str]], Any]]) -> dict[str, Any]:
    """One answer of each shape, from the exchanges of a plan of a small applied fleet."""
    stack_tag = f"letta-apply:{fleet.STACK}"
    by_path: dict[str, list[tuple[dict[str, list[str]], Any]]] = {}
    for path, query, body in seen:
        by_path.setdefault(path, []).append((query, body))
    agents = [
        a for q, body in by_path["/v1/agents/"] if stack_tag in q.get("tags", ()) for a in body
    ]
    shared = {a["name"]: a for a in agents if a["name"] in fleet.SHARED_AGENTS}
    dedicated = next(a for a in agents if a["name"].startswith("assistant-"))
    user = dedicated["name"].removeprefix("assistant-")
    blocks = [b for _, body in by_path["/v1/blocks/"] for b in body]
    own = {b["id"] for b in dedicated["blocks"]}
    conversation = by_path["/v1/conversations/"][0][1][0]
    marker = re.search(r"/([^/\]]+)\]$", conversation["summary"])
    assert marker is not None, conversation["summary"]
    identity = by_path["/v1/identities/"][0][1][0]
    support = shared[fleet.IDENTITY_AGENT]
    attached = next(i for i in support["identities"] if i["id"] == identity["id"])
    return {
        "requests": sorted({f"{p} {sorted(q)}" for p, q, _ in seen}),
        "health": by_path["/v1/health/"][0][1],
        "models": by_path["/v1/models/"][0][1],
        "embedding_models": by_path["/v1/models/embedding"][0][1],
        "mcp_servers": by_path.get("/v1/mcp-servers/", [({}, [])])[0][1],
        "shared_agents": {name: {**a, "identities": []} for name, a in shared.items()},
        "shared_blocks": {
            name: [b for b in blocks if b["id"] in {x["id"] for x in a["blocks"]}]
            for name, a in shared.items()
        },
        "dedicated_agent": dedicated,
        "dedicated_user": user,
        "dedicated_blocks": [b for b in blocks if b["id"] in own],
        "conversation": conversation,
        "conversation_user": marker.group(1),
        "identity": identity,
        "attached_identity": attached,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="proxy a real server and write the fixture")
    rec.add_argument("upstream")
    rec.add_argument("--port", type=int, default=0)
    rec.add_argument("--out", type=Path, default=FIXTURE)
    srv = sub.add_parser("serve", help="serve a synthesized fleet")
    srv.add_argument("--size", type=int, required=True)
    srv.add_argument("--port", type=int, default=0)
    srv.add_argument("--fixture", type=Path, default=FIXTURE)
    srv.add_argument("--shape", choices=sorted(fleet.SHAPES), default="fleet")
    args = parser.parse_args(argv)
    if args.command == "record":
        record(args.upstream, args.port, args.out)
    else:
        serve(args.size, args.port, args.fixture, args.shape)
    return 0


if __name__ == "__main__":
    sys.exit(main())
