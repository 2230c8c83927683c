"""What `export` reads from the server: the selected agents with their tags, blocks,
identities and tools, the conversations of the shared ones, the identities attached to them,
and what the sections agents list by name hold (`sources`), as plain values.

A selection is everything, the agents carrying one of some tags (`*` and `?` wildcards
allowed), or what one stack marked as its own; without a stack, what any stack marked is left
to that stack. Secrets are never read (an agent's listing names them only).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from reconciler import ownership
from reconciler.address import USER_KEY_PREFIX
from reconciler.client import LettaApi
from reconciler.kinds import agent, conversation, identity, tool
from reconciler.live.state import LiveAgent, LiveIdentity
from reconciler.paging import PAGE
from reconciler.values import JSON, thaw

from .defaults import tool_options
from .sources import Sources, read_sources


@dataclass(frozen=True)
class Selection:
    """Which agents to export: those carrying any of `tags` (all when empty), or with
    `stack`, only what that stack marked as its own."""

    tags: tuple[str, ...] = ()
    stack: str | None = None

    def wants(self, live: LiveAgent) -> bool:
        if self.stack is not None and live.address is None:
            return False
        if not self.tags:
            return True
        return any(fnmatchcase(tag, pattern) for tag in live.tags for pattern in self.tags)

    def server_tags(self) -> list[str] | None:
        """Tags the server can filter the listing by (any of them); None: list everything."""
        if self.stack is not None:
            return [ownership.stack_tag(self.stack)]
        if self.tags and not any(c in t for t in self.tags for c in "*?["):
            return list(self.tags)
        return None


@dataclass(frozen=True)
class ServerConversation:
    """A conversation on a shared agent; `user_id` when a stack's marker names its user
    (the summary then leaves the marker out)."""

    id: str
    agent_id: str
    summary: str
    user_id: str | None = None


@dataclass(frozen=True)
class ServerTool:
    """A custom tool the selected agents use, with its source; `owner` is the stack whose
    record it carries (None when unmarked)."""

    name: str
    source: str
    owner: str | None = None
    options: Mapping[str, JSON] = field(default_factory=dict)
    """Its options the server would not set by itself, in the manifest's keys."""


@dataclass(frozen=True)
class Snapshot:
    """The selected part of the server. `agents` leaves out sleep-time companions."""

    agents: tuple[LiveAgent, ...]
    conversations: tuple[ServerConversation, ...]
    identities: tuple[LiveIdentity, ...]
    companions: int = 0
    """Sleep-time agents left out (they come with their agent's `enableSleeptime`)."""
    marked: int = 0
    """Agents a stack marked, left out of an export that is not of that stack."""
    tools: tuple[ServerTool, ...] = ()
    sources: Sources = field(default_factory=Sources)
    """What is exported of the sections agents list by name (`reconciler.export.sources`)."""


def read_snapshot(
    api: LettaApi,
    selection: Selection,
    *,
    parallelism: int = 8,
    page_size: int = PAGE,
    progress: Callable[[str], None] | None = None,
) -> Snapshot:
    """Read the selected agents, their shared agents' conversations and their identities."""
    stack = selection.stack or ""
    params: dict[str, JSON] = {"include": [*agent.INCLUDES, agent.TOOLS_INCLUDE]}
    if (tags := selection.server_tags()) is not None:
        params["tags"] = tags
    listed: list[LiveAgent] = []
    attached: dict[str, object] = {}  # the agents' identities come with them
    for raw in agent.listing(api, params, page_size):
        listed.append(agent.from_server(raw, stack))
        attached.update((i["id"], i) for i in raw.get("identities") or ())
    companions = {c for a in listed for c in a.companions}
    wanted = [a for a in listed if selection.wants(a) and a.id not in companions]
    agents = tuple(a for a in wanted if selection.stack is not None or not _marked(a))
    if progress is not None:
        progress(f"Read {len(agents):,} agents")
    shared = [a.id for a in agents if not _dedicated(a, selection)]
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        found = list(pool.map(lambda i: _conversations(api, i, selection, page_size), shared))
        identities = _identities(attached, agents, selection)
        tools = tuple(pool.map(lambda i: _tool(api, i), _custom_tools(agents)))
    sources = read_sources(
        api,
        selection.stack,
        (a.id for a in agents),
        every=selection.stack is None and not selection.tags,
        parallelism=parallelism,
        page_size=page_size,
    )
    return Snapshot(
        agents,
        tuple(c for page in found for c in page),
        identities,
        companions=len(companions & {a.id for a in listed}),
        marked=len(wanted) - len(agents),
        tools=tools,
        sources=sources,
    )


def _custom_tools(agents: tuple[LiveAgent, ...]) -> list[str]:
    return sorted({ref.id for a in agents for ref in a.tools if ref.tool_type == "custom"})


def _tool(api: LettaApi, tool_id: str) -> ServerTool:
    path = f"{tool.ROUTE}{tool_id}"
    raw = tool.SHAPE.parse(api.get(path), f"GET {path}")
    owner = ownership.recorded_stack(raw[tool.METADATA])
    options = tool_options(raw, thaw(tool.from_server(raw, "").settings))
    return ServerTool(raw["name"], raw.get("source_code") or "", owner, options)


def _marked(live: LiveAgent) -> bool:
    """Whether a stack marked the agent (its record or its tag): exported with `--stack`."""
    tagged = any(tag.startswith(ownership.TAG_PREFIX) for tag in live.tags)
    return tagged or ownership.recorded_stack(live.metadata) is not None


def _dedicated(live: LiveAgent, selection: Selection) -> bool:
    """A user's agent: by the stack's record with `--stack`, else by its `user:` tag."""
    if selection.stack is not None and live.address is not None:
        return live.address.user is not None
    return any(tag.startswith(USER_KEY_PREFIX) for tag in live.tags)


def _conversations(
    api: LettaApi, agent_id: str, selection: Selection, page_size: int
) -> list[ServerConversation]:
    found: list[ServerConversation] = []
    for raw in conversation.on_agent(api, agent_id, page_size=page_size):
        if selection.stack is None:
            if (unmarked := conversation.unmarked_from_server(raw)) is not None:
                found.append(ServerConversation(unmarked.id, agent_id, unmarked.summary))
        elif (marked := conversation.from_server(raw, selection.stack)) is not None:
            found.append(ServerConversation(marked.id, agent_id, marked.summary, marked.user_id))
    return found


def _identities(
    attached: Mapping[str, object], agents: tuple[LiveAgent, ...], selection: Selection
) -> tuple[LiveIdentity, ...]:
    """The identities attached to the selected agents (the stack's only, with `stack`), as
    the agents' listing gave them."""
    ids = {i for a in agents for i in a.identity_ids}
    stack = selection.stack or ""
    read = (
        identity.from_server(identity.SHAPE.parse(raw, identity.ATTACHED), stack)
        for key, raw in attached.items()
        if key in ids
    )
    return tuple(
        i for i in read if (i.owned if selection.stack is not None else i.marked_by is None)
    )
