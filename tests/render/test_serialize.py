"""Saved plans: exact round trip, every model field covered, clear refusals."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from reconciler.address import Kind
from reconciler.errors import LettaApplyError
from reconciler.plan.model import Create, FieldChange, Notice, Plan
from reconciler.plan.serialize import (
    plan_digest,
    plan_document,
    plan_from_dict,
    plan_from_json,
    plan_to_dict,
)
from reconciler.values import freeze

from .plans import SAMPLES, drift_plan, hostile_plan, mixed_plan, pattern_rows_plan, sample

ALL_PLANS = [factory() for factory in SAMPLES.values()] + [hostile_plan(), pattern_rows_plan()]


def position(action: str, address: str) -> int:
    """Where the mixed plan's document lists the change with this action and address."""
    changes = plan_to_dict(mixed_plan())["changes"]
    return next(
        i for i, c in enumerate(changes) if (c["action"], c["address"]) == (action, address)
    )


AGENT_CREATE = position("create", "agent/user:alice")
CONVERSATION_CREATE = position("create", "conversation/support/bob")
BLOCK_UPDATE = position("update", "block/knowledge")
AGENT_DELETE = position("delete", "agent/user:frank")


@pytest.mark.parametrize("plan", ALL_PLANS)
def test_dict_round_trip_is_exact(plan: Plan) -> None:
    again = plan_from_dict(plan_to_dict(plan))
    assert again == plan
    # Frozen all the way down: every change and notice hashes, equal ones alike.
    assert [hash(c) for c in again.changes] == [hash(c) for c in plan.changes]
    assert [hash(n) for n in again.notices] == [hash(n) for n in plan.notices]
    assert [type(n.resource_ids) for n in again.notices] == [tuple] * len(plan.notices)


def test_every_model_field_is_written() -> None:
    plan = mixed_plan()
    document = plan_to_dict(plan)
    assert set(document) == {f.name for f in dataclasses.fields(Plan)}
    for change, written in zip(plan.changes, document["changes"], strict=True):
        own = {f.name for f in dataclasses.fields(change)}
        assert set(written) == {"action", "kind", "pattern"} | own
    assert {c["action"] for c in document["changes"]} == {
        "create",
        "update",
        "attach",
        "detach",
        "delete",
    }
    assert set(document["notices"][0]) == {f.name for f in dataclasses.fields(Notice)}
    field = plan_to_dict(drift_plan())["notices"][0]["fields"][0]
    assert set(field) == {f.name for f in dataclasses.fields(FieldChange)}


def test_non_default_plan_settings_survive() -> None:
    plan = mixed_plan()
    document = plan_document(plan)
    assert (document["prune"], document["max_delete_percent"]) == (True, 40.0)
    assert document["owned_resources"] == 12  # 5 agents' own blocks among them
    assert plan_from_json(json.dumps(document)) == plan


def test_output_does_not_alias_the_plan() -> None:
    plan = mixed_plan()
    document = plan_to_dict(plan)
    document["changes"][AGENT_CREATE]["body"]["memory_blocks"][1]["value"] = "changed"
    again = plan_to_dict(plan)["changes"][AGENT_CREATE]["body"]["memory_blocks"][1]
    assert again["value"] == "I am a personal assistant."


def test_only_required_keys_give_defaults() -> None:
    plan = plan_from_dict(
        {
            "format_version": 5,
            "stack": "acme",
            "target": "http://localhost:8283",
            "changes": [{"action": "create", "address": "identity/carol"}],
            "notices": [{"kind": "drift", "address": "block/knowledge", "message": "m"}],
        }
    )
    created = plan.changes[0]
    assert isinstance(created, Create) and created.body == {} and created.links == ()
    assert plan.notices[0].resource_ids == ()
    assert plan.prune is False


def test_how_each_kind_was_read_survives_by_kind() -> None:
    record = freeze({"listed": False, "looked_up": ["carol", "dave"]})
    plan = dataclasses.replace(mixed_plan(), reads=((Kind.IDENTITY, record),))
    document = plan_document(plan)
    assert document["reads"] == {"identity": {"listed": False, "looked_up": ["carol", "dave"]}}
    assert plan_from_json(json.dumps(document)).reads == ((Kind.IDENTITY, record),)
    assert plan_digest(plan) != plan_digest(mixed_plan())


def test_a_plan_of_the_previous_format_is_refused_not_misread() -> None:
    """Version 4 kept the identities' reads under `identity_reads`: such a plan is refused
    for its version (it is never read without them, which would read the server otherwise)."""
    document = json.loads(json.dumps(plan_document(mixed_plan())))
    del document["reads"]
    document.update(format_version=4, identity_reads={"listed": False, "looked_up": ["carol"]})
    with pytest.raises(LettaApplyError) as caught:
        plan_from_dict(document)
    assert str(caught.value) == (
        "saved plan has format_version 4; this letta-apply reads version 5 only. "
        "Re-run `letta-apply plan` with this version."
    )


def test_digest_is_stable_and_sensitive() -> None:
    plan = mixed_plan()
    assert plan_digest(plan) == plan_digest(mixed_plan())
    assert len(plan_digest(plan)) == 64
    assert plan_digest(sample("mixed", target="http://other:8283")) != plan_digest(plan)


def edit(path: str, value: Any) -> dict[str, Any]:
    """The mixed plan's JSON document with one key set (or removed, for `...`)."""
    document: dict[str, Any] = json.loads(json.dumps(plan_document(mixed_plan())))
    *parents, last = path.split("/")
    target: Any = document
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return document


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "plan: expected an object, got list"),
        (edit("format_version", 2), "format_version 2; this letta-apply reads version 5"),
        (edit("format_version", ...), "plan.format_version: missing or not an integer"),
        (edit("format_version", "1"), "plan.format_version: missing or not an integer"),
        (edit("stack", ...), "plan.stack: missing"),
        (edit("colour", "blue"), "plan: unknown key(s) colour"),
        (edit("prune", "yes"), "plan.prune: expected true or false"),
        (edit("owned_resources", -1), "plan.owned_resources: expected a whole number"),
        (edit("max_delete_percent", 250), "plan.max_delete_percent: expected a number"),
        (edit("changes", {}), "plan.changes: expected a list, got dict"),
        (edit("changes/0/action", "destroy"), "plan.changes[0].action: 'destroy' is not one of"),
        (edit("changes/0/kind", "tool"), "plan.changes[0].kind: 'tool' does not match the change"),
        (
            edit(f"changes/{CONVERSATION_CREATE}/pattern", "dedicated"),
            f"plan.changes[{CONVERSATION_CREATE}].pattern: 'dedicated' does not match the change",
        ),
        (
            edit(f"changes/{CONVERSATION_CREATE}/address", "robot/x"),
            f"plan.changes[{CONVERSATION_CREATE}].address: not an address",
        ),
        (
            edit(f"changes/{BLOCK_UPDATE}/links", []),
            f"plan.changes[{BLOCK_UPDATE}]: unknown key(s) links",
        ),
        (
            edit(f"changes/{CONVERSATION_CREATE}/address", ...),
            f"plan.changes[{CONVERSATION_CREATE}].address: missing",
        ),
        (
            edit(f"changes/{AGENT_CREATE}/links", [7]),
            f"plan.changes[{AGENT_CREATE}].links[0]: expected a string",
        ),
        (
            edit(f"changes/{CONVERSATION_CREATE}/typo", 1),
            f"plan.changes[{CONVERSATION_CREATE}]: unknown key(s) typo",
        ),
        (
            edit(f"changes/{BLOCK_UPDATE}/fields/0/after", ...),
            f"plan.changes[{BLOCK_UPDATE}].fields[0].after: missing",
        ),
        (
            edit(f"changes/{AGENT_DELETE}/tags", ["tier:prod", 7]),
            f"plan.changes[{AGENT_DELETE}].tags[1]: expected a string",
        ),
        (edit("reads", []), "plan.reads: expected an object, got list"),
        (edit("reads/identity", "listed"), "plan.reads.identity: expected an object, got str"),
        (edit("reads/widget", {}), "plan.reads.widget: 'widget' is not one of agent, block"),
        (edit("notices/0/kind", "info"), "plan.notices[0].kind: 'info' is not one of"),
        (edit("notices/0/resource_ids", [1]), "plan.notices[0].resource_ids[0]: expected a str"),
        (
            edit(f"changes/{CONVERSATION_CREATE}/body/summary", "edited"),
            "plan.digest: does not match the plan's contents",
        ),
        (edit("summary/delete", 0), "plan.summary: does not match the plan's contents"),
    ],
)
def test_malformed_documents_are_refused_with_the_place(document: Any, message: str) -> None:
    with pytest.raises(LettaApplyError) as caught:
        plan_from_dict(document)
    assert message in str(caught.value)


def test_invalid_json_is_a_letta_apply_error() -> None:
    with pytest.raises(LettaApplyError, match="saved plan is not valid JSON"):
        plan_from_json('{"format_version": 5,')
