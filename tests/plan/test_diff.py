"""Field comparison: numbers as numbers, nested mappings by their exact key, lists as values
(in order, or as collections for the fields whose order means nothing)."""

from __future__ import annotations

from reconciler.plan.diff import field_changes
from reconciler.plan.model import FieldChange
from reconciler.values import Frozen, freeze


def test_an_int_and_the_same_float_are_the_same_value() -> None:
    assert field_changes({"limit": 1}, {"limit": 1.0}) == ()
    assert field_changes({"m": {"a": 1, "b": 2}}, {"m": {"a": 1.0, "b": 2}}) == ()
    assert field_changes({"m": [1, 2.5]}, {"m": [1.0, 2.5]}) == ()


def test_only_the_nested_key_that_changed_is_reported() -> None:
    assert field_changes({"m": {"a": 1, "b": 2}}, {"m": {"a": 1.0, "b": 3}}) == (
        FieldChange("m.b", 2, 3),
    )


def test_a_number_is_not_a_bool_nor_a_string() -> None:
    assert field_changes({"flag": 1}, {"flag": True}) == (FieldChange("flag", 1, True),)
    assert field_changes({"m": {"flag": 0}}, {"m": {"flag": False}}) == (
        FieldChange("m.flag", 0, False),
    )
    assert field_changes({"n": "1"}, {"n": 1}) == (FieldChange("n", "1", 1),)


def test_nested_metadata_names_the_full_path_of_each_change() -> None:
    current = {"metadata": {"plan": {"tier": "pro", "seats": 5}, "region": "eu", "old": 1}}
    desired = {"metadata": {"plan": {"tier": "team", "seats": 5.0}, "region": "eu", "new": 2}}
    assert field_changes(current, desired) == (
        FieldChange("metadata.new", None, 2),
        FieldChange("metadata.old", 1, None),
        FieldChange("metadata.plan.tier", "pro", "team"),
    )


def test_a_mapping_replacing_another_value_is_one_change() -> None:
    assert field_changes({"m": None}, {"m": {"a": 1}}) == (
        FieldChange("m", None, Frozen({"a": 1})),
    )
    assert field_changes({"m": {"a": "x"}}, {"m": {"a": {"b": 1}}}) == (
        FieldChange("m.a", "x", Frozen({"b": 1})),
    )


def test_a_change_inside_a_list_is_a_change_of_the_whole_list() -> None:
    current = {"m": {"rules": [{"tool": "a", "max": 1}, {"tool": "b"}]}}
    desired = {"m": {"rules": [{"tool": "a", "max": 2}, {"tool": "b", "x": 1}]}}
    assert field_changes(current, desired) == (
        FieldChange(
            "m.rules",
            freeze(current["m"]["rules"]),
            freeze(desired["m"]["rules"]),
        ),
    )


def test_list_order_matters_unless_the_field_is_a_collection() -> None:
    current, desired = {"tags": ["a", "b"], "args": ["-v", "x"]}, {"tags": ["b", "a"]}
    assert field_changes(current, desired) == (FieldChange("tags", ("a", "b"), ("b", "a")),)
    assert field_changes(current, desired, unordered=("tags",)) == ()
    assert field_changes(current, {"args": ["x", "-v"]}, unordered=("tags",)) == (
        FieldChange("args", ("-v", "x"), ("x", "-v")),
    )


def test_a_collection_still_sees_members_come_and_go() -> None:
    changed = field_changes({"tags": ["a", "b"]}, {"tags": ["c", "a"]}, unordered=("tags",))
    assert changed == (FieldChange("tags", ("a", "b"), ("c", "a")),)
    nested = field_changes({"m": {"ids": [1, 2]}}, {"m": {"ids": [2.0, 1]}}, unordered=("m",))
    assert nested == ()


def test_only_declared_fields_are_compared_and_frozen_values_are_read() -> None:
    current = freeze({"name": "x", "metadata": {"a": [1]}, "other": 1})
    assert field_changes(current, {"metadata": {"a": [1.0]}}) == ()
    assert field_changes(current, {"name": "y"}) == (FieldChange("name", "x", "y"),)
    assert field_changes({}, {"name": "y"}) == (FieldChange("name", None, "y"),)
