"""The reconciler end to end against the real Letta server: the seeds' patterns, learned
memory, in-place updates, deletion rules and saved plans.

Every test stack here tags its users' agents `user:<id>@<stack>` (`defaults.userTag`), as an
app sharing a server with others would, so the tests' stacks never block each other's users.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from letta_client import Letta

from reconciler.plan.serialize import plan_document, plan_from_dict
from tests.integration.helpers import letta_apply, write_manifest

pytestmark = pytest.mark.server

MANIFEST = """
apiVersion: letta-apply/v1
stack: {stack}
defaults:
  model: letta/letta-free
  embedding: letta/letta-free
  userTag: "user:${{user.id}}@{stack}"
templates:
  assistant:
    tags: [tier:premium]
    blocks:
      persona: {{value: "I am a personal assistant.", policy: enforce}}
      human:
        value: "User ID: ${{user.id}}\\nName: ${{user.name}}\\nPreferences: (to be learned)"
        limit: 2000
        policy: {human_policy}
agents:
  support:
    blocks:
      persona: {{value: "I am a customer support agent for Acme Corp.", policy: enforce}}
      knowledge: {{value: "Product info, policies, etc.", policy: enforce}}
users:
{users}
"""

USERS = [
    "  - {id: alice, name: Alice, pattern: dedicated, template: assistant, tags: [plan:pro]}",
    "  - {id: dave, name: Dave, pattern: dedicated, template: assistant}",
    "  - {id: bob, pattern: shared, agent: support}",
    "  - {id: erin, pattern: shared, agent: support}",
    "  - id: carol-{stack}\n    name: Carol\n    pattern: identity\n    agent: support\n"
    "    properties: {email: carol@acme.com, plan: enterprise, company: Acme}",
]


def manifest(
    tmp_path: Path,
    stack: str,
    users: list[str] = USERS,
    human_policy: str = "seed",
    extra: str = "",
) -> Path:
    # Identity keys are unique on a server, so identity users are named per stack.
    listed = "\n".join(users).replace("{stack}", stack)
    text = MANIFEST.format(stack=stack, users=listed, human_policy=human_policy)
    return write_manifest(tmp_path / "m", text + extra)


def only_agent(sdk: Letta, user_id: str, stack: str) -> Any:
    agents = [
        a
        for a in sdk.agents.list(
            tags=[f"user:{user_id}@{stack}"], include=["agent.tags", "agent.blocks"]
        )
        if f"letta-apply:{stack}" in a.tags
    ]
    assert len(agents) == 1, [a.id for a in agents]
    return agents[0]


def test_seed_patterns_end_to_end(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    path = manifest(tmp_path, stack_name)
    applied = letta_apply(str(path), url=letta_url)
    assert applied.code == 0, applied.output
    assert "Apply complete" in applied.stdout

    alice = only_agent(sdk, "alice", stack_name)
    blocks = {b.label: b.value for b in alice.blocks}
    assert blocks["human"] == "User ID: alice\nName: Alice\nPreferences: (to be learned)"
    assert blocks["persona"] == "I am a personal assistant."
    assert {f"user:alice@{stack_name}", "tier:premium", "plan:pro"} <= set(alice.tags)

    outputs = json.loads(letta_apply("outputs", str(path), url=letta_url).stdout)["users"]
    support_id = outputs["bob"]["agent_id"]
    conversations = sdk.conversations.list(agent_id=support_id)
    summaries = {c.id: c.summary for c in conversations}
    for user in ("bob", "erin"):
        conversation_id = outputs[user]["conversation_id"]
        assert conversation_id in summaries, (user, summaries)
        assert user in (summaries[conversation_id] or "")
    support = sdk.agents.retrieve(support_id, include=["agent.identities"])
    carol_id = outputs[f"carol-{stack_name}"]["identity_id"]
    assert carol_id is not None
    assert carol_id in {i.id for i in support.identities}
    assert outputs["alice"]["agent_id"] == alice.id

    again = letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url)
    assert again.code == 0, again.output
    assert "No changes" in again.stdout


def test_learned_memory_survives_and_enforce_restores(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    users = USERS[:1]
    path = manifest(tmp_path, stack_name, users)
    assert letta_apply(str(path), url=letta_url).code == 0
    alice = only_agent(sdk, "alice", stack_name)
    learned = "User ID: alice\nName: Alice\nPreferences: likes tea"
    sdk.agents.blocks.update("human", agent_id=alice.id, value=learned)

    seeded = letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url)
    assert seeded.code == 0, seeded.output
    assert "likes tea" in seeded.stdout  # shown as information
    assert letta_apply(str(path), url=letta_url).code == 0
    assert {b.label: b.value for b in only_agent(sdk, "alice", stack_name).blocks}[
        "human"
    ] == learned

    path = manifest(tmp_path, stack_name, users, human_policy="enforce")
    enforced = letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url)
    assert enforced.code == 2, enforced.output
    assert "likes tea" in enforced.stdout and "to be learned" in enforced.stdout
    assert letta_apply(str(path), url=letta_url).code == 0
    human = {b.label: b.value for b in only_agent(sdk, "alice", stack_name).blocks}["human"]
    assert human == "User ID: alice\nName: Alice\nPreferences: (to be learned)"


def test_template_change_updates_in_place(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    users = USERS[:2]
    path = manifest(tmp_path, stack_name, users)
    assert letta_apply(str(path), url=letta_url).code == 0
    before = {u: only_agent(sdk, u, stack_name).id for u in ("alice", "dave")}

    text = (path / "stack.yaml").read_text()
    text = text.replace("tags: [tier:premium]", "tags: [tier:gold]")
    text = text.replace('"I am a personal assistant."', '"I am your personal assistant."')
    text = text.replace("limit: 2000", "limit: 3000")
    (path / "stack.yaml").write_text(text)
    changed = letta_apply(str(path), url=letta_url)
    assert changed.code == 0, changed.output

    for user, agent_id in before.items():
        agent = only_agent(sdk, user, stack_name)
        assert agent.id == agent_id
        assert "tier:gold" in agent.tags and "tier:premium" not in agent.tags
        blocks = {b.label: b for b in agent.blocks}
        assert blocks["persona"].value == "I am your personal assistant."
        assert blocks["human"].limit == 3000
    assert letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url).code == 0


def test_removed_user_needs_prune_and_foreign_agents_are_untouched(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    foreign = sdk.agents.create(
        name="hand-made",
        model="letta/letta-free",
        embedding="letta/letta-free",
        tags=["user:dave"],
        memory_blocks=[{"label": "human", "value": "not yours"}],
    )
    path = manifest(tmp_path, stack_name, USERS[:2])
    assert letta_apply(str(path), url=letta_url).code == 0
    dave = only_agent(sdk, "dave", stack_name)
    dave_blocks = [b.id for b in dave.blocks]

    path = manifest(tmp_path, stack_name, USERS[:1])
    planned = letta_apply("plan", str(path), url=letta_url)
    assert "agent/user:dave" in planned.stdout and "prune" in planned.stdout
    assert letta_apply(str(path), url=letta_url).code == 0
    assert only_agent(sdk, "dave", stack_name).id == dave.id

    refused = letta_apply(str(path), "--prune", url=letta_url)
    assert refused.code == 1 and "--allow-delete" in refused.stderr
    pruned = letta_apply(
        str(path), "--prune", "--allow-delete", "--allow-mass-delete", url=letta_url
    )
    assert pruned.code == 0, pruned.output
    owned = [
        a
        for a in sdk.agents.list(tags=[f"user:dave@{stack_name}"], include=["agent.tags"])
        if f"letta-apply:{stack_name}" in a.tags
    ]
    assert owned == []
    remaining = {b.id for b in sdk.blocks.list(limit=1000)}
    assert not remaining & set(dave_blocks)
    kept = sdk.agents.retrieve(foreign.id, include=["agent.blocks", "agent.tags"])
    assert kept.tags == ["user:dave"] and kept.blocks[0].value == "not yours"
    sdk.agents.delete(foreign.id)


def test_saved_plan_is_refused_after_the_server_changed(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    path = manifest(tmp_path, stack_name, USERS[:1])
    assert letta_apply(str(path), url=letta_url).code == 0
    path = manifest(tmp_path, stack_name, USERS[:2])
    plan_file = tmp_path / "plan.json"
    assert letta_apply("plan", str(path), "--out", str(plan_file), url=letta_url).code == 0

    alice = only_agent(sdk, "alice", stack_name)
    sdk.agents.blocks.update("human", agent_id=alice.id, value="edited meanwhile")
    stale = letta_apply("apply", str(plan_file), url=letta_url)
    assert stale.code == 1
    assert "changed since this plan was made" in stale.stderr
    assert not [
        a
        for a in sdk.agents.list(tags=[f"user:dave@{stack_name}"], include=["agent.tags"])
        if f"letta-apply:{stack_name}" in a.tags
    ]

    assert letta_apply("plan", str(path), "--out", str(plan_file), url=letta_url).code == 0
    fresh = letta_apply("apply", str(plan_file), url=letta_url)
    assert fresh.code == 0, fresh.output
    only_agent(sdk, "dave", stack_name)


def test_a_user_whose_tag_another_agent_carries_is_blocked_not_duplicated(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    user = f"frank-{stack_name}"
    foreign = sdk.agents.create(
        name="hand-made",
        model="letta/letta-free",
        embedding="letta/letta-free",
        tags=[f"user:{user}"],
    )
    path = write_manifest(
        tmp_path / "m",
        f"""
        apiVersion: letta-apply/v1
        stack: {stack_name}
        defaults: {{model: letta/letta-free, embedding: letta/letta-free}}
        templates:
          assistant:
            blocks:
              persona: {{value: "I help."}}
        users:
          - {{id: {user}, pattern: dedicated}}
        """,
    )
    planned = letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url)
    assert planned.code == 2, planned.output
    assert "Blocked" in planned.stdout and foreign.id in planned.stdout
    run = letta_apply(str(path), url=letta_url)
    assert run.code == 3, run.output
    assert f"agent/user:{user}" in run.stderr
    tagged = sdk.agents.list(tags=[f"user:{user}"], include=["agent.tags"])
    assert [a.id for a in tagged] == [foreign.id]
    sdk.agents.delete(foreign.id)


def test_an_edited_saved_plan_naming_a_foreign_agent_is_refused(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    victim = sdk.agents.create(
        name="not-the-stacks", model="letta/letta-free", embedding="letta/letta-free"
    )
    path = manifest(tmp_path, stack_name, USERS[:2])
    assert letta_apply(str(path), url=letta_url).code == 0
    path = manifest(tmp_path, stack_name, USERS[:1])
    plan_file = tmp_path / "plan.json"
    made = letta_apply("plan", str(path), "--prune", "--out", str(plan_file), url=letta_url)
    assert made.code == 0, made.output

    # The digest is recomputed, as anyone editing the file could: only the server can tell.
    document = json.loads(plan_file.read_text())
    [delete] = [c for c in document["changes"] if c["action"] == "delete"]
    delete["resource_id"] = victim.id
    delete["owned_children"] = []
    forged = plan_document(
        plan_from_dict({k: v for k, v in document.items() if k != "digest" and k != "summary"})
    )
    plan_file.write_text(json.dumps(forged))
    refused = letta_apply(
        "apply", str(plan_file), "--allow-delete", "--allow-mass-delete", url=letta_url
    )
    assert refused.code == 1, refused.output
    assert "does not own" in refused.stderr and victim.id in refused.stderr
    assert sdk.agents.retrieve(victim.id).id == victim.id
    sdk.agents.delete(victim.id)


def test_a_hand_made_block_on_an_owned_agent_outlives_the_agents_deletion(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    path = manifest(tmp_path, stack_name, USERS[:2])
    assert letta_apply(str(path), url=letta_url).code == 0
    dave = only_agent(sdk, "dave", stack_name)
    tagged = {b.id for b in sdk.blocks.list(tags=[f"letta-apply:{stack_name}"], limit=1000)}
    assert {b.id for b in dave.blocks} <= tagged  # the stack's own blocks carry its mark
    notes = sdk.blocks.create(label="notes", value="kept by a person")
    sdk.agents.blocks.attach(notes.id, agent_id=dave.id)

    path = manifest(tmp_path, stack_name, USERS[:1])
    planned = letta_apply("plan", str(path), "--prune", url=letta_url)
    assert notes.id not in planned.stdout, planned.stdout
    pruned = letta_apply(
        str(path), "--prune", "--allow-delete", "--allow-mass-delete", url=letta_url
    )
    assert pruned.code == 0, pruned.output
    assert sdk.blocks.retrieve(notes.id).value == "kept by a person"
    remaining = {b.id for b in sdk.blocks.list(limit=1000)}
    assert not remaining & {b.id for b in dave.blocks}
    sdk.blocks.delete(notes.id)
