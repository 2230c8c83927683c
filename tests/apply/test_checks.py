"""A saved plan's ids are trusted only once the live state confirms them: an edited plan
naming a resource the stack does not own (or not at that address) is refused whole."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from reconciler.address import Address
from reconciler.apply.checks import check_owned
from reconciler.errors import LettaApplyError, UnsafePlanError
from reconciler.plan.model import Delete, Detach, Plan, Update
from reconciler.plan.serialize import plan_document, plan_from_json
from reconciler.planner import build_plan
from tests.plan.data import TARGET, load_case

CASES = Path(__file__).parents[1] / "plan" / "cases"
ZED_DELETED = CASES / "07-undeclared-user-deleted-with-prune-and-its-blocks"
TEMPLATE_CHANGED = CASES / "05-template-change-updates-in-place"
HAND_MADE_BLOCKS = CASES / "30-blocks-the-stack-did-not-make-are-never-changed-or-deleted"
TOOLS = CASES / "35-tools-defined-attached-and-blocked"
BLOCK_DETACHED = CASES / "13-shared-block-no-longer-listed-is-detached"


def _edited(plan: Plan, index: int, **fields: object) -> Plan:
    changes = list(plan.changes)
    changes[index] = dataclasses.replace(changes[index], **fields)  # type: ignore[arg-type]
    return dataclasses.replace(plan, changes=tuple(changes))


def test_the_plans_the_planner_makes_pass() -> None:
    for case in (ZED_DELETED, TEMPLATE_CHANGED, HAND_MADE_BLOCKS):
        desired, live = load_case(case)
        check_owned(build_plan(desired, live, target=TARGET), live)


def test_a_delete_of_a_resource_the_stack_does_not_own_is_refused() -> None:
    desired, live = load_case(HAND_MADE_BLOCKS)
    plan = build_plan(desired, live, target=TARGET)
    index = next(i for i, c in enumerate(plan.changes) if isinstance(c, Delete))
    forged = _edited(plan, index, resource_id="agent-someone-else")
    with pytest.raises(UnsafePlanError, match="agent-someone-else"):
        check_owned(forged, live)


def test_a_foreign_block_slipped_in_with_an_agents_own_is_refused() -> None:
    desired, live = load_case(HAND_MADE_BLOCKS)
    plan = build_plan(desired, live, target=TARGET)
    index = next(i for i, c in enumerate(plan.changes) if isinstance(c, Delete))
    delete = plan.changes[index]
    assert isinstance(delete, Delete)
    children = (*delete.owned_children, "block-other-stack-policies")
    with pytest.raises(UnsafePlanError, match="block-other-stack-policies"):
        check_owned(_edited(plan, index, owned_children=children), live)


def test_an_update_aimed_at_another_owned_resource_is_refused() -> None:
    desired, live = load_case(TEMPLATE_CHANGED)
    plan = build_plan(desired, live, target=TARGET)
    updates = [i for i, c in enumerate(plan.changes) if isinstance(c, Update)]
    first, second = (plan.changes[i] for i in updates[:2])
    assert isinstance(first, Update) and isinstance(second, Update)
    swapped = _edited(plan, updates[0], resource_id=second.resource_id)
    with pytest.raises(UnsafePlanError, match="does not own there"):
        check_owned(swapped, live)


def test_a_saved_plan_without_its_digest_is_refused() -> None:
    desired, live = load_case(ZED_DELETED)
    document = plan_document(build_plan(desired, live, target=TARGET))
    assert plan_from_json(json.dumps(document)) is not None
    del document["digest"]
    with pytest.raises(LettaApplyError, match=r"plan\.digest: missing"):
        plan_from_json(json.dumps(document))


def test_a_tools_detach_is_claimed_on_the_agent_not_on_the_tool() -> None:
    desired, live = load_case(TOOLS)
    plan = build_plan(desired, live, target=TARGET)
    detaches = [i for i, c in enumerate(plan.changes) if isinstance(c, Detach)]
    assert detaches
    check_owned(plan, live)  # tool-hand is hand made: detaching it from the stack's agent is fine
    forged = _edited(plan, detaches[0], agent=Address.agent("user:mallory"))
    with pytest.raises(UnsafePlanError, match=r"agent/user:mallory \(detaching tool/"):
        check_owned(forged, live)


def test_a_blocks_detach_is_claimed_on_the_block() -> None:
    desired, live = load_case(BLOCK_DETACHED)
    plan = build_plan(desired, live, target=TARGET)
    index = next(i for i, c in enumerate(plan.changes) if isinstance(c, Detach))
    check_owned(plan, live)
    with pytest.raises(UnsafePlanError, match="block-someone-else"):
        check_owned(_edited(plan, index, resource_id="block-someone-else"), live)
