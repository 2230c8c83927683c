"""The deletion guards: deletes need permission, and more than the stack's share is refused.

Counted on plans the planner makes: an agent's own memory blocks count with the agent.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from reconciler.apply.checks import check_guards
from reconciler.errors import UnsafePlanError
from tests.plan.data import plan_case

CASES = Path(__file__).parents[1] / "plan" / "cases"
ZED_DELETED = CASES / "07-undeclared-user-deleted-with-prune-and-its-blocks"


def test_an_agents_own_blocks_are_counted_as_deleted() -> None:
    plan = plan_case(ZED_DELETED)
    assert sorted(plan.deleted_ids) == ["agent-zed", "block-zed-human", "block-zed-persona"]
    assert plan.owned_resources >= len(plan.deleted_ids)


def test_deletes_need_permission() -> None:
    with pytest.raises(UnsafePlanError, match="deletes 3 resource"):
        check_guards(plan_case(ZED_DELETED), allow_destructive=False, allow_mass_delete=True)


@pytest.mark.parametrize("percent", [0.0, 1.0])
def test_a_share_below_one_resource_refuses_even_one_delete(percent: float) -> None:
    plan = dataclasses.replace(plan_case(ZED_DELETED), max_delete_percent=percent)
    with pytest.raises(UnsafePlanError, match="--allow-mass-delete"):
        check_guards(plan, allow_destructive=True, allow_mass_delete=False)
    check_guards(plan, allow_destructive=True, allow_mass_delete=True)


def test_deletes_within_the_share_pass() -> None:
    plan = dataclasses.replace(plan_case(ZED_DELETED), max_delete_percent=100.0)
    check_guards(plan, allow_destructive=True, allow_mass_delete=False)


def test_blocks_deleted_with_their_agent_can_push_a_plan_over_the_share() -> None:
    plan = plan_case(ZED_DELETED)
    share = 100 * (len(plan.deleted_ids) - 1) / plan.owned_resources
    over = dataclasses.replace(plan, max_delete_percent=share)
    with pytest.raises(UnsafePlanError, match=f"deletes 3 of {plan.owned_resources}"):
        check_guards(over, allow_destructive=True, allow_mass_delete=False)
