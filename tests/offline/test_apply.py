"""Planning and applying a whole stack on the in-memory server, through the workflow's steps:
every kind created, a second plan empty, changes and deletions converged, and every write the
apply sends belonging to a change the plan showed."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.address import Kind
from reconciler.apply.results import ApplyResult
from reconciler.desired import DesiredState
from reconciler.errors import StalePlanError
from reconciler.ownership import is_lock_record
from reconciler.plan.model import Create, Delete, Plan, Update
from reconciler.planning import make_plan
from reconciler.workflow import ApplyOptions, Hooks, apply_saved_plan
from tests.letta_memory import Request
from tests.offline.stacks import Server, desired

MIXED = """
tools:
  lookup_order: {source: tools/lookup_order.py}
templates:
  assistant:
    tags: [tier:premium]
    metadata: {plan: {tier: pro, seats: 5}}
    blocks:
      persona: {value: "I am a personal assistant.", policy: enforce}
      human: {value: "User ID: ${user.id}", policy: seed}
agents:
  support:
    tools: [lookup_order, web_search]
    sharedBlocks: [company]
    blocks:
      persona: {value: "I am the support agent.", policy: enforce}
blocks:
  company: {value: "Acme sells anvils.", policy: enforce}
users:
  - {id: alice, name: Alice, pattern: dedicated, template: assistant}
  - {id: bob, pattern: shared, agent: support}
  - {id: carol, name: Carol, pattern: identity, agent: support, properties: {plan: pro}}
"""

TOOL = '''
def lookup_order(order_id: str) -> str:
    """Look up an order.

    Args:
        order_id: the order
    """
    return order_id
'''


def mixed(tmp_path: Path, body: str = MIXED) -> DesiredState:
    tools = tmp_path / "stack" / "tools"
    tools.mkdir(parents=True, exist_ok=True)
    (tools / "lookup_order.py").write_text(TOOL)
    return desired(tmp_path, body)


def stack_writes(server: Server, since: int = 0) -> list[Request]:
    """The writes sent after request `since`, the stack lock's own left out."""
    letta = server.letta
    records = [*letta.identities.removed.values(), *letta.blocks.removed.values()]
    locks = {r["id"] for r in records if is_lock_record(r)}
    return [
        r
        for r in letta.requests[since:]
        if r.writes and not is_lock_record(r.body or {}) and r.path.rsplit("/", 1)[-1] not in locks
    ]


def assert_planned(server: Server, plan: Plan, results: list[ApplyResult], since: int) -> None:
    """Every write names a resource a change of the plan is about (its id, the id its create
    made, a deleted agent's own block), or creates a resource of a kind the plan creates."""
    ids = {c.resource_id for c in plan.changes if isinstance(c, Update | Delete)}
    ids |= {r.resource_id for r in results if r.resource_id}
    ids |= {i for c in plan.changes if isinstance(c, Delete) for i in c.owned_children}
    created = {c.address.kind for c in plan.changes if isinstance(c, Create)}
    collections = {
        "agents": Kind.AGENT,
        "blocks": Kind.BLOCK,
        "conversations": Kind.CONVERSATION,
        "identities": Kind.IDENTITY,
        "tools": Kind.TOOL,
        "mcp-servers": Kind.MCP_SERVER,
    }
    for request in stack_writes(server, since):
        parts = request.path.strip("/").split("/")
        if request.method == "POST" and len(parts) == 2:
            assert collections[parts[1]] in created, request
        else:
            assert ids & set(parts), request


def test_a_stack_applied_from_empty_converges(server: Server, tmp_path: Path) -> None:
    wanted = mixed(tmp_path)
    plan = server.plan(wanted)
    since = len(server.letta.requests)
    results = server.apply(wanted)
    assert len(results) == len(plan.changes) and all(r.ok for r in results)
    assert_planned(server, plan, results, since)
    assert not server.plan(wanted).has_changes

    alice = server.named("assistant-alice")
    assert sorted(alice["tags"]) == ["letta-apply:acme", "tier:premium", "user:alice"]
    assert alice["metadata"]["plan"] == {"tier": "pro", "seats": 5}
    assert alice["metadata"]["letta_apply"] == {"stack": "acme", "address": "agent/user:alice"}
    labels = sorted(server.letta.blocks.rows[i]["label"] for i in alice["block_ids"])
    assert labels == ["human", "persona"]
    support = server.named("support")
    held = {server.letta.blocks.rows[i]["label"] for i in support["block_ids"]}
    assert held == {"persona", "company"}
    tools = {server.letta.tools.rows[i]["name"] for i in support["tool_ids"]}
    assert {"lookup_order", "web_search"} <= tools
    [carol] = [i for i in server.letta.identities.rows.values() if i["identifier_key"] == "carol"]
    assert carol["id"] in support["identity_ids"]
    [bob] = server.letta.conversations.rows.values()
    assert bob["agent_id"] == support["id"]
    assert bob["summary"].endswith("[letta-apply:acme/bob]")


def test_changes_and_removals_converge(server: Server, tmp_path: Path) -> None:
    server.apply(mixed(tmp_path))
    changed = MIXED.replace("seats: 5", "seats: 5.0, region: eu").replace(
        "I am the support agent.", "I help with orders."
    )
    changed = changed.replace(
        "  - {id: alice, name: Alice, pattern: dedicated, template: assistant}\n", ""
    )
    changed = changed.replace(
        "{id: bob, pattern: shared, agent: support}", "{id: bob, pattern: identity, agent: support}"
    )
    wanted = mixed(tmp_path, changed + "prune: {enabled: true, maxDeletePercent: 100}\n")
    alice = server.named("assistant-alice")
    plan = server.plan(wanted)
    deleted = {str(c.address) for c in plan.changes if isinstance(c, Delete)}
    assert deleted == {"agent/user:alice", "conversation/support/bob"}
    [agent_delete] = [c for c in plan.changes if str(c.address) == "agent/user:alice"]
    assert isinstance(agent_delete, Delete)
    assert sorted(agent_delete.owned_children) == sorted(alice["block_ids"])
    since = len(server.letta.requests)
    results = server.apply(wanted)
    assert_planned(server, plan, results, since)
    assert not server.plan(wanted).has_changes
    assert not set(alice["block_ids"]) & set(server.letta.blocks.rows)  # not left behind
    assert not server.letta.conversations.rows
    persona = [b for b in server.letta.blocks.rows.values() if b["label"] == "persona"]
    assert [b["value"] for b in persona] == ["I help with orders."]


def test_a_seeded_block_an_agent_changed_is_kept_and_reported(
    server: Server, tmp_path: Path
) -> None:
    wanted = mixed(tmp_path)
    server.apply(wanted)
    alice = server.named("assistant-alice")
    [human] = [
        server.letta.blocks.rows[i]
        for i in alice["block_ids"]
        if server.letta.blocks.rows[i]["label"] == "human"
    ]
    human["value"] = "User ID: alice\nLikes: anvils"
    plan = server.plan(wanted)
    assert not plan.has_changes
    [drift] = [n for n in plan.notices if str(n.address) == "block/user:alice/human"]
    assert drift.kind.value == "drift"
    assert human["value"].endswith("Likes: anvils")


def test_a_plan_made_only_to_be_shown_cannot_be_applied(server: Server, tmp_path: Path) -> None:
    """Without the digest of the live state it was made from, it is refused as stale."""
    wanted = mixed(tmp_path)
    shown, _live = make_plan(server.api, wanted, prune=None, parallelism=4, summarized=False)
    assert shown.has_changes and shown.live_fingerprint == ""
    with pytest.raises(StalePlanError):
        apply_saved_plan(server.api, shown, ApplyOptions(), Hooks())
    assert server.plan(wanted).changes == shown.changes  # nothing was applied
