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

from reconciler import ownership
from reconciler.address import Address
from reconciler.live import LiveAgent, LiveBlock, LiveConversation, LiveIdentity, LiveState
from reconciler.values import freeze
from reconciler.manifest import load_desired
from reconciler.plan.planner import build_plan
from reconciler.plan.serialize import plan_to_dict

CASES = sorted(p for p in (Path(__file__).parent / "cases").iterdir() if p.is_dir())


def _block(raw: dict[str, Any], stack: str) -> LiveBlock:
    fields = {
        **raw,
        "tags": tuple(raw.get("tags", ())),
        "metadata": freeze(raw.get("metadata", {})),
    }
    fields["address"] = ownership.metadata_address(raw.get("metadata"), stack)
    fields["protected"] = ownership.metadata_protected(raw.get("metadata"), stack)
    return LiveBlock(**fields)


_SETTINGS = ("model", "embedding", "description", "system")


def _agent(raw: dict[str, Any], stack: str) -> LiveAgent:
    fields = {k: v for k, v in raw.items() if k not in _SETTINGS}
    fields["settings"] = freeze({k: raw.get(k) for k in _SETTINGS})
    fields["tags"] = tuple(raw.get("tags", ()))
    fields["metadata"] = freeze(raw.get("metadata", {}))
    fields["address"] = Address.parse(raw["address"]) if raw.get("address") else None
    fields["blocks"] = tuple(_block(b, stack) for b in raw.get("blocks", ()))
    fields["identity_ids"] = tuple(raw.get("identity_ids", ()))
    fields["protected"] = ownership.metadata_protected(raw.get("metadata"), stack)
    return LiveAgent(**fields)


def _identity(raw: dict[str, Any]) -> LiveIdentity:
    properties = dict(raw.get("properties", {}))
    protected = properties.pop(ownership.IDENTITY_PROTECTED_KEY, None) is True
    return LiveIdentity(**{**raw, "properties": freeze(properties), "protected": protected})


def live_from_json(stack: str, raw: dict[str, Any]) -> LiveState:
    return LiveState(
        stack=stack,
        agents=tuple(_agent(a, stack) for a in raw.get("agents", ())),
        blocks=tuple(_block(b, stack) for b in raw.get("blocks", ())),
        conversations=tuple(LiveConversation(**c) for c in raw.get("conversations", ())),
        identities=tuple(_identity(i) for i in raw.get("identities", ())),
        foreign_agents=tuple(_agent(a, stack) for a in raw.get("foreign_agents", ())),
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
