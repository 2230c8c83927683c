"""Resources the stack does not own block it until adopted: the run says so and exits 3;
after `adopt`, the stack manages them like its own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from letta_client import Letta

from tests.integration.helpers import letta_apply, write_manifest

pytestmark = pytest.mark.server


def test_foreign_identity_blocks_until_adopted(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    key = f"carol-{stack_name}"
    body = {"identifier_key": key, "name": "Carol (by hand)", "identity_type": "user"}
    foreign: Any = sdk.post("/v1/identities/", cast_to=object, body=body)
    path = write_manifest(
        tmp_path,
        f"""
        apiVersion: letta-apply/v1
        stack: {stack_name}
        defaults: {{model: letta/letta-free, embedding: letta/letta-free}}
        agents:
          support: {{}}
        users:
          - {{id: {key}, name: Carol, pattern: identity, agent: support,
              properties: {{plan: pro}}}}
    """,
    )
    blocked = letta_apply(str(path), url=letta_url)
    assert blocked.code == 3, blocked.output
    assert f"identity/{key}" in blocked.stderr and "adopt" in blocked.stderr
    assert letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url).code == 2
    unchanged: Any = sdk.get(f"/v1/identities/{foreign['id']}", cast_to=object)
    assert unchanged["name"] == "Carol (by hand)"

    adopted = letta_apply(
        "adopt", str(path), "--address", f"identity/{key}", "--id", foreign["id"], url=letta_url
    )
    assert adopted.code == 0, adopted.output
    assert letta_apply(str(path), url=letta_url).code == 0

    outputs = json.loads(letta_apply("outputs", str(path), url=letta_url).stdout)["users"]
    assert outputs[key]["identity_id"] == foreign["id"]
    managed: Any = sdk.get(f"/v1/identities/{foreign['id']}", cast_to=object)
    assert managed["name"] == "Carol"
    support = sdk.agents.retrieve(outputs[key]["agent_id"], include=["agent.identities"])
    assert foreign["id"] in {i.id for i in support.identities}
    assert letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url).code == 0


def test_adopting_what_another_stack_owns_is_refused(
    tmp_path: Path, letta_url: str, stack_name: str
) -> None:
    other = write_manifest(
        tmp_path / "other",
        f"""
        apiVersion: letta-apply/v1
        stack: {stack_name}-other
        defaults: {{model: letta/letta-free, embedding: letta/letta-free}}
        agents:
          support: {{}}
    """,
    )
    assert letta_apply(str(other), url=letta_url).code == 0
    theirs = json.loads(letta_apply("plan", str(other), "--format", "json", url=letta_url).stdout)
    assert theirs["changes"] == []
    mine = write_manifest(
        tmp_path / "mine",
        f"""
        apiVersion: letta-apply/v1
        stack: {stack_name}
        defaults: {{model: letta/letta-free, embedding: letta/letta-free}}
        agents:
          support: {{}}
    """,
    )
    listed = Letta(base_url=letta_url).agents.list(tags=[f"letta-apply:{stack_name}-other"])
    agent_id = next(iter(listed)).id
    refused = letta_apply(
        "adopt", str(mine), "--address", "agent/support", "--id", agent_id, url=letta_url
    )
    assert refused.code == 1
    assert f"belongs to stack '{stack_name}-other'" in refused.stderr
