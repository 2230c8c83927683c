"""Agents, as Letta 0.16.8 keeps and answers them.

- Listings and reads carry no relationships unless `include` asks: tags, blocks, identities,
  tools, secrets and the managed group come back empty (`[]`, `None`) without their include.
  Creates, updates and attaches answer with every relationship.
- Blocks inside an agent carry no tags (only the block listing and the agent's core memory do);
  blocks made from `memory_blocks` keep their tags but not their metadata.
- `tags` (a set, answered in no particular order), `metadata` and `secrets` are replaced
  whole by an update; a new model handle resets
  the settings the server derives from it.
- Deleting an agent deletes its conversations and its sleep-time agents, and leaves its memory
  blocks behind.
- `enable_sleeptime` makes `<name>-sleeptime`, sharing the agent's blocks plus one of its own,
  in a managed group of type `sleeptime`; switching it off leaves both in place.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from tests.letta_memory.memory import new_block
from tests.letta_memory.store import Query, Record, Refused, copied, last, tags_match

if TYPE_CHECKING:
    from tests.letta_memory.server import MemoryLetta

SYSTEM = "<base_instructions>\nYou are a helpful self-improving agent.\n</base_instructions>"
CONTEXT_WINDOW = 30000
BASE_TOOLS = ("conversation_search", "memory_insert", "memory_replace")


def model_settings(given: dict[str, Any] | None = None) -> dict[str, Any]:
    """The server's model settings: typed by provider, every field filled with its default."""
    return {
        "max_output_tokens": 4096,
        "parallel_tool_calls": True,
        "provider_type": "openai",
        "reasoning": {"reasoning_effort": "minimal"},
        "response_format": None,
        "strict": False,
        "temperature": 1.0,
        **(given or {}),
    }


def compaction_settings(given: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "clip_chars": 50000,
        "mode": "sliding_window",
        "model": "letta/auto",
        "model_settings": None,
        "prompt": "The following messages are being evicted from your context window.",
        "sliding_window_percentage": 0.3,
        **(given or {}),
    }


def _unordered(tags: Any) -> list[str]:
    """Tags as the server keeps them: a set, answered in no order of the request's (here the
    reverse of the sorted order, so that no reader relies on an order)."""
    return sorted(set(tags or ()), reverse=True)


def _check_handle(s: MemoryLetta, handle: Any) -> None:
    if handle not in s.handles:
        raise Refused(
            404, f"NOT_FOUND: Handle {handle} not found, must be one of {list(s.handles)}"
        )


def new_agent(s: MemoryLetta, body: dict[str, Any]) -> Record:
    """An agent from a create request's body."""
    if not isinstance(body.get("name"), str):
        raise Refused(422, "name: Field required")
    for handle in (body.get("model"), body.get("embedding")):
        _check_handle(s, handle)
    block_ids = [s.blocks.get(str(i))["id"] for i in body.get("block_ids") or ()]
    for spec in body.get("memory_blocks") or ():
        made = {**spec, "metadata": {}}  # the server drops the metadata of memory blocks
        block_ids.append(new_block(s, made)["id"])
    tool_ids = [s.tools.get(str(i))["id"] for i in body.get("tool_ids") or ()]
    if body.get("include_base_tools", True):
        base = (t for t in s.tools.rows.values() if t["name"] in BASE_TOOLS)
        tool_ids += [t["id"] for t in base if t["id"] not in tool_ids]
    fields = {
        key: value
        for key, value in body.items()
        if key not in ("memory_blocks", "block_ids", "tool_ids", "include_base_tools", "secrets")
    }
    agent = s.new(
        s.agents,
        {
            "agent_type": "letta_v1_agent",
            "system": SYSTEM,
            "description": None,
            "timezone": "UTC",
            "metadata": None,
            "tool_rules": [],
            "enable_sleeptime": None,
            "last_run_completion": None,
            **fields,
            "tags": _unordered(body.get("tags")),
            "llm_config": {"handle": body["model"], "context_window": CONTEXT_WINDOW},
            "embedding_config": {"handle": body["embedding"], "embedding_dim": 1536},
            "model_settings": model_settings(),
            "compaction_settings": compaction_settings(body.get("compaction_settings")),
            "block_ids": block_ids,
            "tool_ids": tool_ids,
            "identity_ids": [],
            "secrets": _secrets(s, body.get("secrets")),
            "group": None,
        },
    )
    if "context_window_limit" in body:
        agent["llm_config"]["context_window"] = body["context_window_limit"]
    if body.get("enable_sleeptime"):
        _add_companion(s, agent)
    return agent


def _secrets(s: MemoryLetta, given: Any) -> list[Record]:
    if not isinstance(given, dict):
        return []
    return [
        {"id": s.clock.stamp("agent-env")[0], "key": key, "value": value, "value_enc": value}
        for key, value in given.items()
    ]


def _add_companion(s: MemoryLetta, agent: Record) -> None:
    if agent["group"] is not None:
        return
    own = new_block(s, {"label": "memory_persona", "value": "I manage the memory of an agent."})
    companion = s.new(
        s.agents,
        {
            **{k: copied(v) for k, v in agent.items() if k not in ("id", "created_at")},
            "name": f"{agent['name']}-sleeptime",
            "agent_type": "sleeptime_agent",
            "tags": [],
            "metadata": None,
            "enable_sleeptime": None,
            "block_ids": [*agent["block_ids"], own["id"]],
            "tool_ids": [],
            "secrets": [],
            "group": None,
        },
    )
    group_id = s.clock.stamp("group")[0]
    agent["group"] = {
        "id": group_id,
        "manager_type": "sleeptime",
        "agent_ids": [companion["id"]],
        "manager_agent_id": agent["id"],
        "shared_block_ids": [],
        "sleeptime_agent_frequency": 5,
    }


def view(s: MemoryLetta, agent: Record, include: set[str] | None) -> Record:
    """The agent as answered: relationships only as `include` asks (None: all of them)."""

    def wants(name: str) -> bool:
        return include is None or f"agent.{name}" in include

    hidden = ("block_ids", "tool_ids", "identity_ids", "group", "tags", "secrets")
    answer = {k: copied(v) for k, v in agent.items() if k not in hidden}
    blocks = [_inside(s.blocks.rows[i]) for i in agent["block_ids"] if i in s.blocks.rows]
    identities = [s.identities.rows[i] for i in agent["identity_ids"] if i in s.identities.rows]
    answer.update(
        tags=list(agent["tags"]) if wants("tags") else [],
        blocks=blocks if wants("blocks") else [],
        memory={"agent_type": agent["agent_type"], "blocks": blocks if wants("blocks") else []},
        tools=[copied(s.tools.rows[i]) for i in agent["tool_ids"] if i in s.tools.rows]
        if wants("tools")
        else [],
        identity_ids=[i["id"] for i in identities] if wants("identities") else [],
        identities=copied(identities) if wants("identities") else [],
        secrets=copied(agent["secrets"]) if wants("secrets") else [],
        managed_group=copied(agent["group"]) if wants("managed_group") else None,
        multi_agent_group=copied(agent["group"]) if wants("managed_group") else None,
        sources=[],
    )
    return answer


def _inside(block: Record) -> Record:
    """A block as an agent's answer holds it: without its tags."""
    return {**copied(block), "tags": []}


def _include(query: Query) -> set[str]:
    return set(query.get("include") or ())


# Routes -----------------------------------------------------------------------------------------


def list_agents(s: MemoryLetta, _m: re.Match[str], query: Query, _b: Any) -> Any:
    name = last(query, "name")
    keys = set(query.get("identifier_keys") or ())

    def keep(agent: Record) -> bool:
        if name is not None and agent["name"] != name:
            return False
        if keys and not keys & {
            s.identities.rows[i]["identifier_key"]
            for i in agent["identity_ids"]
            if i in s.identities.rows
        }:
            return False
        return tags_match(query, agent["tags"])

    return [view(s, a, _include(query)) for a in s.agents.page(query, keep)]


def get_agent(s: MemoryLetta, m: re.Match[str], query: Query, _b: Any) -> Any:
    return view(s, s.agents.get(m[1]), _include(query))


def create_agent(s: MemoryLetta, _m: re.Match[str], _q: Query, body: Any) -> Any:
    return view(s, new_agent(s, body), None)


def update_agent(s: MemoryLetta, m: re.Match[str], _q: Query, body: Any) -> Any:
    agent = s.agents.get(m[1])
    if "model" in body:
        _check_handle(s, body["model"])
        agent["llm_config"] = {"handle": body["model"], "context_window": CONTEXT_WINDOW}
        agent["model_settings"] = model_settings()
        agent["compaction_settings"] = compaction_settings()
    if "embedding" in body:
        _check_handle(s, body["embedding"])
        agent["embedding_config"] = {"handle": body["embedding"], "embedding_dim": 1536}
    for key, value in body.items():
        match key:
            case "tags":
                agent["tags"] = _unordered(value)
            case "secrets":
                agent["secrets"] = _secrets(s, value)
            case "context_window_limit":
                agent["llm_config"]["context_window"] = value
            case "model_settings":
                agent["model_settings"] = model_settings(value)
            case "compaction_settings":
                agent["compaction_settings"] = compaction_settings(value)
            case _:
                agent[key] = copied(value)
    if body.get("enable_sleeptime"):
        _add_companion(s, agent)
    agent["updated_at"] = s.clock.stamp("update")[1]
    return view(s, agent, None)


def delete_agent(s: MemoryLetta, m: re.Match[str], _q: Query, _b: Any) -> Any:
    agent = s.agents.remove(m[1])
    for companion in (agent["group"] or {}).get("agent_ids", ()):
        s.agents.rows.pop(companion, None)
    for conversation in [c for c in s.conversations.rows.values() if c["agent_id"] == m[1]]:
        s.conversations.remove(conversation["id"])
    return {"message": f"Agent id={m[1]} successfully deleted"}


def core_memory(s: MemoryLetta, m: re.Match[str], _q: Query, _b: Any) -> Any:
    agent = s.agents.get(m[1])
    return [copied(s.blocks.rows[i]) for i in agent["block_ids"] if i in s.blocks.rows]


LINK = r"/v1/agents/([^/]+)/(core-memory/blocks|tools|identities)/(attach|detach)/([^/]+)"
LINKS = {"core-memory/blocks": "block_ids", "tools": "tool_ids", "identities": "identity_ids"}


def link(s: MemoryLetta, m: re.Match[str], _q: Query, _b: Any) -> Any:
    """Attach (idempotent) or detach (404 when not attached) a block, tool or identity."""
    agent = s.agents.get(m[1])
    field, verb, other = LINKS[m[2]], m[3], m[4]
    collection = {"block_ids": s.blocks, "tool_ids": s.tools, "identity_ids": s.identities}[field]
    linked = agent[field]
    if verb == "attach":
        collection.get(other)
        if other not in linked:
            linked.append(other)
    elif other in linked:
        linked.remove(other)
    else:
        raise Refused(404, f"No {collection.kind.lower()} with id '{other}' found for agent")
    return None if field == "identity_ids" else view(s, agent, None)


ROUTES = (
    ("GET", r"/v1/agents", list_agents),
    ("POST", r"/v1/agents", create_agent),
    ("GET", r"/v1/agents/([^/]+)", get_agent),
    ("PATCH", r"/v1/agents/([^/]+)", update_agent),
    ("DELETE", r"/v1/agents/([^/]+)", delete_agent),
    ("GET", r"/v1/agents/([^/]+)/core-memory/blocks", core_memory),
    ("PATCH", LINK, link),
)
