"""`kept_ids` (address -> live id, used by the applier and outputs) names the
resource the plan keeps.

With duplicates the planner keeps the oldest (by `created_at`, then id) and, with prune, deletes
the others; `kept_ids` must point at the survivor, never at a copy the plan deletes.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.kinds.registry import kept_ids
from reconciler.plan.serialize import plan_to_dict
from reconciler.planner import build_plan

from .data import TARGET, load_case

DUPLICATES = Path(__file__).parent / "cases" / "19-duplicates-of-every-kind-pruned-keep-the-oldest"


def test_kept_ids_names_the_oldest_of_each_duplicate_and_not_a_deleted_copy() -> None:
    desired, live = load_case(DUPLICATES)
    document = plan_to_dict(build_plan(desired, live, target=TARGET, prune=True))
    claimed = {
        n["address"]: set(n["resource_ids"])
        for n in document["notices"]
        if n["kind"] == "duplicate"
    }
    deleted: dict[str, set[str]] = {}
    for change in document["changes"]:
        if change["action"] == "delete":
            deleted.setdefault(change["address"], set()).add(change["resource_id"])
    ids = {str(address): id_ for address, id_ in kept_ids(live).items()}
    expected = {
        "agent/user:alice": "agent-alice",
        "block/company": "block-company",
        "conversation/support/bob": "conv-bob",
        "identity/carol": "identity-carol",
    }
    assert {address: ids[address] for address in expected} == expected
    for address, kept in expected.items():
        assert kept not in deleted[address]
        assert deleted[address] | {kept} == claimed[address]


def test_kept_ids_holds_every_owned_address_once() -> None:
    _desired, live = load_case(DUPLICATES)
    assert {str(address): id_ for address, id_ in kept_ids(live).items()} == {
        "agent/support": "agent-support",
        "agent/user:alice": "agent-alice",
        "block/company": "block-company",
        "block/support/persona": "block-support-persona",
        "block/user:alice/human": "block-alice-human",
        "block/user:alice/persona": "block-alice-persona",
        "conversation/support/bob": "conv-bob",
        "identity/carol": "identity-carol",
    }
