"""A plan only shown as text leaves out what only a saved or JSON plan carries: the digest of
the live state, and the count of what the stack owns unless the plan deletes something."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.kinds.registry import fingerprint, owned_count
from reconciler.plan.model import Delete
from reconciler.planner import build_plan

from .data import load_case

CASES = Path(__file__).parent / "cases"
NO_OP = CASES / "02-converged-server-is-a-no-op"
DELETES = CASES / "07-undeclared-user-deleted-with-prune-and-its-blocks"


@pytest.mark.parametrize("case", [NO_OP, DELETES], ids=["no-op", "deletes"])
def test_a_summarized_plan_carries_the_digest_and_the_owned_count(case: Path) -> None:
    desired, live = load_case(case)
    plan = build_plan(desired, live, target="t")
    assert plan.live_fingerprint == fingerprint(live) != ""
    assert plan.owned_resources == owned_count(live) > 0


def test_a_shown_plan_that_deletes_nothing_skips_both() -> None:
    desired, live = load_case(NO_OP)
    plan = build_plan(desired, live, target="t", summarized=False)
    assert (plan.live_fingerprint, plan.owned_resources) == ("", 0)
    assert plan.changes == build_plan(desired, live, target="t").changes


def test_a_shown_plan_that_deletes_still_counts_what_the_stack_owns() -> None:
    """The deletion guard it shows is a share of what the stack owns."""
    desired, live = load_case(DELETES)
    plan = build_plan(desired, live, target="t", summarized=False)
    assert any(isinstance(change, Delete) for change in plan.changes)
    assert plan.owned_resources == owned_count(live) > 0
    assert plan.live_fingerprint == ""
