"""Scoped runs against the real server: `--target` and `--users` plan and apply only those
resources and what they need, read a handful of requests whatever the stack's size, say in
every format that the plan is partial, and never delete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from letta_client import Letta

from tests.faultproxy import running
from tests.integration.helpers import letta_apply, write_manifest

pytestmark = pytest.mark.server

STACK = """
apiVersion: letta-apply/v1
stack: {stack}
defaults: {{model: letta/letta-free, embedding: letta/letta-free}}
blocks:
  policies: {{value: "Refunds within 30 days."}}
templates:
  assistant:
    description: "Assistant of ${{user.id}}"
    sharedBlocks: [policies]
    blocks:
      persona: {{value: "{persona}", policy: enforce}}
      human: {{value: "User ${{user.id}}"}}
agents:
  desk:
    sharedBlocks: [policies]
prune: {{enabled: true}}
users:
{users}
"""


def write_stack(
    directory: Path,
    stack: str,
    dedicated: list[str],
    shared: list[str],
    *,
    persona: str = "I help.",
) -> Path:
    users = [f"  - {{id: {u}, pattern: dedicated, template: assistant}}" for u in dedicated]
    users += [f"  - {{id: {u}, pattern: shared, agent: desk}}" for u in shared]
    text = STACK.format(stack=stack, persona=persona, users="\n".join(users))
    return write_manifest(directory, text)


@pytest.fixture
def fleet(tmp_path: Path, letta_url: str, stack_name: str) -> tuple[Path, list[str], list[str]]:
    # User tags are looked up server-wide: the ids are the test's own.
    dedicated = [f"d{n}-{stack_name}" for n in range(12)]
    shared = [f"s{n}-{stack_name}" for n in range(6)]
    path = write_stack(tmp_path / "m", stack_name, dedicated, shared)
    applied = letta_apply(str(path), url=letta_url)
    assert applied.code == 0, applied.output
    return path, dedicated, shared


def _persona(sdk: Letta, stack: str, user: str) -> str:
    [agent] = sdk.agents.list(tags=[f"letta-apply:{stack}", f"user:{user}"], match_all_tags=True)
    return str(sdk.agents.blocks.retrieve("persona", agent_id=agent.id).value)


def test_one_user_is_planned_and_applied_alone_in_a_few_requests(
    fleet: tuple[Path, list[str], list[str]], letta_url: str, stack_name: str, sdk: Letta
) -> None:
    path, dedicated, shared = fleet
    d3, d4 = dedicated[3], dedicated[4]
    # Everyone's persona changes in the manifest; one user is rolled out first.
    write_stack(path, stack_name, dedicated, shared, persona="I help, briefly.")
    with running(letta_url) as proxy:
        planned = letta_apply(
            "plan", str(path), "--users", d3, "--detailed-exitcode", url=proxy.url
        )
        requests = sum(proxy.forwarded.values())
    assert planned.code == 2, planned.output
    assert f"Partial plan (user {d3})" in planned.stdout
    assert f"block/user:{d3}/persona" in planned.stdout and f"user:{d4}" not in planned.stdout
    assert requests <= 5, proxy.forwarded

    applied = letta_apply(str(path), "--users", d3, url=letta_url)
    assert applied.code == 0, applied.output
    assert _persona(sdk, stack_name, d3) == "I help, briefly."
    assert _persona(sdk, stack_name, d4) == "I help."
    whole = letta_apply("plan", str(path), "--format", "json", url=letta_url)
    document = json.loads(whole.stdout)
    assert document["scope"] == []
    updated = {c["address"] for c in document["changes"] if c["action"] == "update"}
    assert f"block/user:{d3}/persona" not in updated and f"block/user:{d4}/persona" in updated


def test_a_new_shared_user_is_created_with_what_it_needs_and_nothing_is_pruned(
    fleet: tuple[Path, list[str], list[str]], letta_url: str, stack_name: str, sdk: Letta
) -> None:
    path, dedicated, shared = fleet
    # The first user leaves the manifest (prune is on) and a new one arrives: only the new
    # one is in scope.
    new = f"snew-{stack_name}"
    target = f"conversation/desk/{new}"
    write_stack(path, stack_name, dedicated[1:], [*shared, new])
    with running(letta_url) as proxy:
        planned = letta_apply(
            "plan", str(path), "--target", target, "--format", "json", url=proxy.url
        )
        requests = sum(proxy.forwarded.values())
    assert planned.code == 0, planned.output
    document = json.loads(planned.stdout)
    assert document["scope"] == [f"target:{target}"]
    assert [(c["action"], c["address"]) for c in document["changes"]] == [("create", target)]
    assert requests <= 5, proxy.forwarded
    markdown = letta_apply("plan", str(path), "--users", new, "--format", "markdown", url=letta_url)
    assert f"> Partial plan (user `{new}`)" in markdown.stdout

    applied = letta_apply(str(path), "--users", new, url=letta_url)
    assert applied.code == 0, applied.output
    assert "0 to delete" in applied.stdout
    first = [f"letta-apply:{stack_name}", f"user:{dedicated[0]}"]
    assert sdk.agents.list(tags=first, match_all_tags=True).items
    again = letta_apply("plan", str(path), "--users", new, "--detailed-exitcode", url=letta_url)
    assert again.code == 0, again.output


def test_a_glob_targets_several_agents(
    fleet: tuple[Path, list[str], list[str]], letta_url: str, stack_name: str
) -> None:
    path, dedicated, shared = fleet
    write_stack(path, stack_name, dedicated, shared, persona="Changed for all.")
    glob = "agent/user:d1*"  # d1-<stack>, d10-<stack> and d11-<stack>
    planned = letta_apply("plan", str(path), "--target", glob, "--format", "json", url=letta_url)
    assert planned.code == 0, planned.output
    changed = {c["address"] for c in json.loads(planned.stdout)["changes"]}
    assert changed == {f"block/user:{dedicated[n]}/persona" for n in (1, 10, 11)}


def test_a_scope_that_selects_nothing_is_an_error_before_any_request(
    fleet: tuple[Path, list[str], list[str]], letta_url: str
) -> None:
    path, _, _ = fleet
    with running(letta_url) as proxy:
        unknown = letta_apply("plan", str(path), "--users", "nobody", url=proxy.url)
        nothing = letta_apply("plan", str(path), "--target", "agent/user:zz*", url=proxy.url)
        saved = letta_apply(
            "plan", str(path), "--users", "d1", "--out", str(path / "p.json"), url=proxy.url
        )
        assert sum(proxy.forwarded.values()) == 0
    assert (
        unknown.code == 1
        and "not declared in stack" in unknown.stderr
        and "nobody" in unknown.stderr
    )
    assert nothing.code == 1 and "selects nothing declared" in nothing.stderr
    assert saved.code == 1 and "--out" in saved.stderr
