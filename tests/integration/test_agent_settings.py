"""Managed agent settings against the real server: declared, converged, changed in place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from letta_client import Letta

from tests.faultproxy import running
from tests.integration.helpers import letta_apply, write_desk_stack, write_manifest

pytestmark = pytest.mark.server

MANIFEST = """
apiVersion: letta-apply/v1
stack: {stack}
defaults: {{model: letta/letta-free, embedding: letta/letta-free}}
agents:
  desk:
    timezone: {timezone}
    contextWindowLimit: {window}
    blocks:
      persona: {{value: "I answer questions."}}
"""


def settings(sdk: Letta, stack: str) -> tuple[str | None, int | None]:
    [agent] = sdk.agents.list(tags=[f"letta-apply:{stack}"], include=["agent.tags"])
    return agent.timezone, agent.llm_config.context_window


def test_timezone_and_context_window_converge_and_change_in_place(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    path = tmp_path / "m"
    write_manifest(path, MANIFEST.format(stack=stack_name, timezone="Europe/Paris", window=16000))
    assert letta_apply(str(path), url=letta_url).code == 0
    assert settings(sdk, stack_name) == ("Europe/Paris", 16000)
    assert letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url).code == 0

    write_manifest(path, MANIFEST.format(stack=stack_name, timezone="Asia/Tokyo", window=12000))
    planned = letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url)
    assert planned.code == 2, planned.output
    assert "context_window_limit: 16000 -> 12000" in planned.stdout
    assert letta_apply(str(path), url=letta_url).code == 0
    assert settings(sdk, stack_name) == ("Asia/Tokyo", 12000)
    assert letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url).code == 0
    [agent] = sdk.agents.list(tags=[f"letta-apply:{stack_name}"], include=["agent.blocks"])
    sdk.agents.delete(agent.id)
    for block in agent.blocks:
        sdk.blocks.delete(block.id)


SETTINGS_MANIFEST = """
apiVersion: letta-apply/v1
stack: {stack}
defaults: {{model: letta/letta-free, embedding: letta/letta-free, ignoreTags: ["session:*"]}}
agents:
  desk:
    tags: [team:a]
    modelSettings: {{temperature: {temperature}, maxOutputTokens: 2000}}
    compactionSettings: {{slidingWindowPercentage: 0.4}}
"""


def server_agent(url: str, agent_id: str) -> dict[str, Any]:
    """The agent as the server sends it (the SDK types model settings loosely)."""
    answer = httpx.get(f"{url}/v1/agents/{agent_id}", params={"include": ["agent.tags"]})
    answer.raise_for_status()
    found: dict[str, Any] = answer.json()
    return found


def test_model_settings_are_managed_key_by_key_and_run_time_tags_are_kept(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    path = tmp_path / "m"
    write_manifest(path, SETTINGS_MANIFEST.format(stack=stack_name, temperature=0.2))
    assert letta_apply(str(path), url=letta_url).code == 0
    [listed] = sdk.agents.list(tags=[f"letta-apply:{stack_name}"])
    agent = server_agent(letta_url, listed.id)
    held = agent["model_settings"]
    assert (held["temperature"], held["max_output_tokens"]) == (0.2, 2000)
    assert agent["compaction_settings"]["sliding_window_percentage"] == 0.4
    # The server's defaults for undeclared keys are not drift.
    assert letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url).code == 0

    # Apps tag the agent at run time; the server switches on git memory.
    run_time = ["session:42", "git-memory-enabled", "stray"]
    sdk.agents.update(listed.id, tags=[*agent["tags"], *run_time])
    write_manifest(path, SETTINGS_MANIFEST.format(stack=stack_name, temperature=0.7))
    planned = letta_apply(
        "plan", str(path), "--detailed-exitcode", "--format", "json", url=letta_url
    )
    assert planned.code == 2, planned.output
    [change] = json.loads(planned.stdout)["changes"]
    fields = {f["path"]: (f["before"], f["after"]) for f in change["fields"]}
    assert fields["model_settings.temperature"] == (0.2, 0.7)
    removed = set(fields["tags"][0]) - set(fields["tags"][1])
    assert removed == {"stray"}
    assert set(fields) == {"model_settings.temperature", "tags"}

    assert letta_apply(str(path), url=letta_url).code == 0
    agent = server_agent(letta_url, listed.id)
    held = agent["model_settings"]
    assert (held["temperature"], held["max_output_tokens"]) == (0.7, 2000)
    assert {"session:42", "git-memory-enabled", "team:a"} <= set(agent["tags"])
    assert "stray" not in agent["tags"]
    assert letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url).code == 0
    sdk.agents.delete(listed.id)


SLEEPTIME_MANIFEST = """
apiVersion: letta-apply/v1
stack: {stack}
defaults: {{model: letta/letta-free, embedding: letta/letta-free}}
prune: {{enabled: true}}
templates:
  assistant:
    enableSleeptime: {enabled}
    blocks:
      human: {{value: "User ${{user.id}}"}}
users:
  - {{id: "sleepy-{stack}", pattern: dedicated}}
"""


def companions(url: str, agent_id: str) -> list[str]:
    answer = httpx.get(f"{url}/v1/agents/{agent_id}", params={"include": ["agent.managed_group"]})
    answer.raise_for_status()
    group = answer.json().get("managed_group") or {}
    found: list[str] = group.get("agent_ids") or []
    return found


def group_of(url: str, agent_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{url}/v1/agents/{agent_id}", params={"include": ["agent.managed_group"]})
    answer.raise_for_status()
    group: dict[str, Any] = answer.json()["managed_group"]
    return group


def memory_of(url: str, agent_id: str) -> dict[str, dict[str, Any]]:
    answer = httpx.get(f"{url}/v1/agents/{agent_id}/core-memory/blocks")
    answer.raise_for_status()
    return {b["label"]: b for b in answer.json()}


def test_a_sleeptime_agent_is_marked_kept_out_of_the_stack_and_removed_with_it(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    path = tmp_path / "m"
    write_manifest(path, SLEEPTIME_MANIFEST.format(stack=stack_name, enabled="true"))
    shown = letta_apply("plan", str(path), url=letta_url)
    assert "sleeptime_agent:" in shown.stdout, shown.output
    assert letta_apply(str(path), url=letta_url).code == 0
    [listed] = sdk.agents.list(tags=[f"letta-apply:{stack_name}"])
    [companion] = companions(letta_url, listed.id)
    marked = server_agent(letta_url, companion)
    assert marked["metadata"]["letta_apply"] == {
        "stack": stack_name,
        "companion_of": f"agent/user:sleepy-{stack_name}",
    }
    own = memory_of(letta_url, companion)["memory_persona"]
    assert f"letta-apply:{stack_name}" in own["tags"]
    # Neither foreign, nor a duplicate, nor undeclared: the next plan is empty.
    again = letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url)
    assert again.code == 0, again.output

    write_manifest(path, SLEEPTIME_MANIFEST.format(stack=stack_name, enabled="false"))
    off = letta_apply("plan", str(path), url=letta_url)
    assert "enable_sleeptime: true -> false" in off.stdout, off.output
    assert f"- agent/user:sleepy-{stack_name}/sleeptime" in off.stdout, off.output
    assert letta_apply(str(path), "--allow-delete", "--allow-mass-delete", url=letta_url).code == 0
    assert httpx.get(f"{letta_url}/v1/agents/{companion}").status_code == 404
    assert httpx.get(f"{letta_url}/v1/blocks/{own['id']}").status_code == 404
    assert letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url).code == 0

    # Switched on again, then the agent removed: its sleep-time agent goes with it.
    write_manifest(path, SLEEPTIME_MANIFEST.format(stack=stack_name, enabled="true"))
    assert letta_apply(str(path), url=letta_url).code == 0
    [second] = companions(letta_url, listed.id)
    write_manifest(
        path, SLEEPTIME_MANIFEST.format(stack=stack_name, enabled="true").split("users:")[0]
    )
    removed = letta_apply(str(path), "--allow-delete", "--allow-mass-delete", url=letta_url)
    assert removed.code == 0, removed.output
    assert f"- agent/user:sleepy-{stack_name}/sleeptime" in removed.stdout, removed.output
    assert httpx.get(f"{letta_url}/v1/agents/{second}").status_code == 404


def test_switching_sleeptime_off_deletes_only_what_the_plan_shows(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    """A block someone attached to the sleep-time agent and an agent a tenant added to its
    group outlive the switch; the delete is planned, counted and refused without
    --allow-delete."""
    path = tmp_path / "m"
    write_manifest(path, SLEEPTIME_MANIFEST.format(stack=stack_name, enabled="true"))
    assert letta_apply(str(path), url=letta_url).code == 0
    [listed] = sdk.agents.list(tags=[f"letta-apply:{stack_name}"])
    [companion] = companions(letta_url, listed.id)
    handmade = sdk.blocks.create(label="notes", value="a tenant's notes")
    sdk.agents.blocks.attach(handmade.id, agent_id=companion)
    tenant = sdk.agents.create(
        name=f"tenant-{stack_name}", model="letta/letta-free", embedding="letta/letta-free"
    )
    group = group_of(letta_url, listed.id)
    grown = {"agent_ids": [*group["agent_ids"], tenant.id]}
    httpx.patch(f"{letta_url}/v1/groups/{group['id']}", json=grown).raise_for_status()

    write_manifest(path, SLEEPTIME_MANIFEST.format(stack=stack_name, enabled="false"))
    planned = letta_apply("plan", str(path), "--format", "json", url=letta_url)
    changes = json.loads(planned.stdout)["changes"]
    [delete] = [c for c in changes if c["action"] == "delete"]
    assert delete["address"] == f"agent/user:sleepy-{stack_name}/sleeptime"
    assert delete["resource_id"] == companion
    persona = memory_of(letta_url, companion)["memory_persona"]
    assert delete["owned_children"] == [persona["id"]]
    notices = json.loads(planned.stdout)["notices"]
    assert [n["resource_ids"] for n in notices if n["kind"] == "conflict"] == [[tenant.id]]
    shown = letta_apply("plan", str(path), url=letta_url)
    assert "1 to update, 0 to attach, 0 to detach, 1 to delete." in shown.stdout, shown.output
    assert f"its own blocks: {persona['id']}" in shown.stdout, shown.output
    review = letta_apply("plan", str(path), "--format", "markdown", url=letta_url)
    assert f"agent/user:sleepy-{stack_name}/sleeptime" in review.stdout, review.output

    refused = letta_apply(str(path), url=letta_url)
    assert refused.code != 0 and "--allow-delete" in refused.output, refused.output
    assert httpx.get(f"{letta_url}/v1/agents/{companion}").status_code == 200

    applied = letta_apply(str(path), "--allow-delete", "--allow-mass-delete", url=letta_url)
    assert applied.code == 0, applied.output
    assert httpx.get(f"{letta_url}/v1/agents/{companion}").status_code == 404
    assert httpx.get(f"{letta_url}/v1/blocks/{persona['id']}").status_code == 404
    assert httpx.get(f"{letta_url}/v1/blocks/{handmade.id}").status_code == 200
    assert httpx.get(f"{letta_url}/v1/agents/{tenant.id}").status_code == 200
    sdk.agents.delete(tenant.id)
    sdk.blocks.delete(handmade.id)
    sdk.agents.delete(listed.id)


def test_conversations_are_recompiled_after_their_agents_context_changes(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    users = [f"a-{stack_name}", f"b-{stack_name}"]
    path = write_desk_stack(tmp_path / "m", stack_name, users, policy="enforce")
    assert letta_apply(str(path), url=letta_url).code == 0
    with running(letta_url) as proxy:
        # Nothing changes the context: no conversation is compiled again.
        assert letta_apply(str(path), url=proxy.url).code == 0
        assert not [k for k in proxy.forwarded if k.endswith("/recompile")]

        write_desk_stack(path, stack_name, users, persona="I refund.", policy="enforce")
        shown = letta_apply("plan", str(path), url=proxy.url)
        assert shown.stdout.count('~ context: "(compiled before this apply)"') == 2, shown.output
        assert letta_apply(str(path), url=proxy.url).code == 0
        recompiled = [k for k in proxy.forwarded if k.endswith("/recompile")]
        assert len(recompiled) == 2 and all(k.startswith("POST ") for k in recompiled)
    assert letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url).code == 0
    [agent] = sdk.agents.list(tags=[f"letta-apply:{stack_name}"])
    sdk.agents.delete(agent.id)
