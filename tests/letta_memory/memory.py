"""Memory blocks and conversations, as Letta 0.16.8 keeps and answers them.

- Blocks: listed oldest first by default, filtered by exact `label` and any of `tags`; an
  update replaces `tags` and `metadata` whole; a deleted block is gone from the agents holding
  it.
- Conversations: listed newest first by default, by `agent_id` (all of them without it), with
  `summary_search` a case-sensitive substring of the summary; created with `agent_id` in the
  query and `summary` in the body (`description` and `archived` are accepted, not kept).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from tests.letta_memory.store import Query, Record, Refused, copied, last, tags_match

if TYPE_CHECKING:
    from tests.letta_memory.server import MemoryLetta

BLOCK_FIELDS = ("label", "value", "limit", "description", "read_only", "tags", "metadata")


def new_block(s: MemoryLetta, body: dict[str, Any]) -> Record:
    if not isinstance(body.get("label"), str) or not isinstance(body.get("value"), str):
        raise Refused(422, "label and value: Field required")
    fields = {key: copied(body[key]) for key in BLOCK_FIELDS if key in body}
    return s.new(
        s.blocks,
        {
            "limit": 100000,
            "description": None,
            "read_only": False,
            "hidden": None,
            "is_template": False,
            **fields,
            "tags": list(body.get("tags") or ()),
            "metadata": copied(body.get("metadata") or {}),
        },
    )


def list_blocks(s: MemoryLetta, _m: re.Match[str], query: Query, _b: Any) -> Any:
    if s.unlisted:
        return []
    label = last(query, "label")

    def keep(block: Record) -> bool:
        return (label is None or block["label"] == label) and tags_match(query, block["tags"])

    return [copied(b) for b in s.blocks.page(query, keep)]


def get_block(s: MemoryLetta, m: re.Match[str], _q: Query, _b: Any) -> Any:
    return copied(s.blocks.get(m[1]))


def create_block(s: MemoryLetta, _m: re.Match[str], _q: Query, body: Any) -> Any:
    return copied(new_block(s, body))


def update_block(s: MemoryLetta, m: re.Match[str], _q: Query, body: Any) -> Any:
    block = s.blocks.get(m[1])
    block.update({key: copied(body[key]) for key in BLOCK_FIELDS if key in body})
    return copied(block)


def delete_block(s: MemoryLetta, m: re.Match[str], _q: Query, _b: Any) -> Any:
    s.blocks.remove(m[1])
    for agent in s.agents.rows.values():
        if m[1] in agent["block_ids"]:
            agent["block_ids"].remove(m[1])
    return None


def list_conversations(s: MemoryLetta, _m: re.Match[str], query: Query, _b: Any) -> Any:
    agent_id = last(query, "agent_id")
    search = last(query, "summary_search")

    def keep(conversation: Record) -> bool:
        if agent_id is not None and conversation["agent_id"] != agent_id:
            return False
        return search is None or search in (conversation["summary"] or "")

    return [copied(c) for c in s.conversations.page(query, keep)]


def get_conversation(s: MemoryLetta, m: re.Match[str], _q: Query, _b: Any) -> Any:
    return copied(s.conversations.get(m[1]))


def create_conversation(s: MemoryLetta, _m: re.Match[str], query: Query, body: Any) -> Any:
    agent_id = last(query, "agent_id") or ""
    s.agents.get(agent_id)
    fields = {
        "agent_id": agent_id,
        "summary": (body or {}).get("summary"),
        "last_message_at": None,
        "in_context_message_ids": [],
        "isolated_block_ids": [],
        "model": None,
    }
    return copied(s.new(s.conversations, fields))


def update_conversation(s: MemoryLetta, m: re.Match[str], _q: Query, body: Any) -> Any:
    conversation = s.conversations.get(m[1])
    if "summary" in body:
        conversation["summary"] = body["summary"]
    return copied(conversation)


def delete_conversation(s: MemoryLetta, m: re.Match[str], _q: Query, _b: Any) -> Any:
    s.conversations.remove(m[1])
    return None


def recompile(s: MemoryLetta, m: re.Match[str], _q: Query, _b: Any) -> Any:
    conversation = s.conversations.get(m[1])
    agent = s.agents.get(conversation["agent_id"])
    return f"{agent['system']}\n<memory>{len(agent['block_ids'])} blocks</memory>"


ROUTES = (
    ("GET", r"/v1/blocks", list_blocks),
    ("POST", r"/v1/blocks", create_block),
    ("GET", r"/v1/blocks/([^/]+)", get_block),
    ("PATCH", r"/v1/blocks/([^/]+)", update_block),
    ("DELETE", r"/v1/blocks/([^/]+)", delete_block),
    ("GET", r"/v1/conversations", list_conversations),
    ("POST", r"/v1/conversations", create_conversation),
    ("GET", r"/v1/conversations/([^/]+)", get_conversation),
    ("PATCH", r"/v1/conversations/([^/]+)", update_conversation),
    ("DELETE", r"/v1/conversations/([^/]+)", delete_conversation),
    ("POST", r"/v1/conversations/([^/]+)/recompile", recompile),
)
