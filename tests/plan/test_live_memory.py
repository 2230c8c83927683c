"""What the live state keeps of the server's answers: values that repeat across thousands
of resources (system prompts, tags, labels, a shared agent's id, whole settings) are held
once, live values carry no per-instance dictionary, and a listing's pages are let go of as
their records are converted."""

from __future__ import annotations

import gc
import json
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.client import LettaApi, Target
from reconciler.kinds import agent, block, conversation
from reconciler.kinds.agent_record import SHAPE as AGENT
from reconciler.live.state import (
    LiveAgent,
    LiveBlock,
    LiveConversation,
    LiveIdentity,
    LiveState,
    Walked,
)
from reconciler.values import EMPTY, canonical, freeze, shared

STACK = "acme"
SYSTEM = "You are a helpful assistant. " * 40


def _agent_json(n: int) -> str:
    """An agent as the server lists it; parsed separately, so no string is shared yet."""
    return json.dumps(
        {
            "id": f"agent-{n}",
            "name": f"assistant-{n}",
            "created_at": "2026-01-01T00:00:00Z",
            "system": SYSTEM,
            "tags": ["letta-apply:acme", "tier:premium", f"user:u{n}"],
            "metadata": {"letta_apply": {"stack": STACK, "address": f"agent/user:u{n}"}},
            "blocks": [
                {
                    "id": f"block-{n}",
                    "label": "human",
                    "value": f"User {n}",
                    "description": "The human block: what the agent knows of its user.",
                    "tags": ["letta-apply:acme"],
                    "metadata": {},
                }
            ],
        }
    )


def _parsed(n: int) -> Any:
    return AGENT.parse(json.loads(_agent_json(n)), "test")


def test_strings_repeated_across_agents_are_held_once() -> None:
    first, second = (agent.from_server(_parsed(n), STACK) for n in (1, 2))
    assert first.settings["system"] is second.settings["system"]
    assert first.tags[0] is second.tags[0] and first.tags[1] is second.tags[1]
    assert first.metadata["letta_apply"]["stack"] is second.metadata["letta_apply"]["stack"]
    one, two = first.blocks[0], second.blocks[0]
    assert one.label is two.label and one.description is two.description
    assert one.value == "User 1" and two.value == "User 2"


def test_conversations_on_one_agent_share_its_id() -> None:
    raw = [
        json.loads(
            json.dumps(
                {
                    "id": f"conv-{n}",
                    "agent_id": "agent-shared",
                    "summary": f"Chat [letta-apply:{STACK}/u{n}]",
                    "created_at": "2026-01-01",
                }
            )
        )
        for n in (1, 2)
    ]
    first, second = (
        conversation.from_server(conversation.SHAPE.parse(r, "test"), STACK) for r in raw
    )
    assert first is not None and second is not None
    assert first.agent_id is second.agent_id
    assert (first.user_id, second.user_id) == ("u1", "u2")


def test_live_values_have_no_instance_dictionary() -> None:
    live = agent.from_server(_parsed(1), STACK)
    values = (
        live,
        live.blocks[0],
        block.from_server(_parsed(2)["blocks"][0], STACK),
    )
    for value in values:
        assert not hasattr(value, "__dict__"), type(value).__name__
    for cls in (LiveAgent, LiveBlock, LiveConversation, LiveIdentity):
        assert "__slots__" in vars(cls), cls.__name__


def test_agents_with_equal_settings_hold_one_mapping_of_them() -> None:
    first, second = (agent.from_server(_parsed(n), STACK) for n in (1, 2))
    assert first.settings is second.settings
    assert first.blocks[0].metadata is second.blocks[0].metadata is EMPTY


def test_shared_values_are_the_frozen_values() -> None:
    value = {"b": [1, {"c": None}], "a": {"x": 1.5, "y": True}, "s": "text"}
    made = shared(json.loads(json.dumps(value)))
    assert made == freeze(value) and canonical(made) == canonical(freeze(value))
    assert made is shared(json.loads(json.dumps(value)))
    assert made["a"] is shared({"x": 1.5, "y": True})
    assert shared({}) is EMPTY


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({"n": 1}, {"n": 1.0}),
        ({"n": 1}, {"n": True}),
        ({"n": 0.0}, {"n": -0.0}),
        ({"n": None}, {"n": "None"}),
        ({"n": "1"}, {"n": 1}),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}),
        ({"l": [1, 2]}, {"l": [2, 1]}),
        ({"l": [[1]]}, {"l": [1]}),
        ({"m": {}}, {"m": []}),
    ],
)
def test_values_written_out_differently_are_never_shared(
    one: dict[str, object], other: dict[str, object]
) -> None:
    first, second = shared(one), shared(other)
    assert first is not second
    assert list(first) == list(one) and list(second) == list(other)
    assert canonical(first) == canonical(freeze(one))
    assert canonical(second) == canonical(freeze(other))


def test_a_shared_value_nothing_holds_is_let_go() -> None:
    made = shared({"only": "here", "nested": {"deep": [1]}})
    gone = weakref.ref(made)
    del made
    gc.collect()
    assert gone() is None


def test_listing_pages_let_go_of_each_record_once_handed_over() -> None:
    """A page of records is not held while its records are converted."""
    pages = [[{"id": f"a{n}"} for n in range(3)], [{"id": "a3"}]]
    seen: list[list[dict[str, str]]] = []

    class Api(LettaApi):
        def get(self, path: str, params: object = None, *, address: str = "") -> object:
            page = pages.pop(0)
            seen.append(page)
            return page

    ids = []
    for record in Api(Target("http://127.0.0.1:1")).paginate("/v1/agents/", page_size=3):
        ids.append(record["id"])
        assert record not in seen[-1]
    assert ids == ["a0", "a1", "a2", "a3"]


def test_a_walked_mapping_is_the_dictionary_of_its_pairs() -> None:
    calls = []

    def pairs() -> Iterator[tuple[str, int]]:
        calls.append(1)
        yield from (("b", 2), ("a", 1), ("c", 3))

    walked = Walked(pairs)
    made = {"b": 2, "a": 1, "c": 3}
    assert list(walked) == list(made) and list(walked.items()) == list(made.items())
    assert list(walked.values()) == list(made.values()) and len(walked) == 3
    assert walked == made and dict(walked) == made
    before = len(calls)
    assert walked["a"] == 1 and walked.get("z") is None and "c" in walked
    assert ("a", 1) in walked.items() and 3 in walked.values()
    assert len(calls) == before + 1  # lookups made the dictionary once


def test_the_agents_owned_resources_are_walked_not_held() -> None:
    first, second = (agent.from_server(_parsed(n), STACK) for n in (1, 2))
    live = LiveState(
        STACK,
        {
            agent.KIND: agent.Agents((first, second)),
            block.KIND: block.Blocks(tagged=frozenset({"block-1", "block-2"})),
        },
    )
    owned = agent.owned(live)
    assert isinstance(owned, Walked)
    assert {str(a): [r.id for r in group] for a, group in owned.items()} == {
        "agent/user:u1": ["agent-1"],
        "agent/user:u2": ["agent-2"],
        "block/user:u1/human": ["block-1"],
        "block/user:u2/human": ["block-2"],
    }
    assert dict(agent.deleted_with(live)) == {
        "agent-1": frozenset({"block-1"}),
        "agent-2": frozenset({"block-2"}),
    }
