"""A test fleet written as manifests (dedicated users from a CSV file, a few shared and
identity users), and what the server holds for it, read directly (not through any proxy)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from letta_client import Letta
from letta_client._types import RequestOptions

from reconciler.kinds.block import SHAPE, from_server, is_shared
from tests.integration.helpers import letta_apply, write_manifest

MANIFEST = """
apiVersion: letta-apply/v1
stack: {stack}
defaults:
  model: letta/letta-free
  embedding: letta/letta-free
blocks:
  company: {{value: "Acme Corp.", policy: enforce}}
templates:
  assistant:
    tags: [tier:premium]
    sharedBlocks: [company]
    blocks:
      persona: {{value: "I am a personal assistant.", policy: enforce}}
      human: {{value: "User ID: ${{user.id}}\\nName: ${{user.name}}", limit: 2000}}
agents:
  support:
    sharedBlocks: [company]
    blocks:
      persona: {{value: "I am a customer support agent for Acme Corp.", policy: enforce}}
usersFrom: users.csv
"""


@dataclass(frozen=True)
class Fleet:
    """A stack's manifests on disk and the users they declare, by pattern."""

    stack: str
    path: Path
    dedicated: tuple[str, ...]
    shared: tuple[str, ...]
    identity: tuple[str, ...]


def write_fleet(
    directory: Path, stack: str, dedicated: int, shared: int = 0, identity: int = 0
) -> Fleet:
    """Manifests for `dedicated` + `shared` + `identity` users; ids are unique to the stack."""
    users = {
        "dedicated": tuple(f"{stack}-d{n:04d}" for n in range(dedicated)),
        "shared": tuple(f"{stack}-s{n:02d}" for n in range(shared)),
        "identity": tuple(f"{stack}-i{n:02d}" for n in range(identity)),
    }
    rows = ["id,name,pattern,template,agent,properties.plan"]
    rows += [f"{u},User {u},dedicated,assistant,," for u in users["dedicated"]]
    rows += [f"{u},,shared,,support," for u in users["shared"]]
    rows += [f"{u},User {u},identity,,support,enterprise" for u in users["identity"]]
    path = write_manifest(directory, MANIFEST.format(stack=stack))
    (path / "users.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return Fleet(stack, path, users["dedicated"], users["shared"], users["identity"])


def stack_tag(stack: str) -> str:
    return f"letta-apply:{stack}"


def owned_agents(sdk: Letta, stack: str) -> list[Any]:
    return list(
        sdk.agents.list(
            tags=[stack_tag(stack)],
            include=["agent.tags", "agent.blocks", "agent.identities"],
            limit=200,
        )
    )


def agents_per_user(sdk: Letta, stack: str) -> Counter[str]:
    """How many owned agents carry each `user:` tag."""
    return Counter(
        tag.removeprefix("user:")
        for agent in owned_agents(sdk, stack)
        for tag in agent.tags
        if tag.startswith("user:")
    )


def conversations_per_user(sdk: Letta, agent_id: str, stack: str) -> Counter[str]:
    marker = f"[letta-apply:{stack}/"
    found = sdk.conversations.list(agent_id=agent_id, limit=1000)
    return Counter(
        (c.summary or "").rsplit(marker, 1)[1].rstrip("]")
        for c in found
        if marker in (c.summary or "")
    )


def list_identities(sdk: Letta, **params: str | int) -> list[Any]:
    """Identities as raw JSON (the SDK has no identities resource any more)."""
    options: RequestOptions = {"params": params}
    return cast("list[Any]", sdk.get("/v1/identities/", cast_to=object, options=options))


def identities(sdk: Letta, keys: tuple[str, ...]) -> dict[str, list[Any]]:
    """The identities carrying each key."""
    return {key: list_identities(sdk, identifier_key=key) for key in keys}


def tagged_blocks(sdk: Letta, stack: str) -> list[str]:
    """Ids of every block carrying the stack's tag: its shared blocks and its agents' own."""
    params = {"tags": [stack_tag(stack)], "limit": 1000}
    found = sdk.get("/v1/blocks/", cast_to=object, options={"params": params})
    return [str(raw["id"]) for raw in cast(list[Any], found)]


def shared_blocks(sdk: Letta, stack: str) -> list[Any]:
    """The stack's shared blocks: tagged (as its agents' own blocks are too), and recorded
    with a stack-level address."""
    params = {"tags": [stack_tag(stack)], "limit": 1000}
    found = sdk.get("/v1/blocks/", cast_to=object, options={"params": params})
    read = (from_server(raw, stack) for raw in SHAPE.parse_all(found, "GET /v1/blocks/"))
    return [block for block in read if is_shared(block)]


def assert_converged(sdk: Letta, fleet: Fleet) -> None:
    """Exactly one of everything the fleet declares, nothing extra."""
    per_user = agents_per_user(sdk, fleet.stack)
    assert per_user == Counter({u: 1 for u in fleet.dedicated}), _extra(per_user)
    agents = owned_agents(sdk, fleet.stack)
    support = [a for a in agents if a.name == "support"]
    assert len(support) == 1, [a.id for a in support]
    assert len(agents) == len(fleet.dedicated) + 1
    assert [b.label for b in shared_blocks(sdk, fleet.stack)] == ["company"]
    if fleet.shared:
        convs = conversations_per_user(sdk, support[0].id, fleet.stack)
        assert convs == Counter({u: 1 for u in fleet.shared}), convs
    found = identities(sdk, fleet.identity)
    assert {k: len(v) for k, v in found.items()} == {k: 1 for k in fleet.identity}
    attached = {i.id for i in support[0].identities}
    assert {v[0]["id"] for v in found.values()} <= attached


def _extra(per_user: Counter[str]) -> dict[str, int]:
    return {u: n for u, n in per_user.items() if n != 1}


def assert_outputs_match(sdk: Letta, fleet: Fleet, url: str) -> None:
    """`letta-apply outputs` names exactly the resources on the server."""
    result = letta_apply("outputs", str(fleet.path), url=url)
    assert result.code == 0, result.output
    users = json.loads(result.stdout)["users"]
    assert set(users) == {*fleet.dedicated, *fleet.shared, *fleet.identity}
    by_user = {
        tag.removeprefix("user:"): agent.id
        for agent in owned_agents(sdk, fleet.stack)
        for tag in agent.tags
        if tag.startswith("user:")
    }
    for user in fleet.dedicated:
        assert users[user]["agent_id"] == by_user[user]
    support = next(a for a in owned_agents(sdk, fleet.stack) if a.name == "support")
    conversations = {c.id for c in sdk.conversations.list(agent_id=support.id, limit=1000)}
    for user in fleet.shared:
        assert users[user]["agent_id"] == support.id
        assert users[user]["conversation_id"] in conversations
    found = identities(sdk, fleet.identity)
    for user in fleet.identity:
        assert users[user]["identity_id"] == found[user][0]["id"]


def converges(fleet: Fleet, url: str) -> None:
    """A plan of the fleet shows no changes."""
    plan = letta_apply("plan", str(fleet.path), "--detailed-exitcode", url=url)
    assert plan.code == 0, plan.output
