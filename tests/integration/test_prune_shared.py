"""Pruning a shared agent together with its users' conversations: the server deletes an
agent's conversations with it, so finding one gone already is not a failure."""

from __future__ import annotations

from pathlib import Path

import pytest
from letta_client import Letta

from tests.integration.helpers import letta_apply, write_manifest

pytestmark = pytest.mark.server

HEAD = """
apiVersion: letta-apply/v1
stack: {stack}
defaults:
  model: letta/letta-free
  embedding: letta/letta-free
"""

SHARED = """
agents:
  support:
    blocks:
      persona: {value: "I am support.", policy: enforce}
users:
  - {id: bob, pattern: shared, agent: support}
  - {id: erin, pattern: shared, agent: support}
"""


def test_a_shared_agent_pruned_with_its_conversations_reports_no_failure(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    head = HEAD.format(stack=stack_name)
    path = write_manifest(tmp_path / "m", head + SHARED)
    assert letta_apply(str(path), url=letta_url).code == 0
    agent = only_agent(sdk, stack_name)
    assert len(list(sdk.conversations.list(agent_id=agent))) == 2

    write_manifest(tmp_path / "m", head)
    planned = letta_apply("plan", str(path), "--prune", "--format", "json", url=letta_url)
    assert planned.stdout.count('"action": "delete"') == 3  # the agent and both conversations

    # One request at a time: the agent's delete lands before its conversations' deletes.
    pruned = letta_apply(
        str(path),
        "--prune",
        "--allow-delete",
        "--allow-mass-delete",
        "--parallelism",
        "1",
        url=letta_url,
    )
    assert pruned.code == 0, pruned.output
    assert "failed" not in pruned.output
    assert "Apply complete: 3 deleted." in pruned.stdout
    assert letta_apply("plan", str(path), "--prune", "--detailed-exitcode", url=letta_url).code == 0


def only_agent(sdk: Letta, stack: str) -> str:
    agents = list(sdk.agents.list(tags=[f"letta-apply:{stack}"]))
    assert len(agents) == 1
    return agents[0].id
