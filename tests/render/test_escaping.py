"""Every format renders text no terminal acts on and UTF-8 can hold: lone surrogates, C1
controls, bidi marks and line separators included (a crash here would also let a pull request
suppress its own plan comment)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import pytest

from reconciler.plan.model import Create, Plan
from reconciler.plan.serialize import plan_digest, plan_from_json
from reconciler.render import render_json, render_markdown, render_text
from reconciler.values import freeze, thaw

from .plans import hostile_plan

AWKWARD = "lone \ud800 and \udfff, C1 \x9b31m, DEL \x7f, mark \u200f, isolate \u2067, LS \u2028."
ACTIVE = ("\ud800", "\udfff", "\x9b", "\x7f", "\u200f", "\u2067", "\u2028")


def awkward_plan() -> Plan:
    """The hostile sample with one created agent's description holding `AWKWARD`: what a
    manifest or a saved plan file can carry, as `\\ud800` escapes."""
    plan = hostile_plan()
    index, change = next(
        (i, c) for i, c in enumerate(plan.changes) if isinstance(c, Create) and "name" in c.body
    )
    body = freeze({**thaw(change.body), "description": AWKWARD})
    changes = list(plan.changes)
    changes[index] = dataclasses.replace(change, body=body)
    return dataclasses.replace(plan, changes=tuple(changes))


@pytest.mark.parametrize(
    "render",
    [lambda p: render_text(p, color=True), render_markdown, render_json],
    ids=["text", "markdown", "json"],
)
def test_nothing_active_or_unencodable_is_rendered(render: Callable[[Plan], str]) -> None:
    rendered = render(awkward_plan())
    rendered.encode("utf-8")
    assert not [c for c in ACTIVE if c in rendered]
    assert "\\ud800" in rendered and "\\u2067" in rendered


def test_the_json_document_keeps_the_values_exactly() -> None:
    plan = awkward_plan()
    document = render_json(plan)
    bodies = [change.get("body", {}) for change in json.loads(document)["changes"]]
    assert [body.get("description") for body in bodies].count(AWKWARD) == 1
    again = plan_from_json(document)  # the digest in the document matches
    assert again == plan and plan_digest(again) == plan_digest(plan)
