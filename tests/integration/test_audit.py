"""`letta-apply audit` against the real server: a stack applied, then broken by hand the ways
the multi-user guidance warns about; each break reported, exit code 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from letta_client import Letta

from tests.integration.helpers import letta_apply, write_manifest

pytestmark = pytest.mark.server

MANIFEST = """
apiVersion: letta-apply/v1
stack: {stack}
defaults: {{model: letta/letta-free, embedding: letta/letta-free}}
templates:
  assistant:
    blocks:
      human: {{value: "User ${{user.id}}"}}
agents:
  desk:
    blocks:
      persona: {{value: "I help."}}
  sales:
    blocks:
      persona: {{value: "I sell."}}
users:
  - {{id: "u1-{stack}", pattern: dedicated, template: assistant}}
  - {{id: "u2-{stack}", pattern: dedicated, template: assistant}}
  - {{id: "s1-{stack}", pattern: shared, agent: desk}}
  - {{id: "i1-{stack}", pattern: identity, agent: desk}}
"""


def audit(path: Path, url: str) -> tuple[int, list[dict[str, Any]]]:
    result = letta_apply("audit", str(path), "--format", "json", url=url)
    assert "Traceback" not in result.output
    found: list[dict[str, Any]] = json.loads(result.stdout)["violations"]
    return result.code, found


def test_audit_reports_each_isolation_break(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    path = write_manifest(tmp_path / "m", MANIFEST.format(stack=stack_name))
    assert letta_apply(str(path), url=letta_url).code == 0
    assert audit(path, letta_url) == (0, [])

    tag = f"letta-apply:{stack_name}"
    agents = {a.name: a for a in sdk.agents.list(tags=[tag], include=["agent.tags"])}
    u1, u2 = f"u1-{stack_name}", f"u2-{stack_name}"
    first = next(a for a in agents.values() if f"user:{u1}" in a.tags)
    # An agent with two user tags; one user tag on a second, hand-made agent.
    sdk.agents.update(first.id, tags=[*first.tags, f"user:{u2}"])
    stray = sdk.agents.create(
        name=f"stray-{stack_name}",
        model="letta/letta-free",
        embedding="letta/letta-free",
        tags=[f"user:{u1}"],
    )
    # The identity attached to an agent that does not declare it.
    identity = sdk.get(
        "/v1/identities/",
        cast_to=list[dict[str, Any]],
        options={"params": {"identifier_key": f"i1-{stack_name}"}},
    )[0]
    sdk.agents.identities.attach(identity["id"], agent_id=agents["sales"].id)
    # The shared user's conversation moved to the wrong agent (made there, with the marker).
    [conversation] = sdk.conversations.list(agent_id=agents["desk"].id)
    sdk.conversations.delete(conversation.id)
    sdk.conversations.create(
        agent_id=agents["sales"].id,
        summary=f"Support chat [letta-apply:{stack_name}/s1-{stack_name}]",
    )

    code, violations = audit(path, letta_url)
    assert code == 2
    rules = sorted(v["rule"] for v in violations)
    assert rules == [
        "conversation-on-declared-agent",
        "identity-where-declared",
        "one-user-tag",
        "tag-on-one-agent",
        "tag-on-one-agent",
    ], violations
    where = {(v["rule"], v["where"]) for v in violations}
    assert ("one-user-tag", f"agent/user:{u1}") in where
    assert ("identity-where-declared", f"identity/i1-{stack_name}") in where
    assert ("conversation-on-declared-agent", f"conversation/desk/s1-{stack_name}") in where
    text = letta_apply("audit", str(path), url=letta_url)
    assert text.code == 2 and "5 violation(s)" in text.stdout
    sdk.agents.delete(stray.id)


def test_two_agents_carrying_the_stacks_record_for_one_address_are_named_everywhere(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    """A record copied onto another agent: whoever can write to the server can do that, so
    letta-apply cannot tell the genuine one; it says so wherever it would name one."""
    path = write_manifest(tmp_path / "m", MANIFEST.format(stack=stack_name))
    assert letta_apply(str(path), url=letta_url).code == 0
    tag, user = f"letta-apply:{stack_name}", f"u1-{stack_name}"
    [genuine] = sdk.agents.list(tags=[f"user:{user}"], include=["agent.tags"])
    forged = sdk.agents.create(
        name=f"forged-{stack_name}",
        model="letta/letta-free",
        embedding="letta/letta-free",
        tags=[tag],
        metadata=genuine.metadata,
    )
    ids = f"{genuine.id}, {forged.id}"

    outputs = letta_apply("outputs", str(path), url=letta_url)
    assert outputs.code == 0, outputs.output
    assert f"agent/user:{user}: 2 resources carry this stack's ownership record ({ids})" in (
        outputs.stderr
    )
    assert json.loads(outputs.stdout)["users"][user]["agent_id"] == genuine.id
    code, violations = audit(path, letta_url)
    assert code == 2
    assert [v["where"] for v in violations if v["rule"] == "one-resource-per-address"] == [
        f"agent/user:{user}"
    ]
    planned = letta_apply("plan", str(path), url=letta_url)
    assert f"ids: {ids}" in planned.stdout, planned.output
    sdk.agents.delete(forged.id)
    for agent in sdk.agents.list(tags=[tag]):
        sdk.agents.delete(agent.id)
