"""`--adopt` against the real server: a fleet made by hand the way the seeds' functions make it
is taken over as planned changes (one `adopt` per resource, in every format), learned memory
is kept, a second plan finds nothing to do, and what another stack owns is never taken."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from letta_client import Letta

from tests.integration.helpers import letta_apply, write_manifest

pytestmark = pytest.mark.server


def make_fleet(sdk: Letta, prefix: str, dedicated: int, shared: int) -> dict[str, Any]:
    """Agents, a support agent with a conversation per user, and identities, created as the
    seeds' `create_agent_for_user`, `start_user_conversation` and `create_user_identity` do."""
    users = [f"{prefix}-u{n}" for n in range(dedicated)]
    for user in users:
        sdk.agents.create(
            name=f"assistant-{user}",
            model="letta/letta-free",
            embedding="letta/letta-free",
            memory_blocks=[
                {"label": "persona", "value": "I am a personal assistant."},
                {"label": "human", "value": f"User ID: {user}\nPreferences: (to be learned)"},
            ],
            tags=[f"user:{user}"],
        )
    support = sdk.agents.create(
        name=f"support-{prefix}",
        model="letta/letta-free",
        embedding="letta/letta-free",
        memory_blocks=[{"label": "persona", "value": "I am a support agent."}],
    )
    guests = [f"{prefix}-g{n}" for n in range(shared)]
    for guest in guests:
        sdk.post(
            "/v1/conversations/",
            cast_to=object,
            body={"summary": f"Support chat for {guest}"},
            options={"params": {"agent_id": support.id}},
        )
    customer = f"{prefix}-c0"
    identity: Any = sdk.post(
        "/v1/identities/",
        cast_to=object,
        body={"identifier_key": customer, "name": "Carol", "identity_type": "user"},
    )
    sdk.agents.identities.attach(identity["id"], agent_id=support.id)
    return {"users": users, "support": support, "guests": guests, "customer": customer}


MANIFEST = """
apiVersion: letta-apply/v1
stack: {stack}
defaults: {{model: letta/letta-free, embedding: letta/letta-free}}
templates:
  assistant:
    name: "assistant-${{user.id}}"
    blocks:
      persona: {{value: "I am a personal assistant.", policy: enforce}}
      human: {{value: "User ID: ${{user.id}}\\nPreferences: (to be learned)"}}
agents:
  support:
    name: support-{prefix}
    conversationSummary: "Support chat for ${{user.id}}"
    blocks:
      persona: {{value: "I am a support agent.", policy: enforce}}
users:
{users}
"""


def write_fleet_manifest(directory: Path, stack: str, prefix: str, fleet: dict[str, Any]) -> Path:
    users = [f"  - {{id: {u}, pattern: dedicated, template: assistant}}" for u in fleet["users"]]
    users += [f"  - {{id: {g}, pattern: shared, agent: support}}" for g in fleet["guests"]]
    users.append(f"  - {{id: {fleet['customer']}, name: Carol, pattern: identity, agent: support}}")
    text = MANIFEST.format(stack=stack, prefix=prefix, users="\n".join(users))
    return write_manifest(directory, text)


def test_a_hand_made_fleet_is_adopted_and_then_converged(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    fleet = make_fleet(sdk, stack_name, dedicated=6, shared=4)
    learned_user = fleet["users"][0]
    [learner] = sdk.agents.list(tags=[f"user:{learned_user}"])
    learned = f"User ID: {learned_user}\nPreferences: likes tea (learned)"
    sdk.agents.blocks.update("human", agent_id=learner.id, value=learned)
    path = write_fleet_manifest(tmp_path / "m", stack_name, stack_name, fleet)

    without = letta_apply("plan", str(path), "--format", "json", url=letta_url)
    blocked = [n for n in json.loads(without.stdout)["notices"] if n["kind"] == "blocked"]
    assert len(blocked) >= 7  # 6 agents and the identity are in the way

    planned = letta_apply("plan", str(path), "--adopt", "--format", "json", url=letta_url)
    assert planned.code == 0, planned.output
    document = json.loads(planned.stdout)
    adopted = {c["address"] for c in document["changes"] if c["action"] == "adopt"}
    expected = {f"agent/user:{u}" for u in fleet["users"]}
    expected |= {
        f"block/user:{u}/{label}" for u in fleet["users"] for label in ("persona", "human")
    }
    expected |= {"agent/support", "block/support/persona", f"identity/{fleet['customer']}"}
    expected |= {f"conversation/support/{g}" for g in fleet["guests"]}
    assert adopted == expected
    assert document["summary"]["adopt"] == len(expected)
    assert not [c for c in document["changes"] if c["action"] in ("create", "delete")]
    text = letta_apply("plan", str(path), "--adopt", url=letta_url)
    assert f"= agent/user:{learned_user}" in text.stdout and "to adopt" in text.stdout
    markdown = letta_apply("plan", str(path), "--adopt", "--format", "markdown", url=letta_url)
    assert "| Adopt |" in markdown.stdout

    applied = letta_apply(str(path), "--adopt", url=letta_url)
    assert applied.code == 0, applied.output
    again = letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url)
    assert again.code == 0, again.output
    kept = sdk.agents.blocks.retrieve("human", agent_id=learner.id)
    assert kept.value == learned
    assert len(sdk.agents.list(tags=[f"letta-apply:{stack_name}"]).items) == 7
    conversations: Any = sdk.get(
        "/v1/conversations/", cast_to=object, options={"params": {"agent_id": fleet["support"].id}}
    )
    assert len(conversations) == len(fleet["guests"])  # none made twice


def test_what_another_stack_owns_is_never_adopted(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    user = f"{stack_name}-taken"
    other = write_manifest(
        tmp_path / "other",
        f"""
        apiVersion: letta-apply/v1
        stack: {stack_name}-other
        defaults: {{model: letta/letta-free, embedding: letta/letta-free}}
        templates: {{assistant: {{}}}}
        users:
          - {{id: {user}, pattern: dedicated, template: assistant}}
        """,
    )
    assert letta_apply(str(other), url=letta_url).code == 0
    mine = write_manifest(
        tmp_path / "mine",
        f"""
        apiVersion: letta-apply/v1
        stack: {stack_name}
        defaults: {{model: letta/letta-free, embedding: letta/letta-free}}
        templates: {{assistant: {{}}}}
        users:
          - {{id: {user}, pattern: dedicated, template: assistant}}
        """,
    )
    planned = letta_apply("plan", str(mine), "--adopt", "--format", "json", url=letta_url)
    document = json.loads(planned.stdout)
    assert [c for c in document["changes"] if c["action"] == "adopt"] == []
    assert any(n["kind"] == "blocked" for n in document["notices"])
    applied = letta_apply(str(mine), "--adopt", url=letta_url)
    assert applied.code == 3, applied.output
    [agent] = sdk.agents.list(tags=[f"user:{user}"], include=["agent.tags"])
    assert f"letta-apply:{stack_name}-other" in agent.tags
    assert f"letta-apply:{stack_name}" not in agent.tags


def test_a_shared_block_is_adopted_only_when_no_stack_marked_it(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    other = write_manifest(
        tmp_path / "other",
        f"""
        apiVersion: letta-apply/v1
        stack: {stack_name}-other
        defaults: {{model: letta/letta-free, embedding: letta/letta-free}}
        templates:
          assistant:
            blocks:
              notes: {{value: "Theirs."}}
        users:
          - {{id: {stack_name}-x, pattern: dedicated, template: assistant}}
        """,
    )
    assert letta_apply(str(other), url=letta_url).code == 0
    [theirs] = sdk.agents.list(tags=[f"user:{stack_name}-x"], include=["agent.blocks"])
    [marked] = [b for b in theirs.blocks if b.label == "notes"]
    policies = sdk.blocks.create(label="policies", value="Refunds within 30 days.")
    desks = [
        sdk.agents.create(
            name=f"desk-{n}-{stack_name}",
            model="letta/letta-free",
            embedding="letta/letta-free",
            block_ids=[policies.id, marked.id],
        )
        for n in range(2)
    ]
    agents = "\n".join(
        f"  desk{n}: {{name: desk-{n}-{stack_name}, sharedBlocks: [policies, notes]}}"
        for n in range(2)
    )
    mine = write_manifest(
        tmp_path / "mine",
        f"""
apiVersion: letta-apply/v1
stack: {stack_name}
defaults: {{model: letta/letta-free, embedding: letta/letta-free}}
blocks:
  policies: {{value: "Refunds within 30 days."}}
  notes: {{value: "Theirs."}}
agents:
{agents}
""",
    )
    planned = letta_apply("plan", str(mine), "--adopt", "--format", "json", url=letta_url)
    assert planned.code == 0, planned.output
    changes = {(c["action"], c["address"]) for c in json.loads(planned.stdout)["changes"]}
    assert ("adopt", "block/policies") in changes
    assert ("create", "block/notes") in changes  # another stack's block is never taken
    assert not [c for c in changes if c[0] == "attach"]  # the label is held: blocked
    applied = letta_apply(str(mine), "--adopt", url=letta_url)
    assert applied.code == 3, applied.output  # converged but for the blocked attachments
    held = sdk.blocks.retrieve(policies.id)
    assert f"letta-apply:{stack_name}" in (held.tags or [])
    assert sdk.blocks.retrieve(marked.id).tags == [f"letta-apply:{stack_name}-other"]
    for desk in desks:
        labels = [b.label for b in sdk.agents.blocks.list(agent_id=desk.id)]
        assert sorted(labels) == ["notes", "policies"]
