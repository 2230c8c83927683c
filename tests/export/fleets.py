"""Snapshots of servers, written as the server's JSON answers and read through the same
functions that read them from the server."""

from __future__ import annotations

from typing import Any

from reconciler.kinds import agent, identity
from reconciler.kinds.agent_record import SHAPE as AGENT
from reconciler.live.state import LiveAgent, LiveIdentity

MODEL = "letta/letta-free"
BASE_TOOLS = [
    {"id": "tool-search", "name": "conversation_search", "tool_type": "letta_core"},
    {"id": "tool-insert", "name": "memory_insert", "tool_type": "letta_sleeptime_core"},
    {"id": "tool-replace", "name": "memory_replace", "tool_type": "letta_sleeptime_core"},
]
"""Tools the server gives every agent (made without `include_base_tools: false`)."""


def block(block_id: str, label: str, value: str, **extra: Any) -> dict[str, Any]:
    fields = {"limit": 5000, "tags": [], "metadata": {}, **extra}
    return {"id": block_id, "label": label, "value": value, **fields}


def server_agent(
    agent_id: str,
    name: str,
    blocks: list[dict[str, Any]],
    tags: list[str] = (),
    **extra: Any,  # type: ignore[assignment]
) -> LiveAgent:
    raw = {
        "id": agent_id,
        "name": name,
        "created_at": f"2026-01-01T00:00:{len(agent_id) % 60:02d}",
        "model": MODEL,
        "embedding": MODEL,
        "system": "You are helpful.",
        "tags": list(tags),
        "metadata": {},
        "blocks": blocks,
        "tools": BASE_TOOLS,
        **extra,
    }
    return agent.from_server(AGENT.parse(raw, "test"), "")


def server_identity(identity_id: str, key: str, name: str, **properties: Any) -> LiveIdentity:
    listed = [{"key": k, "value": v, "type": "string"} for k, v in properties.items()]
    raw = {
        "id": identity_id,
        "identifier_key": key,
        "name": name,
        "identity_type": "user",
        "properties": listed,
    }
    return identity.from_server(identity.SHAPE.parse(raw, "test"), "")


def dedicated(user: str, name: str, human: str, **extra: Any) -> LiveAgent:
    blocks = [
        block(f"b-{user}-persona", "persona", "I am a personal assistant."),
        block(f"b-{user}-human", "human", human),
    ]
    return server_agent(f"agent-{user}", name, blocks, [f"user:{user}"], **extra)
