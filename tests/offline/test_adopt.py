"""Adopting resources made by hand, one by one (`letta-apply adopt`) and in bulk (`--adopt`):
only the ownership marks are written, the next apply converges the rest, and a resource of
another stack, of another key or a lock is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.adopt import adopt
from reconciler.errors import LettaApplyError
from reconciler.plan.model import Adopt, Create
from tests.offline.stacks import Cli, Server, desired
from tests.offline.test_apply import TOOL, mixed

WEB = """
templates:
  assistant:
    blocks:
      human: {value: "Web user ${user.id}", policy: seed}
users:
  - {id: alice, pattern: dedicated, template: assistant}
"""


def hand_made(server: Server) -> dict[str, Any]:
    """What someone made before the stack existed: an agent for alice with its memory, the
    support agent and its conversation with bob, carol's identity, the tool."""
    letta = server.letta
    human = letta.block(label="human", value="User ID: alice", tags=[])
    persona = letta.block(label="persona", value="old", tags=[])
    company = letta.block(label="company", value="Acme.", tags=[])
    agent = {"model": "letta/letta-free", "embedding": "letta/letta-free"}
    alice = _agent(server, {**agent, "name": "alice-bot", "tags": ["user:alice"]})
    alice["block_ids"] = [human["id"], persona["id"]]
    support = _agent(server, {**agent, "name": "support", "tags": []})
    support["block_ids"] = [company["id"]]
    bob = letta.new(
        letta.conversations, {"agent_id": support["id"], "summary": "Support chat for bob"}
    )
    carol = letta.new(
        letta.identities,
        {"identifier_key": "carol", "name": "Carol", "identity_type": "user", "properties": []},
    )
    source = {"source_code": TOOL, "tags": []}
    tool = server.api.create("/v1/tools/", source, address="tool", find_existing=lambda: None)
    return {
        "agent/user:alice": alice["id"],
        "block/user:alice/human": human["id"],
        "block/user:alice/persona": persona["id"],
        "agent/support": support["id"],
        "block/company": company["id"],
        "conversation/support/bob": bob["id"],
        "identity/carol": carol["id"],
        "tool/lookup_order": tool["id"],
    }


def _agent(server: Server, body: dict[str, Any]) -> dict[str, Any]:
    made = server.api.create("/v1/agents/", body, address="agent", find_existing=lambda: None)
    return server.letta.agents.get(made["id"])


def test_each_kind_is_adopted_then_converged_not_created(server: Server, tmp_path: Path) -> None:
    wanted = mixed(tmp_path)
    ids = hand_made(server)
    for address, resource_id in ids.items():
        said = adopt(server.api, wanted, address, resource_id)
        assert said.endswith(f"now belongs to stack acme as {address}")
    plan = server.plan(wanted)
    created = {str(c.address) for c in plan.changes if isinstance(c, Create)}
    assert not created & set(ids)
    server.apply(wanted)
    assert not server.plan(wanted).has_changes
    assert server.letta.agents.get(ids["agent/user:alice"])["name"] == "assistant-alice"
    bob = server.letta.conversations.get(ids["conversation/support/bob"])
    assert bob["summary"] == "Support chat for bob [letta-apply:acme/bob]"


def test_the_command_adopts_under_the_lock(server: Server, cli: Cli, tmp_path: Path) -> None:
    mixed(tmp_path)
    ids = hand_made(server)
    folder = str(tmp_path / "stack")
    ran = cli("adopt", folder, "--address", "identity/carol", "--id", ids["identity/carol"])
    assert ran.code == 0, ran.err
    assert "now belongs to stack acme as identity/carol" in ran.out
    carol = server.letta.identities.get(ids["identity/carol"])
    assert {"key": "letta_apply_stack", "value": "acme", "type": "string"} in carol["properties"]
    assert not [i for i in server.letta.identities.rows.values() if "lock" in i["identifier_key"]]


@pytest.mark.parametrize(
    ("address", "change", "refusal"),
    [
        ("agent/user:alice", {"metadata": {"letta_apply": {"stack": "web"}}}, "stack 'web'"),
        ("identity/carol", {"identifier_key": "dave"}, "not 'carol'"),
        ("tool/lookup_order", {"name": "other"}, "not 'lookup_order'"),
        ("agent/user:zoe", {}, "not declared in stack 'acme'"),
        ("bogus/x", {}, "is not an address"),
        ("lock/acme", {}, "^lock/acme: "),
        ("conversation/support/bob", {"agent_id": "agent-elsewhere"}, "not on the stack's agent"),
    ],
)
def test_what_is_not_the_stacks_to_take_is_refused(
    server: Server, tmp_path: Path, address: str, change: dict[str, Any], refusal: str
) -> None:
    wanted = mixed(tmp_path)
    ids = hand_made(server)
    adopt(server.api, wanted, "agent/support", ids["agent/support"])
    resource_id = ids.get(address, "agent-x")
    for collection in ("agents", "identities", "tools", "conversations"):
        if resource_id in getattr(server.letta, collection).rows:
            getattr(server.letta, collection).rows[resource_id].update(change)
    before = [str(r) for r in server.letta.writes()]
    with pytest.raises(LettaApplyError, match=refusal):
        adopt(server.api, wanted, address, resource_id)
    assert [str(r) for r in server.letta.writes()] == before


def test_a_lock_record_is_never_adopted(server: Server, tmp_path: Path) -> None:
    wanted = mixed(tmp_path)
    lock = server.letta.block(label="letta_apply_lock", value="{}", tags=["letta-apply-lock:acme"])
    with pytest.raises(LettaApplyError, match="apply lock"):
        adopt(server.api, wanted, "block/company", lock["id"])


def test_bulk_adoption_takes_what_holds_a_declared_key(server: Server, tmp_path: Path) -> None:
    wanted = mixed(tmp_path)
    ids = hand_made(server)
    plan = server.plan(wanted, adopt=True)
    adopted = {str(c.address): c.resource_id for c in plan.changes if isinstance(c, Adopt)}
    assert adopted == {a: i for a, i in ids.items() if a in adopted}
    assert {"agent/user:alice", "agent/support", "identity/carol", "tool/lookup_order"} <= set(
        adopted
    )
    server.apply(wanted, adopt=True)
    assert not server.plan(wanted).has_changes
    assert server.letta.agents.get(ids["agent/user:alice"])["name"] == "assistant-alice"


def test_an_agent_of_another_stack_blocks_the_user_and_is_left_alone(
    server: Server, tmp_path: Path
) -> None:
    other = desired(tmp_path, WEB, name="web", folder="web")
    server.apply(other)
    wanted = mixed(tmp_path)
    plan = server.plan(wanted, adopt=True)
    blocked = [n for n in plan.notices if str(n.address) == "agent/user:alice"]
    assert blocked and "stack 'web'" in blocked[0].message
    assert not [c for c in plan.changes if str(c.address) == "agent/user:alice"]
