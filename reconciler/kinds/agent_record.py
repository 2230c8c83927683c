"""The agent kind's server record: what letta-apply reads of an agent as the server answers it
(its listing with `INCLUDES`, a read by id, the answer to a create or an update), and the one
check of that shape (`SHAPE`). Reading (`agent_read`) and the settings' hooks
(`agent_settings`) take agents only through it. The query of the stack's listing
(`stack_query`) is here too, for the first page asked for before the reading code loads
(`reconciler.kinds.first_pages`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NotRequired, TypedDict

from reconciler import ownership
from reconciler.desired import DesiredState, Outline, manages_tools
from reconciler.kinds.block_record import BlockRecord
from reconciler.shape import Shape

ROUTE = "/v1/agents/"
INCLUDES = (
    "agent.tags",
    "agent.blocks",
    "agent.identities",
    "agent.secrets",
    "agent.managed_group",
)
"""What an agent listing must include: without them the server returns no tags or blocks."""
TOOLS_INCLUDE = "agent.tools"
"""Asked for only when the stack manages agents' tools: it makes the listing several times
heavier (each tool comes whole, its source and schema included)."""


def listing_includes(
    outline: Outline | None, desired: Callable[[], DesiredState | None]
) -> tuple[str, ...]:
    """What the stack's agent listing includes: agents' tools only when a manifest lists
    tools or tool rules for them, as the outline says when it can (`agent_tools` is None
    when only the users tell), else as the desired state says, asked for only then (a read
    started before the users are loaded waits for it; none: a saved plan's apply)."""
    uses_tools = outline.agent_tools if outline is not None else None
    if uses_tools is None:
        wanted = desired()
        uses_tools = wanted is not None and any(manages_tools(a) for a in wanted.agents)
    return (*INCLUDES, TOOLS_INCLUDE) if uses_tools else INCLUDES


def stack_query(stack: str, include: tuple[str, ...]) -> dict[str, list[str]]:
    """The query of the stack's agent listing: its agents by the stack's tag, with `include`."""
    return {"tags": [ownership.stack_tag(stack)], "include": list(include)}


class AgentTool(TypedDict):
    """A tool attached to an agent (`agent.tools`), as the agent kind reads it."""

    id: str
    name: NotRequired[str | None]
    tool_type: NotRequired[str | None]


class AgentIdentity(TypedDict):
    """An identity attached to an agent (`agent.identities`): its id here; the identity kind
    reads the rest of it through its own record."""

    id: str


class AgentSecret(TypedDict):
    """One of the agent's secrets (`agent.secrets`): its name only, never its value."""

    key: str


class SleeptimeGroup(TypedDict):
    """The group the server keeps an agent's sleep-time agents in (`agent.managed_group`)."""

    manager_type: str
    agent_ids: list[str]


class LlmConfig(TypedDict):
    handle: NotRequired[str | None]
    context_window: NotRequired[int | None]


class EmbeddingConfig(TypedDict):
    handle: NotRequired[str | None]


class AgentRecord(TypedDict):
    """An agent, with the fields letta-apply reads (the settings' by `SETTINGS`). Its
    relationships (tags, blocks, tools, identities, secrets, group) are empty unless the
    request includes them."""

    id: str
    name: str
    tags: list[str]
    metadata: object
    """Anyone may write it: read by `reconciler.ownership`, which takes any shape."""
    created_at: NotRequired[str | None]
    blocks: NotRequired[list[BlockRecord] | None]
    tools: NotRequired[list[AgentTool] | None]
    identities: NotRequired[list[AgentIdentity] | None]
    identity_ids: NotRequired[list[str] | None]
    secrets: NotRequired[list[AgentSecret] | None]
    managed_group: NotRequired[SleeptimeGroup | None]
    multi_agent_group: NotRequired[SleeptimeGroup | None]
    model: NotRequired[str | None]
    embedding: NotRequired[str | None]
    llm_config: NotRequired[LlmConfig | None]
    embedding_config: NotRequired[EmbeddingConfig | None]
    description: NotRequired[str | None]
    system: NotRequired[str | None]
    timezone: NotRequired[str | None]
    model_settings: NotRequired[dict[str, object] | None]
    compaction_settings: NotRequired[dict[str, object] | None]
    tool_rules: NotRequired[list[dict[str, object]] | None]
    enable_sleeptime: NotRequired[bool | None]
    last_run_completion: NotRequired[str | None]


SHAPE = Shape(AgentRecord)
LISTED = f"GET {ROUTE}"
