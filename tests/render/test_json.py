"""The `--format json` document: valid against schemas/plan.schema.json, stable, documented."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from reconciler.plan.serialize import plan_digest, plan_from_dict, plan_to_dict
from reconciler.render import render_json
from tests.plan.data import plan_case

from .plans import (
    SAMPLES,
    SAMPLES_DIR,
    TARGET,
    hostile_plan,
    many_users_plan,
    mixed_plan,
    pattern_rows_plan,
)

if TYPE_CHECKING:
    from reconciler.plan.model import Plan

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "plan.schema.json"
ALL_PLANS = [factory() for factory in SAMPLES.values()] + [
    hostile_plan(),
    pattern_rows_plan(),
    many_users_plan(20),
]


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@pytest.mark.parametrize("plan", ALL_PLANS)
def test_output_matches_the_schema(plan: Plan, validator: Draft202012Validator) -> None:
    validator.validate(json.loads(render_json(plan)))
    validator.validate(json.loads(json.dumps(plan_to_dict(plan))))


CASES = sorted((Path(__file__).resolve().parents[1] / "plan" / "cases").iterdir())


@pytest.mark.parametrize("case", CASES, ids=lambda path: path.name[:2])
def test_every_planner_case_matches_the_schema(case: Path, validator: Draft202012Validator) -> None:
    """Every kind and operation the planner makes is one the schema documents."""
    validator.validate(json.loads(render_json(plan_case(case))))


def test_schema_rejects_what_a_reader_refuses(validator: Draft202012Validator) -> None:
    document: dict[str, Any] = json.loads(render_json(mixed_plan()))
    document["changes"][0]["action"] = "destroy"
    document["format_version"] = 1
    document["extra"] = True
    assert len(list(validator.iter_errors(document))) == 3


@pytest.mark.parametrize("plan", ALL_PLANS)
def test_round_trip(plan: Plan) -> None:
    assert plan_from_dict(json.loads(render_json(plan))) == plan


def test_summary_and_digest() -> None:
    plan = mixed_plan()
    document = json.loads(render_json(plan))
    assert document["summary"] == {
        "adopt": 0,
        "create": 3,
        "update": 2,
        "attach": 2,
        "detach": 1,
        "delete": 2,
        "total": 10,
        "deleted_resources": 4,
        "notices": 1,
    }
    assert document["digest"] == plan_digest(plan)


def test_key_order_is_the_documented_one() -> None:
    document = json.loads(render_json(mixed_plan()))
    assert list(document) == [
        "format_version",
        "stack",
        "target",
        "prune",
        "max_delete_percent",
        "owned_resources",
        "live_fingerprint",
        "redacted",
        "scope",
        "reads",
        "block_policies",
        "digest",
        "summary",
        "changes",
        "notices",
    ]
    orders = {tuple(change) for change in document["changes"]}
    assert orders == {
        ("action", "kind", "pattern", "address", "body", "links"),
        ("action", "kind", "pattern", "address", "resource_id", "fields", "body"),
        ("action", "kind", "pattern", "address", "agent"),
        ("action", "kind", "pattern", "address", "agent", "resource_id"),
        ("action", "kind", "pattern", "address", "resource_id", "reason", "owned_children", "tags"),
    }


def test_changes_keep_the_plans_apply_order() -> None:
    plan = mixed_plan()
    addresses = [c["address"] for c in json.loads(render_json(plan))["changes"]]
    assert addresses == [str(c.address) for c in plan.changes]


def reverse_keys(value: Any) -> Any:
    """The same JSON value with every object's keys inserted in reverse order."""
    if isinstance(value, dict):
        return {key: reverse_keys(value[key]) for key in reversed(value)}
    if isinstance(value, list):
        return [reverse_keys(item) for item in value]
    return value


def test_output_does_not_depend_on_key_order_in_manifests_or_server_answers(
    tmp_path: Path,
) -> None:
    source = SAMPLES_DIR / "mixed"
    manifest = yaml.safe_load((source / "desired.yaml").read_text(encoding="utf-8"))
    live = json.loads((source / "live.json").read_text(encoding="utf-8"))
    (tmp_path / "desired.yaml").write_text(
        yaml.safe_dump(reverse_keys(manifest), sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    (tmp_path / "live.json").write_text(json.dumps(reverse_keys(live)), encoding="utf-8")
    plan, other = mixed_plan(), plan_case(tmp_path, target=TARGET)
    assert other == plan
    assert repr(other) != repr(plan), "some mapping in the plan must keep the reversed order"
    assert render_json(other) == render_json(plan)
    assert plan_digest(other) == plan_digest(plan)
