"""Planner cases as data: each folder under cases/ holds `desired.yaml` (a manifest),
`live.json` (what the server holds) and `expected-plan.json` (the plan, as saved).

Refresh expectations only deliberately: `UPDATE_GOLDEN=1 pytest tests/plan`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from reconciler.kinds.registry import KINDS, fingerprint
from reconciler.plan.model import Adopt
from reconciler.plan.serialize import plan_to_dict
from reconciler.planner import build_plan
from reconciler.values import canonical

from .data import live_from_json, load_case, plan_case

CASES = sorted(p for p in (Path(__file__).parent / "cases").iterdir() if p.is_dir())


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_planner_case(case: Path) -> None:
    actual = plan_to_dict(plan_case(case))
    actual.pop("live_fingerprint")  # a digest of live.json: covered by its own test
    expected_path = case / "expected-plan.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        expected_path.write_text(json.dumps(actual, indent=2, sort_keys=True) + "\n")
    assert actual == json.loads(expected_path.read_text())


def test_fingerprint_changes_with_any_owned_value() -> None:
    raw = json.loads((CASES[1] / "live.json").read_text())
    base = live_from_json("acme", raw)
    raw["agents"][0]["blocks"][0]["value"] += " (edited)"
    assert fingerprint(live_from_json("acme", raw)) != fingerprint(base)
    again = live_from_json("acme", json.loads((CASES[1] / "live.json").read_text()))
    assert fingerprint(again) == fingerprint(base)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fingerprint_is_the_digest_of_one_document(case: Path) -> None:
    """Hashed a resource at a time, the fingerprint is still the digest of the whole owned
    state as one canonical document: saved plans made before keep verifying."""
    _desired, live = load_case(case)
    document = [list(kind.fingerprinted(live)) for kind in KINDS]
    assert fingerprint(live) == hashlib.sha256(canonical(document).encode()).hexdigest()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_adopt_changes_nothing_where_nothing_is_adopted(case: Path) -> None:
    """`--adopt` only adds adoptions and what follows from them: where there is nothing to
    adopt, the plan is the one made without it (sleep-time agents' deletes included)."""
    desired, live = load_case(case)
    adopting = build_plan(desired, live, target="t", adopt=True)
    if not any(isinstance(change, Adopt) for change in adopting.changes):
        assert adopting == build_plan(desired, live, target="t", adopt=False)
