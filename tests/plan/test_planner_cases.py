"""Planner cases as data: each folder under cases/ holds `desired.yaml` (a manifest),
`live.json` (what the server holds) and `expected-plan.json` (the plan, as saved).

Refresh expectations only deliberately: `UPDATE_GOLDEN=1 pytest tests/plan`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from reconciler.live import LiveAgent, LiveBlock, LiveConversation, LiveIdentity, LiveState
from reconciler.manifest import load_desired
from reconciler.plan.planner import build_plan
from reconciler.plan.serialize import plan_to_dict

CASES = sorted(p for p in (Path(__file__).parent / "cases").iterdir() if p.is_dir())


def _block(raw: dict[str, Any]) -> LiveBlock:
    return LiveBlock(**{**raw, "tags": tuple(raw.get("tags", ()))})


def _agent(raw: dict[str, Any]) -> LiveAgent:
    fields = {**raw, "tags": tuple(raw.get("tags", ()))}
    fields["blocks"] = tuple(_block(b) for b in raw.get("blocks", ()))
    fields["identity_ids"] = tuple(raw.get("identity_ids", ()))
    return LiveAgent(**fields)


def live_from_json(stack: str, raw: dict[str, Any]) -> LiveState:
    return LiveState(
        stack=stack,
        agents=tuple(_agent(a) for a in raw.get("agents", ())),
        blocks=tuple(_block(b) for b in raw.get("blocks", ())),
        conversations=tuple(LiveConversation(**c) for c in raw.get("conversations", ())),
        identities=tuple(LiveIdentity(**i) for i in raw.get("identities", ())),
        foreign_agents=tuple(_agent(a) for a in raw.get("foreign_agents", ())),
    )


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_planner_case(case: Path) -> None:
    desired = load_desired([case / "desired.yaml"])
    live = live_from_json(desired.stack, json.loads((case / "live.json").read_text()))
    plan = build_plan(desired, live, target="http://letta.test")
    actual = plan_to_dict(plan)
    actual.pop("live_fingerprint")  # a digest of live.json: covered by its own test
    expected_path = case / "expected-plan.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        expected_path.write_text(json.dumps(actual, indent=2, sort_keys=True) + "\n")
    assert actual == json.loads(expected_path.read_text())


def test_fingerprint_changes_with_any_owned_value() -> None:
    raw = json.loads((CASES[1] / "live.json").read_text())
    base = live_from_json("acme", raw)
    raw["agents"][0]["blocks"][0]["value"] += " (edited)"
    assert live_from_json("acme", raw).fingerprint() != base.fingerprint()
    assert (
        live_from_json("acme", json.loads((CASES[1] / "live.json").read_text())).fingerprint()
        == base.fingerprint()
    )
