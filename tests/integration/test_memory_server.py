"""The in-memory server (tests/letta_memory) answers as the real one where letta-apply depends
on it: the same requests, sent through letta-apply's client to both, are observed alike; and
one stack applied to both, then changed, is planned alike. When Letta changes one of these
behaviours, this test fails and the in-memory server is brought back in step."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.client import LettaApi
from reconciler.errors import ServerError
from reconciler.plan.model import Update
from tests.letta_memory import MemoryLetta, serving
from tests.offline.conftest import client
from tests.offline.stacks import Server, desired
from tests.offline.test_apply import TOOL

pytestmark = pytest.mark.server


@pytest.fixture
def both(letta_url: str) -> Iterator[dict[str, LettaApi]]:
    """letta-apply's client for the real server and for the in-memory one."""
    with (
        serving(MemoryLetta()) as (_, memory_url),
        client(letta_url) as real,
        client(memory_url) as memory,
    ):
        yield {"real": real, "memory": memory}


def _refusal(call: Any) -> int | None:
    try:
        call()
    except ServerError as exc:
        return exc.status
    return None


def observe(api: LettaApi) -> dict[str, Any]:
    """What letta-apply relies on, observed with requests of its own kind."""
    mark = uuid.uuid4().hex[:8]
    tag, seen = f"same:{mark}", {}
    body = {
        "name": f"same-{mark}",
        "model": "letta/letta-free",
        "embedding": "letta/letta-free",
        "tags": [tag, "b"],
        "metadata": {"k": 1},
        "include_base_tools": False,
        "memory_blocks": [{"label": "human", "value": "hi", "tags": [tag], "metadata": {"m": 2}}],
    }
    agent = api.create("/v1/agents/", body, address="agent", find_existing=lambda: None)
    path = f"/v1/agents/{agent['id']}"
    bare = api.get(path)
    seen["without include"] = (bare["tags"], bare["blocks"], bare["identities"])
    tagged = api.get(path, {"include": ["agent.tags"]})
    seen["tags include"] = (sorted(tagged["tags"]), tagged["blocks"])  # in no set order
    [listed] = api.get("/v1/agents/", {"tags": [tag], "include": ["agent.blocks"]})
    seen["block inside agent"] = [(b["label"], b["tags"], b["metadata"]) for b in listed["blocks"]]
    memory = api.get(f"{path}/core-memory/blocks")
    seen["core memory"] = [(b["label"], b["tags"]) for b in memory]
    api.patch(path, {"tags": ["only"], "metadata": {"n": 2}})
    patched = api.get(path, {"include": ["agent.tags"]})
    seen["replaced whole"] = (patched["tags"], patched["metadata"])

    chat = api.create(
        "/v1/conversations/",
        {"summary": f"Hello [{mark}]"},
        params={"agent_id": agent["id"]},
        address="conversation",
        find_existing=lambda: None,
    )
    search = {"agent_id": agent["id"]}
    seen["summary search"] = [
        len(api.get("/v1/conversations/", {**search, "summary_search": text}))
        for text in (f"[{mark}]", "llo [", "HELLO")
    ]

    key = f"same-{mark}"
    person = {"identifier_key": key, "name": "N", "identity_type": "user"}
    identity = api.create(
        "/v1/identities/",
        {**person, "properties": [_prop("a", "1")]},
        address="identity",
        find_existing=lambda: None,
    )
    seen["second identity of a key"] = _refusal(
        lambda: api.create(
            "/v1/identities/", person, address="identity", find_existing=lambda: None
        )
    )
    changed = api.patch(f"/v1/identities/{identity['id']}", {"properties": [_prop("b", "2")]})
    seen["properties merged"] = sorted(p["key"] for p in changed["properties"])
    api.put(f"/v1/identities/{identity['id']}/properties", [_prop("c", "3")])
    replaced = api.get(f"/v1/identities/{identity['id']}")
    seen["properties replaced"] = sorted(p["key"] for p in replaced["properties"])
    api.patch(f"{path}/identities/attach/{identity['id']}")
    seen["identity agent_ids"] = api.get(f"/v1/identities/{identity['id']}")["agent_ids"]

    blocks = [
        api.create(
            "/v1/blocks/",
            {"label": f"p{mark}", "value": str(n), "tags": [tag]},
            address="block",
            find_existing=lambda: None,
        )
        for n in range(3)
    ]
    # Pages asked for one at a time, the delete between them (`paginate` asks for the next
    # page while the caller goes through one, which would race with the delete).
    listing = {"tags": [tag], "limit": 2, "order": "asc"}
    first = api.get("/v1/blocks/", listing)
    api.delete(f"/v1/blocks/{blocks[1]['id']}")
    rest = api.get("/v1/blocks/", {**listing, "after": first[-1]["id"]})
    seen["pages around a delete"] = [b["value"] for b in (*first, *rest)]
    seen["attach twice"] = [
        _refusal(lambda: api.patch(f"{path}/core-memory/blocks/attach/{blocks[0]['id']}"))
        for _ in range(2)
    ]
    seen["detach twice"] = [
        _refusal(lambda: api.patch(f"{path}/core-memory/blocks/detach/{blocks[0]['id']}"))
        for _ in range(2)
    ]

    source = TOOL.replace("lookup_order", f"same_{mark}")
    tool = api.create(
        "/v1/tools/",
        {"source_code": source, "tags": ["one"]},
        address="tool",
        find_existing=lambda: None,
    )
    again = api.create(
        "/v1/tools/",
        {"source_code": source, "tags": ["two"]},
        address="tool",
        find_existing=lambda: None,
    )
    seen["tool of a taken name"] = (again["id"] == tool["id"], again["tags"])
    seen["tool metadata on create"] = _refusal(
        lambda: api.create(
            "/v1/tools/",
            {"source_code": source, "metadata_": {}},
            address="tool",
            find_existing=lambda: None,
        )
    )
    api.delete(f"/v1/tools/{tool['id']}")
    seen["deleting a deleted tool"] = _refusal(lambda: api.delete(f"/v1/tools/{tool['id']}"))

    api.delete(path)
    seen["after the agent is deleted"] = (
        _refusal(lambda: api.get(f"/v1/conversations/{chat['id']}")),
        [b["label"] for b in api.get("/v1/blocks/", {"tags": [tag], "label": "human"})],
    )
    for leftover in api.get("/v1/blocks/", {"tags": [tag]}):
        api.delete(f"/v1/blocks/{leftover['id']}")
    api.delete(f"/v1/identities/{identity['id']}")
    return json.loads(json.dumps(seen).replace(mark, "MARK"))


def _prop(key: str, value: str) -> dict[str, str]:
    return {"key": key, "value": value, "type": "string"}


def test_the_same_requests_are_answered_alike(both: dict[str, LettaApi]) -> None:
    real, memory = observe(both["real"]), observe(both["memory"])
    assert memory == real


STACK = """
templates:
  assistant:
    metadata: {plan: {tier: pro}}
    blocks:
      persona: {value: "I assist.", policy: enforce}
      human: {value: "User ${user.id}", policy: seed}
agents:
  desk:
    blocks:
      persona: {value: "I am the desk.", policy: enforce}
users:
  - {id: alice, pattern: dedicated, template: assistant}
  - {id: bob, pattern: shared, agent: desk}
  - {id: carol, pattern: identity, agent: desk}
prune: {enabled: true, maxDeletePercent: 100}
"""


GONE = "prune: {enabled: true, maxDeletePercent: 100}\n"
"""The stack with nothing declared: everything it made is deleted."""


def test_one_stack_is_applied_and_planned_alike(both: dict[str, LettaApi], tmp_path: Path) -> None:
    name = f"same-{uuid.uuid4().hex[:8]}"
    plans = {}
    for where, api in both.items():
        server = Server(MemoryLetta(), "", api)
        first = desired(tmp_path, _users_of(STACK, name), name=name, folder=where)
        server.apply(first)
        changed = STACK.replace("tier: pro", "tier: team").replace("I am the desk.", "I help.")
        changed = changed.replace("  - {id: bob, pattern: shared, agent: desk}\n", "")
        second = desired(tmp_path, _users_of(changed, name), name=name, folder=where)
        plan = server.plan(second)
        plans[where] = sorted(
            (
                c.action.value,
                str(c.address),
                tuple(f.path for f in c.fields) if isinstance(c, Update) else (),
            )
            for c in plan.changes
        )
        server.apply(second)
        assert not server.plan(second).has_changes
        server.apply(desired(tmp_path, GONE, name=name, folder=f"{where}-gone"))
    assert plans["memory"] == plans["real"]


def _users_of(text: str, stack: str) -> str:
    """Users of this stack only: identifier keys are unique on a shared server."""
    return text.replace("alice", f"alice-{stack}").replace("carol", f"carol-{stack}")
