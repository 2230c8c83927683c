"""Reads grow with the stack, not with the server: a small stack's plan sends the same requests
before and after the server fills up with other people's identities, agents, conversations
and blocks, and still finds what it must (declared identities attached to none of its agents,
owned identities attached nowhere when prune is on)."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
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
agents:
  desk:
    sharedBlocks: [policies]
    blocks:
      persona: {{value: "I help.", policy: enforce}}
users:
{users}
"""

FOREIGN = 250
"""Of each kind: more than a page (200) of each listing, were it still read whole."""


def write_stack(directory: Path, stack: str, shared: list[str], identity: list[str]) -> Path:
    users = [f"  - {{id: {u}, pattern: shared, agent: desk}}" for u in shared]
    users += [f"  - {{id: {u}, name: User {u}, pattern: identity, agent: desk}}" for u in identity]
    return write_manifest(directory, STACK.format(stack=stack, users="\n".join(users)))


def create_all(url: str, path: str, body: Callable[[int], dict[str, Any]], count: int) -> None:
    with httpx.Client(base_url=url, timeout=120) as http:

        def create(n: int) -> None:
            answer = http.post(path, json=body(n))
            assert answer.status_code == 200, answer.text

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(create, range(count)))


def fill_the_server(url: str, sdk: Letta, stack: str, desk_id: str) -> None:
    """Other people's identities (marked by another stack or not), agents, blocks, and an
    app's own conversations on the stack's shared agent."""
    other = f"{stack}-other"
    create_all(
        url,
        "/v1/identities/",
        lambda n: {
            "identifier_key": f"{other}-{n}",
            "name": f"Someone {n}",
            "identity_type": "user",
            "properties": (
                [{"key": "letta_apply_stack", "value": other, "type": "string"}] if n % 2 else []
            ),
        },
        FOREIGN,
    )
    create_all(
        url, "/v1/blocks/", lambda n: {"label": f"note{n}", "value": "x", "tags": [other]}, FOREIGN
    )
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(
                lambda n: sdk.conversations.create(agent_id=desk_id, summary=f"App chat {n}"),
                range(FOREIGN),
            )
        )
    create_all(
        url,
        "/v1/agents/",
        lambda n: {
            "name": f"{other}-agent-{n}",
            "model": "letta/letta-free",
            "embedding": "letta/letta-free",
            "memory_blocks": [],
            "include_base_tools": False,
            "tags": [f"letta-apply:{other}"],
        },
        20,
    )


def planned(path: Path, url: str, *args: str) -> tuple[dict[str, Any], int]:
    """The plan's JSON document and the requests the plan sent."""
    with running(url) as proxy:
        done = letta_apply("plan", str(path), "--format", "json", *args, url=proxy.url)
        requests = sum(proxy.forwarded.values())
    assert done.code == 0, done.output
    return json.loads(done.stdout), requests


def changes(document: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for change in document["changes"]:
        target = f" -> {change['agent']}" if change["action"] in {"attach", "detach"} else ""
        found.append((change["action"], change["address"] + target))
    return found


def identity_id(sdk: Letta, key: str) -> str:
    params = {"identifier_key": key}
    [found] = sdk.get("/v1/identities/", cast_to=list[dict[str, Any]], options={"params": params})
    return str(found["id"])


def test_the_plan_reads_the_same_however_full_the_server(
    tmp_path: Path, letta_url: str, sdk: Letta, stack_name: str
) -> None:
    shared = [f"s{n}-{stack_name}" for n in range(3)]
    identity = [f"i{n}-{stack_name}" for n in range(4)]
    path = write_stack(tmp_path / "m", stack_name, shared, identity)
    # Nothing is attached yet: each declared key would be a lookup, unless listing every
    # identity takes fewer requests.
    pages = int(sdk.get("/v1/identities/count", cast_to=int)) // 200 + 1
    first, _ = planned(path, letta_url)
    listed = len(identity) > pages
    looked_up = [] if listed else sorted(identity)
    assert first["reads"]["identity"] == {"listed": listed, "looked_up": looked_up}
    applied = letta_apply(str(path), url=letta_url)
    assert applied.code == 0, applied.output
    before, requests_before = planned(path, letta_url)
    assert before["changes"] == [] and before["notices"] == []
    assert before["reads"]["identity"] == {"listed": False, "looked_up": []}

    [desk] = sdk.agents.list(tags=[f"letta-apply:{stack_name}"], name="desk")
    fill_the_server(letta_url, sdk, stack_name, desk.id)
    after, requests_after = planned(path, letta_url)
    assert after["changes"] == [] and after["notices"] == []
    assert requests_after == requests_before

    # A declared identity attached to none of the stack's agents is looked up by its key:
    # attached again, not created twice. Another stack's identity holding a newly declared
    # key is found the same way and blocks that user.
    i0 = identity[0]
    sdk.agents.identities.detach(identity_id(sdk, i0), agent_id=desk.id)
    taken = f"{stack_name}-other-1"
    write_stack(path, stack_name, shared, [*identity, taken])
    found, requests = planned(path, letta_url)
    assert changes(found) == [("attach", f"identity/{i0} -> agent/desk")]
    assert [(n["kind"], n["address"]) for n in found["notices"]] == [
        ("blocked", f"identity/{taken}")
    ]
    assert found["reads"]["identity"] == {"listed": False, "looked_up": sorted([i0, taken])}
    assert requests <= requests_before + 3  # the count of identities and two lookups

    # A saved plan is applied after reading the identities the same way as it was made.
    write_stack(path, stack_name, shared, identity)
    saved = tmp_path / "plan.json"
    made = letta_apply("plan", str(path), "--out", str(saved), url=letta_url)
    assert made.code == 0, made.output
    assert json.loads(saved.read_text())["reads"]["identity"]["looked_up"] == [i0]
    applied = letta_apply("apply", str(saved), url=letta_url)
    assert applied.code == 0, applied.output
    assert identity_id(sdk, i0) in identities_of(sdk, desk.id)

    # An owned identity attached nowhere is found only by listing every identity: prune lists.
    i1 = identity[1]
    sdk.agents.identities.detach(identity_id(sdk, i1), agent_id=desk.id)
    write_stack(path, stack_name, shared, [i for i in identity if i != i1])
    kept, _ = planned(path, letta_url)
    assert kept["changes"] == []
    pruned, _ = planned(path, letta_url, "--prune")
    assert pruned["reads"]["identity"] == {"listed": True, "looked_up": []}
    assert changes(pruned) == [("delete", f"identity/{i1}")]
    applied = letta_apply(str(path), "--prune", "--allow-delete", url=letta_url)
    assert applied.code == 0, applied.output
    gone = sdk.get(
        "/v1/identities/", cast_to=list[dict[str, Any]], options={"params": {"identifier_key": i1}}
    )
    assert gone == []


def identities_of(sdk: Letta, agent_id: str) -> set[str]:
    params = {"include": ["agent.identities"]}
    agent = sdk.get(f"/v1/agents/{agent_id}", cast_to=dict[str, Any], options={"params": params})
    return {str(i["id"]) for i in agent.get("identities") or ()}
