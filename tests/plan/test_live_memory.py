"""What the live state keeps of the server's answers: values that repeat across thousands
of resources (system prompts, tags, labels, a shared agent's id) are held once, and live
values carry no per-instance dictionary."""

from __future__ import annotations

import json
from typing import Any

from reconciler.kinds import agent, block, conversation
from reconciler.kinds.agent_record import SHAPE as AGENT
from reconciler.live.state import LiveAgent, LiveBlock, LiveConversation, LiveIdentity

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
