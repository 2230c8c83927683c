"""`export` against the real server: a fleet made by hand the way the seeds' functions make
it is exported, the manifests validate, `plan --adopt` takes everything over without creating
or deleting anything, and after a run with `--adopt` a plan finds nothing to do while the memory
agents learned stays as it was."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from letta_client import Letta

from tests.integration.helpers import letta_apply, write_manifest

pytestmark = pytest.mark.server

MODEL = "letta/letta-free"
NAMES = ("Alice", "Bruno", "Chiara", "Dmitri", "Esther", "Farid", "Grace", "Hiro")


def _create_for_user(sdk: Letta, prefix: str, n: int) -> Any:
    """As the seeds' `create_agent_for_user`, plus the app's own tag to find the fleet."""
    user, name = f"{prefix}-u{n}", NAMES[n % len(NAMES)]
    return sdk.agents.create(
        name=f"assistant-{user}",
        model=MODEL,
        embedding=MODEL,
        memory_blocks=[
            {"label": "persona", "value": "I am a personal assistant."},
            {
                "label": "human",
                "value": f"User ID: {user}\nName: {name}\nPreferences: (to be learned)",
            },
        ],
        tags=[f"user:{user}", f"app:{prefix}"],
    )


def make_fleet(sdk: Letta, prefix: str, dedicated: int, guests: int, customers: int) -> Any:
    """Dedicated agents, a support agent with a conversation per guest and identities attached
    to it, as `create_agent_for_user`, `start_user_conversation` and `create_user_identity`."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        agents = list(pool.map(lambda n: _create_for_user(sdk, prefix, n), range(dedicated)))
    policies = sdk.blocks.create(label="policies", value="Refunds within 30 days.")
    support = sdk.agents.create(
        name=f"support-{prefix}",
        model=MODEL,
        embedding=MODEL,
        memory_blocks=[{"label": "persona", "value": "I am a customer support agent."}],
        block_ids=[policies.id],
        tags=[f"app:{prefix}"],
    )
    sdk.agents.blocks.attach(policies.id, agent_id=agents[0].id)

    def conversation(n: int) -> None:
        sdk.post(
            "/v1/conversations/",
            cast_to=object,
            body={"summary": f"Support chat for {prefix}-g{n}"},
            options={"params": {"agent_id": support.id}},
        )

    def identity(n: int) -> None:
        made: Any = sdk.post(
            "/v1/identities/",
            cast_to=object,
            body={
                "identifier_key": f"{prefix}-c{n}",
                "name": NAMES[n % len(NAMES)],
                "identity_type": "user",
                "properties": [{"key": "plan", "value": "pro", "type": "string"}],
            },
        )
        sdk.agents.identities.attach(made["id"], agent_id=support.id)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(conversation, range(guests)))
        list(pool.map(identity, range(customers)))
    return agents, support


def test_an_exported_fleet_is_adopted_and_then_converged(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    agents, support = make_fleet(sdk, stack_name, dedicated=200, guests=50, customers=20)
    learned: dict[str, str] = {}
    for agent in agents[:5]:
        value = f'Learned about {agent.name}: likes "tea", ${{x}}; {len(learned)} cats\nmornings'
        sdk.agents.blocks.update("human", agent_id=agent.id, value=value)
        learned[agent.id] = value
    other = write_manifest(
        tmp_path / "other",
        f"""
        apiVersion: letta-apply/v1
        stack: {stack_name}-other
        defaults: {{model: {MODEL}, embedding: {MODEL}}}
        agents:
          desk: {{name: desk-{stack_name}, tags: ["app:{stack_name}"]}}
        """,
    )
    assert letta_apply(str(other), url=letta_url).code == 0
    out = tmp_path / "exported"

    exported = letta_apply(
        "export",
        "--out",
        str(out),
        "--tag",
        f"app:{stack_name}",
        "--name",
        stack_name,
        url=letta_url,
    )
    assert exported.code == 0, exported.output
    assert "270 users" in exported.stdout, exported.stdout
    assert "1 agent(s) a stack marked as its own left out" in exported.stdout
    document = yaml.safe_load((out / "stack.yaml").read_text())
    assert document["usersFrom"] == "users.csv"
    assert document["templates"]["assistant"]["name"] == "assistant-${user.id}"
    assert document["blocks"]["policies"]["value"] == "Refunds within 30 days."
    assert document["agents"][f"support-{stack_name}"]["conversationSummary"] == (
        "Support chat for ${user.id}"
    )
    validated = letta_apply("validate", str(out), url=letta_url)
    assert validated.code == 0, validated.output
    refused = letta_apply("export", "--out", str(out), url=letta_url)
    assert refused.code == 1 and "not empty" in refused.stderr

    planned = letta_apply("plan", str(out), "--adopt", "--format", "json", url=letta_url)
    assert planned.code == 0, planned.output
    plan = json.loads(planned.stdout)
    actions = {c["action"] for c in plan["changes"]}
    assert actions == {"adopt"}, [c for c in plan["changes"] if c["action"] != "adopt"]
    adopted = {c["address"] for c in plan["changes"]}
    assert f"agent/user:{stack_name}-u0" in adopted
    assert "block/policies" in adopted
    assert f"conversation/support-{stack_name}/{stack_name}-g49" in adopted
    assert f"identity/{stack_name}-c19" in adopted
    assert len(adopted) == 200 * 3 + 2 + 1 + 50 + 20

    applied = letta_apply(str(out), "--adopt", url=letta_url)
    assert applied.code == 0, applied.output
    again = letta_apply("plan", str(out), "--detailed-exitcode", url=letta_url)
    assert again.code == 0, again.output
    for agent_id, value in learned.items():
        assert sdk.agents.blocks.retrieve("human", agent_id=agent_id).value == value
    conversations: Any = sdk.get(
        "/v1/conversations/", cast_to=object, options={"params": {"agent_id": support.id}}
    )
    assert len(conversations) == 50  # none made twice
