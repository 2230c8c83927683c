"""`show` lists what the stack owns on the server (address -> id, fields on request, JSON);
`plan --destroy` and `destroy` remove all of it behind the deletion guards, protected
resources kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.helpers import letta_apply, write_manifest

pytestmark = pytest.mark.server

STACK = """
apiVersion: letta-apply/v1
stack: {stack}
defaults: {{model: letta/letta-free, embedding: letta/letta-free}}
templates:
  assistant:
    blocks:
      persona: {{value: "I help.", policy: enforce}}
agents:
  desk:
    blocks:
      persona: {{value: "I am the desk.", policy: enforce}}
users:
  - {{id: {stack}-alice, pattern: dedicated, template: assistant}}
  - {{id: {stack}-kept, pattern: dedicated, template: assistant, protected: {protected}}}
  - {{id: {stack}-bob, pattern: shared, agent: desk}}
"""


def test_show_then_destroy(tmp_path: Path, letta_url: str, stack_name: str) -> None:
    manifest = STACK.format(stack=stack_name, protected="true")
    folder = str(write_manifest(tmp_path / "m", manifest))
    assert letta_apply(folder, url=letta_url).code == 0

    listed = letta_apply("show", folder, url=letta_url)
    assert listed.code == 0, listed.output
    outputs = json.loads(letta_apply("outputs", folder, url=letta_url).stdout)["users"]
    lines = listed.stdout.splitlines()
    assert lines[0] == f"Stack {stack_name} on {letta_url}: 7 resource(s)"
    assert [f"agent/user:{stack_name}-alice", outputs[f"{stack_name}-alice"]["agent_id"]] in [
        line.split() for line in lines
    ]
    assert any(line.startswith(f"conversation/desk/{stack_name}-bob ") for line in lines)
    assert not any(line.startswith("    ") for line in lines)  # no fields without addresses

    one = letta_apply("show", folder, "agent/user:*-al*", url=letta_url)
    assert one.code == 0, one.output
    assert f'    name: "assistant-{stack_name}-alice"' in one.stdout
    assert "agent/desk" not in one.stdout

    document = json.loads(letta_apply("show", folder, "--format", "json", url=letta_url).stdout)
    by_address = {r["address"]: r for r in document["resources"]}
    assert by_address["block/desk/persona"]["fields"]["value"] == "I am the desk."
    assert letta_apply("show", folder, "agent/nobody", url=letta_url).code == 1

    planned = letta_apply("plan", folder, "--destroy", url=letta_url)
    assert planned.code == 0, planned.output
    assert "- agent/desk  (the stack is destroyed)" in planned.stdout
    assert "Deletes 2 agents with their 2 memory blocks and 1 conversation (5 resources)." in (
        planned.stdout
    )
    assert f"agent/user:{stack_name}-kept: the stack is destroyed; protected" in planned.stdout
    refused = letta_apply("destroy", folder, "--allow-delete", url=letta_url)
    assert refused.code == 1
    assert "--allow-mass-delete" in refused.stderr
    assert (
        len(
            json.loads(letta_apply("show", folder, "--format", "json", url=letta_url).stdout)[
                "resources"
            ]
        )
        == 7
    )

    destroyed = letta_apply(
        "destroy", folder, "--allow-delete", "--allow-mass-delete", url=letta_url
    )
    assert destroyed.code == 0, destroyed.output
    left = json.loads(letta_apply("show", folder, "--format", "json", url=letta_url).stdout)
    assert [r["address"] for r in left["resources"]] == [
        f"agent/user:{stack_name}-kept",
        f"block/user:{stack_name}-kept/persona",
    ]
    write_manifest(tmp_path / "m", STACK.format(stack=stack_name, protected="false"))
    assert letta_apply(folder, url=letta_url).code == 0  # no longer protected
    assert (
        letta_apply(
            "destroy", folder, "-y", "--allow-delete", "--allow-mass-delete", url=letta_url
        ).code
        == 0
    )
    gone = json.loads(letta_apply("show", folder, "--format", "json", url=letta_url).stdout)
    assert gone["resources"] == []
