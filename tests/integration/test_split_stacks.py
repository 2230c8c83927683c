"""A fleet split into two stacks that share one users file (`usersFrom.where`), applied by two
processes at once on the real server: both converge, neither touches the other's agents,
conversations or identities (prune included), and a user moved between them changes stacks."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from letta_client import Letta

from tests.integration.helpers import REGIONS, Result, letta_apply, write_fleet

pytestmark = pytest.mark.server


def at_once(url: str, root: Path, *args: str) -> list[Result]:
    """`letta-apply ARGS <region> --root <fleet>` for both regions, in two processes at once."""

    def run(region: str) -> Result:
        return letta_apply(*args, str(root / region), "--root", str(root), url=url)

    with ThreadPoolExecutor(max_workers=len(REGIONS)) as pool:
        return list(pool.map(run, REGIONS))


def outputs(url: str, root: Path, region: str) -> dict[str, dict[str, Any]]:
    done = letta_apply("outputs", str(root / region), "--root", str(root), url=url)
    assert done.code == 0, done.output
    users: dict[str, dict[str, Any]] = json.loads(done.stdout)["users"]
    return users


def owned_agents(sdk: Letta, stack: str) -> dict[str, list[str]]:
    """The agents carrying the stack's tag: id -> their tags."""
    tag = f"letta-apply:{stack}"
    listed = sdk.agents.list(tags=[tag], include=["agent.tags"], limit=100)
    return {agent.id: list(agent.tags) for agent in listed}


def converged(url: str, root: Path) -> None:
    for region in REGIONS:
        plan = letta_apply(
            "plan", str(root / region), "--root", str(root), "--detailed-exitcode", url=url
        )
        assert plan.code == 0, plan.output


def test_two_stacks_from_one_file_applied_at_once_stay_apart(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    root = tmp_path / "fleet"
    stacks = write_fleet(root, stack_name)

    for applied in at_once(letta_url, root, "--auto-approve"):
        assert applied.code == 0, applied.output
        assert "Apply complete: " in applied.stdout
    converged(letta_url, root)

    seen = {region: outputs(letta_url, root, region) for region in REGIONS}
    for region, users in seen.items():
        assert all(user.startswith(region[0]) for user in users)
        assert len(users) == 5
    agents = {region: owned_agents(sdk, stack) for region, stack in stacks.items()}
    assert not set(agents["north"]) & set(agents["south"])
    for region, found in agents.items():
        other = f"letta-apply:{stacks[REGIONS[1 - REGIONS.index(region)]]}"
        assert len(found) == 2  # the shared agent and the dedicated user's
        assert all(other not in tags for tags in found.values())
    for region, users in seen.items():
        shared = {row["agent_id"] for row in users.values() if row["pattern"] != "dedicated"}
        assert shared <= set(agents[region])

    # A user moves north -> south: each stack applies its half of the move, at once, with
    # prune on; the south's identities and conversations survive the north's prune.
    moved = f"n0-{stack_name}"
    write_fleet(root, stack_name, south={moved})
    for applied in at_once(letta_url, root, "--auto-approve", "--allow-delete"):
        assert applied.code == 0, applied.output
    converged(letta_url, root)
    after = {region: outputs(letta_url, root, region) for region in REGIONS}
    assert moved not in after["north"] and moved in after["south"]
    assert after["south"][moved]["conversation_id"] != seen["north"][moved]["conversation_id"]
    for user, row in seen["south"].items():
        assert after["south"][user] == row  # untouched by the north's apply and prune
    north_conversations = {c.id for c in sdk.conversations.list(agent_id=row_agent(after, "north"))}
    assert seen["north"][moved]["conversation_id"] not in north_conversations


def row_agent(users_by_region: dict[str, dict[str, dict[str, Any]]], region: str) -> str:
    """The id of the region's shared agent, from any of its shared users' rows."""
    rows = users_by_region[region].values()
    return next(str(row["agent_id"]) for row in rows if row["pattern"] == "shared")
