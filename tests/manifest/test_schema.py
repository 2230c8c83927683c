"""The schema itself: valid 2020-12, shipped in the package, and users judged by its
compiled check exactly as jsonschema judges them, without jsonschema for well-formed ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from reconciler.errors import Location
from reconciler.manifest import manifest_schema, schema
from reconciler.manifest.marked import mark_plain
from reconciler.manifest.problems import Problems
from reconciler.manifest.users import parse_user

CANONICAL = Path(__file__).parents[2] / "schemas" / "manifest.schema.json"
HERE = Location("users.jsonl", 1, 1)


def test_schema_is_valid_against_the_2020_12_metaschema() -> None:
    schema = json.loads(CANONICAL.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_packaged_schema_is_the_canonical_file() -> None:
    assert manifest_schema() == json.loads(CANONICAL.read_text())


USERS: list[Any] = [
    {"id": "alice", "pattern": "dedicated"},
    {"id": "a.b@c+d-e_f", "pattern": "shared", "agent": "support", "name": "A"},
    {"id": "x", "pattern": "identity", "agent": "s", "properties": {"k": 1, "b": True}},
    {"id": "x", "pattern": "dedicated", "tags": ["a", "b"], "protected": True},
    {"id": "x", "pattern": "dedicated", "template": "t-1"},
    {"id": "", "pattern": "dedicated"},
    {"id": "-x", "pattern": "dedicated"},
    {"id": "a/b", "pattern": "dedicated"},
    {"id": "x" * 129, "pattern": "dedicated"},
    {"id": 7, "pattern": "dedicated"},
    {"id": "x"},
    {"pattern": "shared"},
    {"id": "x", "pattern": "solo"},
    {"id": "x", "pattern": "dedicated", "name": ""},
    {"id": "x", "pattern": "dedicated", "name": 3},
    {"id": "x", "pattern": "dedicated", "template": "a.b"},
    {"id": "x", "pattern": "shared", "agent": ""},
    {"id": "x", "pattern": "dedicated", "tags": "a"},
    {"id": "x", "pattern": "dedicated", "tags": [""]},
    {"id": "x", "pattern": "dedicated", "tags": [1]},
    {"id": "x", "pattern": "dedicated", "protected": "yes"},
    {"id": "x", "pattern": "dedicated", "properties": {"1a": "v"}},
    {"id": "x", "pattern": "dedicated", "properties": {"k": None}},
    {"id": "x", "pattern": "dedicated", "properties": {"k": [1]}},
    {"id": "x", "pattern": "dedicated", "properties": []},
    {"id": "x", "pattern": "dedicated", "extra": 1},
    ["not", "a", "mapping"],
]


@pytest.mark.parametrize("raw", USERS)
def test_users_are_judged_exactly_as_the_schema_judges_them(raw: Any) -> None:
    user_schema = {**manifest_schema(), "$ref": "#/$defs/user"}
    for key in ("properties", "required", "additionalProperties", "type"):
        user_schema.pop(key)
    expected = Draft202012Validator(user_schema).is_valid(raw)
    problems = Problems()
    parsed = parse_user(mark_plain(raw, HERE), "user", HERE, problems)
    assert (parsed is not None) == expected
    assert bool(problems) != expected


@pytest.mark.parametrize("raw", USERS[:5])
def test_well_formed_users_skip_jsonschema(raw: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> bool:
        raise AssertionError("jsonschema was used for a well-formed user")

    monkeypatch.setattr(schema, "_validator", refuse)
    assert parse_user(mark_plain(raw, HERE), "user", HERE, Problems()) is not None


@pytest.mark.parametrize(
    ("where", "name"),
    [
        (schema.KEY, "support-2"),
        (schema.LABEL, "_persona"),
        (schema.TIMEZONE, "America/Argentina/Buenos_Aires"),
        (schema.TOOL_NAME, "lookup_order"),
        (schema.TOOL_REFERENCE, "orders/lookup-order"),
        (schema.USER_ID, "a.b@c+d-e_f"),
        (schema.PROPERTY_KEY, "plan-tier"),
    ],
)
def test_names_checked_outside_jsonschema_follow_the_schema(
    where: tuple[str, ...], name: str
) -> None:
    """Export and the variables parser check names with the schema's own patterns: what they
    accept, a manifest accepts; a final line break, which `$` alone lets through, is refused."""
    assert schema.fits(where, name)
    assert not schema.fits(where, name + "\n")
    assert not schema.fits(where, " " + name)
    assert not schema.fits(where, None)
