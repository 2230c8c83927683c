"""The review record and the digest that ties an apply to a review, on plans the planner made."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from reconciler.gitops.review import (
    LABEL_CHANGES,
    LABEL_DESTROY,
    LABEL_NO_CHANGES,
    MAX_LISTED_CHANGES,
    Review,
    Status,
    change_digests,
    changes_digest,
    differences,
    labels_for,
    marker,
    read_review,
    read_reviews,
    record_line,
    review_of,
)
from reconciler.plan.model import FieldChange, Plan, Update
from tests.plan.data import plan_case
from tests.render.plans import drift_plan, empty_plan, hostile_plan, many_users_plan, mixed_plan


def _comment(review: Review, text: str = "the plan") -> str:
    return f"{marker(review.key)}\n{record_line(review)}\n{text}"


def test_the_digest_covers_what_is_sent_not_what_is_shown() -> None:
    plan = mixed_plan()
    digest = changes_digest(plan)
    update = next(c for c in plan.changes if isinstance(c, Update))
    index = plan.changes.index(update)

    def with_change(change: Update) -> Plan:
        changes = (*plan.changes[:index], change, *plan.changes[index + 1 :])
        return dataclasses.replace(plan, changes=changes)

    # The server's current value moved (an agent rewrote memory): what is sent is the same.
    moved = tuple(FieldChange(f.path, "rewritten meanwhile", f.after) for f in update.fields)
    assert changes_digest(with_change(dataclasses.replace(update, fields=moved))) == digest
    assert changes_digest(dataclasses.replace(plan, notices=(), live_fingerprint="x")) == digest
    # Anything sent differs: the digest differs.
    body = {**update.body, "description": "something else"}
    assert changes_digest(with_change(dataclasses.replace(update, body=body))) != digest
    assert changes_digest(dataclasses.replace(plan, target="http://elsewhere:8283")) != digest
    assert changes_digest(dataclasses.replace(plan, changes=plan.changes[1:])) != digest


def test_a_record_reads_back_as_written() -> None:
    review = review_of(mixed_plan(), key=".:letta", head="a" * 40)
    assert review.status is Status.PLANNED and review.has_changes and review.destroys
    assert read_review(_comment(review), ".:letta") == review
    assert read_reviews([_comment(review), "an ordinary comment"]) == [
        dataclasses.replace(review, key=review_key(review))
    ]


def review_key(review: Review) -> str:
    return marker(review.key).split()[3]


def test_a_record_is_only_read_for_its_own_stack_and_version() -> None:
    review = review_of(empty_plan(), key="stacks/a", head=None)
    body = _comment(review)
    assert read_review(body, "stacks/b") is None
    assert read_review(body.replace('"version":1', '"version":9'), "stacks/a") is None
    assert read_review(body.replace('"summary":{', '"summary":['), "stacks/a") is None
    assert read_review("the plan\n" + body, "stacks/a") is None  # the marker opens the comment


def test_no_value_in_a_record_can_end_the_comment() -> None:
    review = review_of(hostile_plan(), key="x --> <b>&", head="-->")
    line = record_line(review)
    assert line.count("-->") == 1 and line.endswith(" -->")
    assert "<b>" not in line and read_review(_comment(review), "x --> <b>&") == review


def test_labels_follow_every_stacks_latest_plan() -> None:
    changes = review_of(drift_plan(), key="a", head=None)
    none = review_of(empty_plan(), key="b", head=None)
    deletes = review_of(mixed_plan(), key="c", head=None)
    failed = Review("d", Status.FAILED)
    assert labels_for([none]) == {LABEL_NO_CHANGES}
    assert labels_for([none, changes]) == {LABEL_CHANGES}
    assert labels_for([none, deletes]) == {LABEL_CHANGES, LABEL_DESTROY}
    assert labels_for([failed]) == set()
    assert labels_for([none, failed]) == {LABEL_NO_CHANGES}


def test_a_refusal_names_the_changes_that_were_not_reviewed() -> None:
    plan = mixed_plan()
    reviewed = review_of(dataclasses.replace(plan, changes=plan.changes[1:]), key="k", head=None)
    lines = differences(reviewed, plan)
    first = plan.changes[0]
    assert f"not reviewed: {first.action.value} {first.address}" in lines
    whole = review_of(plan, key="k", head=None)
    fewer = differences(whole, dataclasses.replace(plan, changes=plan.changes[:1]))
    assert f"{len(plan.changes) - 1} reviewed change(s) no longer planned" in fewer[-1]


def test_a_large_plan_is_compared_whole() -> None:
    plan = many_users_plan(MAX_LISTED_CHANGES + 1)
    review = review_of(plan, key="k", head=None)
    assert review.changes is None and len(change_digests(plan)) > MAX_LISTED_CHANGES
    (line,) = differences(review, plan)
    assert line.startswith("reviewed: ")


@pytest.mark.parametrize("plan", [empty_plan(), mixed_plan()], ids=["empty", "mixed"])
def test_change_digests_are_one_per_change(plan: Plan) -> None:
    assert len(change_digests(plan)) == len(plan.changes)


SLEEPTIME_OFF = (
    Path(__file__).parents[1]
    / "plan"
    / "cases"
    / "40-sleeptime-agents-deleted-as-planned-changes-others-in-their-groups-left-alone"
)


def test_switching_sleeptime_off_is_a_delete_the_destroy_label_counts() -> None:
    case = SLEEPTIME_OFF
    review = review_of(plan_case(case), key="s", head=None)
    assert review.destroys
    assert labels_for([review]) == {LABEL_CHANGES, LABEL_DESTROY}
