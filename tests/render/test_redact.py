"""Redacted plans: no memory block value reaches a markdown or JSON plan, a reviewer still
sees which values change and how long they are, and a redacted plan cannot be applied."""

from __future__ import annotations

import json

import pytest

from reconciler.apply.checks import check_not_redacted
from reconciler.errors import UnsafePlanError
from reconciler.plan.model import Create, Plan, Update
from reconciler.plan.serialize import plan_from_json
from reconciler.render import render_json, render_markdown
from reconciler.render.redact import redact_values
from reconciler.values import thaw

from .plans import drift_plan, mixed_plan


def block_values(plan: Plan) -> list[str]:
    """Every memory block value the plan carries, in bodies, field changes and notices."""
    found: list[str] = []
    for change in plan.changes:
        body = thaw(change.body) if isinstance(change, Create | Update) else {}
        if change.address.kind.value == "block" and isinstance(body.get("value"), str):
            found.append(body["value"])
        found += [b["value"] for b in body.get("memory_blocks", ()) if "value" in b]
        if isinstance(change, Update) and change.address.kind.value == "block":
            found += [v for f in change.fields if f.path == "value" for v in (f.before, f.after)]
    for notice in plan.notices:
        found += [v for f in notice.fields if f.path == "value" for v in (f.before, f.after)]
    return [v for v in found if isinstance(v, str) and len(v) > 8]


@pytest.mark.parametrize("make", [mixed_plan, drift_plan])
def test_no_block_value_reaches_markdown_or_json(make: object) -> None:
    plan = make()  # type: ignore[operator]
    values = block_values(plan)
    assert values, "the sample must carry block values for this test to mean anything"
    redacted = redact_values(plan)
    for text in (render_markdown(redacted), render_json(redacted)):
        for value in values:
            for line in value.splitlines():
                if len(line) > 8:
                    assert line not in text, line
    assert '"redacted": true' in render_json(redacted)


def test_changed_values_show_only_their_length() -> None:
    """No hash: a short value (a PIN) would be recovered from it by trying every candidate."""
    redacted = redact_values(drift_plan())
    document = json.loads(render_json(redacted))
    [drift, *_] = document["notices"]
    before, after = drift["fields"][0]["before"], drift["fields"][0]["after"]
    assert before == {"redacted": True, "length": before["length"]}
    assert after == {"redacted": True, "length": after["length"]}
    assert (before["length"], after["length"]) != (0, 0)
    assert "sha256" not in render_markdown(redacted) and "sha256" not in render_json(redacted)


def test_a_redacted_plan_is_refused_by_apply() -> None:
    document = render_json(redact_values(mixed_plan()))
    plan = plan_from_json(document)
    with pytest.raises(UnsafePlanError, match="redacted"):
        check_not_redacted(plan)
    check_not_redacted(plan_from_json(render_json(mixed_plan())))
