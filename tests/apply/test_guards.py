"""The deletion guards: deletes need permission, and more than the stack's share is refused.

Counted on plans the planner makes: an agent's own memory blocks count with the agent.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from reconciler.apply.checks import check_guards
from reconciler.errors import UnsafePlanError
from reconciler.render import render_markdown, render_text
from tests.plan.data import plan_case

CASES = Path(__file__).parents[1] / "plan" / "cases"
ZED_DELETED = CASES / "07-undeclared-user-deleted-with-prune-and-its-blocks"


def test_an_agents_own_blocks_are_counted_as_deleted() -> None:
    plan = plan_case(ZED_DELETED)
    assert sorted(plan.deleted_ids) == ["agent-zed", "block-zed-human", "block-zed-persona"]
    assert plan.owned_resources >= len(plan.deleted_ids)


def test_deletes_need_permission() -> None:
    with pytest.raises(UnsafePlanError, match=r"deletes 1 agent with its 2 memory blocks \(3 "):
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
    with pytest.raises(UnsafePlanError, match=f"3 of the {plan.owned_resources} resources"):
        check_guards(over, allow_destructive=True, allow_mass_delete=False)


def test_the_plan_counts_deletions_as_the_guards_do() -> None:
    plan = dataclasses.replace(plan_case(ZED_DELETED), max_delete_percent=100.0)
    assert "1 to delete" in render_text(plan, color=False)  # one change: the agent
    counted = "1 agent with its 2 memory blocks (3 resources)"
    with pytest.raises(UnsafePlanError) as refused:
        check_guards(plan, allow_destructive=False, allow_mass_delete=True)
    assert f"the plan deletes {counted};" in str(refused.value)
    for shown in (render_text(plan, color=False), render_markdown(plan)):
        assert f"Deletes {counted}." in shown
        assert "--allow-mass-delete" not in shown


def test_the_plan_says_when_applying_it_needs_allow_mass_delete() -> None:
    plan = dataclasses.replace(plan_case(ZED_DELETED), max_delete_percent=1.0)
    share = f"3 of the {plan.owned_resources} resources the stack owns, more than its "
    share += "maxDeletePercent of 1%"
    with pytest.raises(UnsafePlanError) as refused:
        check_guards(plan, allow_destructive=True, allow_mass_delete=False)
    assert share in str(refused.value)
    for shown in (render_text(plan, color=False), render_markdown(plan)):
        assert f"That is {share}: applying needs --allow-mass-delete." in shown
