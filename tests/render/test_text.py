"""The terminal renderer: colour only on request, escaping, ordering, shortening."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from reconciler.plan.serialize import plan_to_dict
from reconciler.render import render_text
from reconciler.render.lines import MAX_DIFF_LINES

from .plans import (
    SAMPLES,
    drift_plan,
    empty_plan,
    hostile_plan,
    many_users_plan,
    mixed_plan,
    notices_plan,
    pattern_rows_plan,
)

if TYPE_CHECKING:
    from reconciler.plan.model import Plan

ALL_PLANS = [factory() for factory in SAMPLES.values()] + [
    hostile_plan(),
    pattern_rows_plan(),
    many_users_plan(50),
]
OUR_CODES = re.compile(r"\x1b\[(?:0|1|2|31|32|33|36)m")


@pytest.mark.parametrize("plan", ALL_PLANS)
def test_no_escape_codes_without_color(plan: Plan) -> None:
    assert "\x1b" not in render_text(plan, color=False)


def test_color_marks_each_action() -> None:
    text = render_text(mixed_plan(), color=True)
    assert "\x1b[32m+\x1b[0m agent/user:alice" in text
    assert "\x1b[33m~\x1b[0m agent/support" in text
    assert "\x1b[36m>\x1b[0m identity/carol to agent/support" in text
    assert "\x1b[36m<\x1b[0m block/legacy from agent/user:dave" in text
    assert "\x1b[31m-\x1b[0m agent/user:frank" in text
    assert "\x1b[2mNot deleted (protected):\x1b[0m" in text


def test_color_changes_nothing_but_escape_codes() -> None:
    for plan in ALL_PLANS:
        assert OUR_CODES.sub("", render_text(plan, color=True)) == render_text(plan, color=False)


def test_user_values_cannot_drive_the_terminal() -> None:
    text = render_text(hostile_plan(), color=True)
    assert "\x1b" not in OUR_CODES.sub("", text)
    assert "\u202e" not in text and "\x07" not in text and "\r" not in text
    assert r"\x1b[31mred\x1b[0m \u202eevil" in text


def test_target_credentials_are_not_shown() -> None:
    text = render_text(hostile_plan(), color=False)
    assert "s3cret" not in text
    assert text.splitlines()[0].startswith("Target: http://***@evil.example:8283/")


def test_header_and_summary_frame_the_plan() -> None:
    lines = render_text(mixed_plan(), color=False).splitlines()
    assert lines[0] == "Target: http://localhost:8283 · stack: acme · prune: on"
    assert lines[-1] == (
        "Plan: 3 to create, 2 to update, 2 to attach, 1 to detach, 2 to delete. 1 notice."
    )


def test_no_changes_says_so_and_counts_notices() -> None:
    assert render_text(empty_plan(), color=False).splitlines()[-1] == (
        "No changes. The server matches the manifests."
    )
    assert render_text(notices_plan(), color=False).splitlines()[-1] == (
        "No changes can be made, but the server does not match the manifests. "
        "1 declared resource blocked. 6 notices."
    )


def test_order_does_not_depend_on_plan_order() -> None:
    plan = mixed_plan()
    for seed in range(5):
        changes, notices = list(plan.changes), list(plan.notices + drift_plan().notices)
        random.Random(seed).shuffle(changes)
        random.Random(seed).shuffle(notices)
        shuffled = replace(plan, changes=tuple(changes), notices=tuple(notices))
        ordered = replace(plan, notices=plan.notices + drift_plan().notices)
        assert render_text(shuffled, color=False) == render_text(ordered, color=False)


def test_changes_are_grouped_in_apply_order() -> None:
    marks = [
        line[2]
        for line in render_text(mixed_plan(), color=False).splitlines()
        if re.match(r"  [+~<>-] ", line)
    ]
    assert marks == ["+", "+", "+", "~", "~", ">", ">", "<", "-", "-"]


def test_long_block_diff_is_shortened_with_a_count() -> None:
    lines = render_text(drift_plan(), color=False).splitlines()
    start = lines.index(
        "    block/user:dave/human: the value differs from the seed; kept (policy: seed)"
    )
    value_lines = lines[start + 3 : lines.index("", start)]
    assert len(value_lines) == MAX_DIFF_LINES + 1
    assert value_lines[-1].strip() == "... (33 more lines)"


def test_long_single_line_value_is_shortened() -> None:
    plan = mixed_plan()
    update = next(c for c in plan_to_dict(plan)["changes"] if c["address"] == "agent/support")
    description = next(f["after"] for f in update["fields"] if f["path"] == "description")
    assert len(description) > 200 and "\n" not in description
    text = render_text(plan, color=False)
    assert '"' + description[:150] in text
    assert description[:200] not in text
    assert "more chars)" in text


def test_create_shows_declared_metadata_but_not_the_ownership_record() -> None:
    text = render_text(mixed_plan(), color=False)
    assert '      + metadata.team: "cx"' in text
    assert "metadata.letta_apply" not in text
