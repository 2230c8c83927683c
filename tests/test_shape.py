"""The check of a server record's shape, as a kind declares it: required and optional keys,
types (null only where declared), lists and nested records item by item, and one line naming
the route and where in the answer the first problem is."""

from __future__ import annotations

from typing import NotRequired, TypedDict

import pytest

from reconciler.errors import UnexpectedAnswer
from reconciler.shape import Shape


class Inner(TypedDict):
    name: str
    size: NotRequired[int | None]


class Record(TypedDict):
    id: str
    ratio: NotRequired[float]
    flag: NotRequired[bool | None]
    items: NotRequired[list[Inner]]
    labels: NotRequired[dict[str, str] | None]
    anything: NotRequired[object]


SHAPE = Shape(Record)
ROUTE = "GET /v1/things/"


def test_a_record_of_the_declared_shape_comes_back_itself_not_a_copy() -> None:
    raw = {
        "id": "t-1",
        "ratio": 1,
        "flag": None,
        "items": [{"name": "a", "size": None}, {"name": "b"}],
        "labels": {"k": "v"},
        "anything": [1, {"x": None}],
        "unread": "kept as it is",
    }
    assert SHAPE.parse(raw, ROUTE) is raw


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({}, "the server's answer has no `id`"),
        ([], "the server's answer is a list, not an object"),
        (None, "the server's answer is null, not an object"),
        ({"id": 7}, "`id` in the server's answer is a number, not a string"),
        ({"id": "t", "ratio": "1"}, "`ratio` in the server's answer is a string, not a number"),
        ({"id": "t", "flag": 0}, "`flag` in the server's answer is a number, not true or false"),
        ({"id": "t", "items": None}, "`items` in the server's answer is null, not a list"),
        ({"id": "t", "items": [{"name": "a"}, {}]}, "the server's answer has no `items[1].name`"),
        (
            {"id": "t", "items": [{"name": "a", "size": True}]},
            "`items[0].size` in the server's answer is true or false, not a whole number",
        ),
        (
            {"id": "t", "items": ["a"]},
            "`items[0]` in the server's answer is a string, not an object",
        ),
        (
            {"id": "t", "labels": {"k": ["v"]}},
            "`labels.k` in the server's answer is a list, not a string",
        ),
    ],
)
def test_what_does_not_fit_is_one_line_naming_route_and_field(raw: object, problem: str) -> None:
    with pytest.raises(UnexpectedAnswer) as raised:
        SHAPE.parse(raw, ROUTE)
    assert (
        str(raised.value) == f"{ROUTE}: {problem}; is this the Letta version letta-apply supports?"
    )


def test_the_answer_for_one_resource_is_reported_under_its_address() -> None:
    with pytest.raises(UnexpectedAnswer) as raised:
        SHAPE.parse({}, "POST /v1/things/", "thing/one")
    assert raised.value.address == "thing/one"
    assert str(raised.value).startswith("thing/one: POST /v1/things/: the server's answer has no")


def test_a_list_answer_is_checked_item_by_item() -> None:
    assert SHAPE.parse_all([{"id": "a"}, {"id": "b"}], ROUTE) == [{"id": "a"}, {"id": "b"}]
    with pytest.raises(UnexpectedAnswer, match="the server's answer is an object, not a list"):
        SHAPE.parse_all({"id": "a"}, ROUTE)


def test_a_declaration_no_check_can_follow_is_refused_when_first_used() -> None:
    class Odd(TypedDict):
        tags: set[str]

    with pytest.raises(TypeError, match="no shape check"):
        Shape(Odd).parse({"tags": []}, ROUTE)
