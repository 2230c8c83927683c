"""The live state's value types: what the server holds for a stack, as plain frozen values.

No network code here: the planner depends on these types only. `reconciler.live.reader`
fills them from the server.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Protocol, TypeVar, runtime_checkable

from reconciler.address import Address, AddressError
from reconciler.values import EMPTY, Frozen, canonical


class Resource(Protocol):
    """What every live resource has: its server id and, where the server says, its birth."""

    @property
    def id(self) -> str: ...

    @property
    def created_at(self) -> str: ...


@runtime_checkable
class Tagged(Protocol):
    """A live resource the server keeps tags on: agents, blocks and tools."""

    @property
    def tags(self) -> tuple[str, ...]: ...


R = TypeVar("R", bound=Resource)


def survivor_first(resources: Iterable[R]) -> list[R]:
    """The rule for which of several resources claiming one address is kept: the oldest
    (`created_at`), and where the server gives no creation time (blocks), the lowest id, so
    every run and every reader keeps the same one. The kept one comes first."""
    return sorted(resources, key=lambda r: (r.created_at, r.id))


def by_address(
    resources: Iterable[R], address_of: Callable[[R], Address | None]
) -> dict[Address, list[R]]:
    """Resources grouped by the address they claim (survivor first); unaddressed ones left out."""
    groups: dict[Address, list[R]] = defaultdict(list)
    for resource in resources:
        address = address_of(resource)
        if address is not None:
            groups[address].append(resource)
    return {address: survivor_first(group) for address, group in sorted(groups.items())}


@dataclass(frozen=True, slots=True)
class LiveBlock:
    """A memory block; `address` is set when the stack's ownership record names one."""

    id: str
    label: str
    value: str
    limit: int | None = None
    description: str | None = None
    read_only: bool = False
    tags: tuple[str, ...] = ()
    metadata: Frozen = EMPTY
    address: Address | None = None
    protected: bool = False
    created_at: str = ""


@dataclass(frozen=True, slots=True)
class ToolRef:
    """A tool attached to an agent, as the agent listing names it."""

    id: str
    name: str
    tool_type: str

    @property
    def is_base(self) -> bool:
        """A tool the server attaches itself (memory, search, messaging), not a built-in one
        an agent opts into (`letta_builtin`: web_search, run_code, ...) or a custom one."""
        return self.tool_type.startswith("letta_") and self.tool_type != "letta_builtin"


@dataclass(frozen=True, slots=True)
class LiveTool:
    """A tool on the server: one of the stack's (`address` from its ownership record) or one
    of the server's or another app's that the stack's manifests name.

    `settings` holds the fields the tool kind compares, by server name.
    """

    id: str
    name: str
    tool_type: str
    address: Address | None
    settings: Frozen = EMPTY
    tags: tuple[str, ...] = ()
    tagged: bool = False
    """Carries the stack's tag (with or without an ownership record)."""
    protected: bool = False
    created_at: str = ""
    mcp_server: str | None = None
    """The MCP server providing the tool, by name (the server records it)."""
    owner: str | None = None
    """The stack named by its ownership record, this one or another; None when unrecorded."""


@dataclass(frozen=True, slots=True)
class LiveMcpServer:
    """An MCP server; `address` is set when it carries the stack's mark. `settings` holds
    what the kind compares, credentials and environment values only as keyed digests."""

    id: str
    name: str
    address: Address | None
    settings: Frozen = EMPTY
    created_at: str = ""


@dataclass(frozen=True, slots=True)
class LiveAgent:
    """An agent on the server. `address` is set when the stack's ownership record names one.

    `settings` holds the fields of the agent kind's settings table, by server name.
    """

    id: str
    name: str
    address: Address | None
    created_at: str
    settings: Frozen = EMPTY
    tags: tuple[str, ...] = ()
    metadata: Frozen = EMPTY
    blocks: tuple[LiveBlock, ...] = ()
    identity_ids: tuple[str, ...] = ()
    protected: bool = False
    tools: tuple[ToolRef, ...] = ()
    secret_names: tuple[str, ...] = ()
    """The names of the agent's secrets (their values are never kept)."""
    companions: tuple[str, ...] = ()
    """Ids of the sleep-time agents the server made for it (they share its blocks)."""


@dataclass(frozen=True, slots=True)
class LiveConversation:
    """A conversation marked as the stack's, on one of the stack's shared agents."""

    id: str
    agent_id: str
    user_id: str
    summary: str
    created_at: str


@dataclass(frozen=True, slots=True)
class Activity:
    """When one of the stack's per-user resources was last used, as the server records it:
    a dedicated agent's last completed run, a conversation's last message request (None
    when never used). Read apart from `LiveState`: it changes with every message, so it is
    no part of what a saved plan checks."""

    address: Address
    id: str
    created_at: str
    last_used: str | None


@dataclass(frozen=True, slots=True)
class LiveIdentity:
    """An identity; `owned` when it carries this stack's marker property. `properties`
    leaves out the ownership properties."""

    id: str
    identifier_key: str
    name: str
    identity_type: str
    properties: Frozen
    owned: bool
    created_at: str = ""
    protected: bool = False
    marked_by: str | None = None
    """The stack whose marker it carries, this one or another; None when unmarked."""

    @property
    def address(self) -> Address | None:
        try:
            return Address.identity(self.identifier_key)
        except AddressError:
            return None


@dataclass(frozen=True)
class IdentityReads:
    """How a live state's identities were read, so that applying a saved plan reads them the
    same way (and finds the same ones, or the server changed).

    Either every identity on the server was listed (`listed`), or only those attached to the
    stack's agents (they come with the agent listing) and those looked up by key
    (`looked_up`: declared keys attached to none of the stack's agents). The first finds
    owned identities attached nowhere, which prune needs; the second costs requests in
    proportion to the stack, not to the server.
    """

    listed: bool = True
    looked_up: tuple[str, ...] = ()


@dataclass(frozen=True)
class LiveState:
    """What the server holds that matters to one stack.

    `agents`, `blocks` (stack-level ones), `conversations` are owned by the stack.
    `identities` holds owned ones and foreign ones whose key the stack declares.
    `foreign_agents` are agents not owned by the stack carrying the `user:` tag of a declared
    user the stack has no agent for. `identity_reads` says how the identities were read.
    """

    stack: str
    agents: tuple[LiveAgent, ...] = ()
    blocks: tuple[LiveBlock, ...] = ()
    conversations: tuple[LiveConversation, ...] = ()
    identities: tuple[LiveIdentity, ...] = ()
    foreign_agents: tuple[LiveAgent, ...] = ()
    tagged_blocks: frozenset[str] = frozenset()
    """Ids of every block carrying the stack's tag: its shared blocks and its agents' own.
    A block attached to an owned agent without the tag was not made by the stack."""
    tools: tuple[LiveTool, ...] = ()
    """The stack's tools, and the other tools its manifests name (by name)."""
    mcp_servers: tuple[LiveMcpServer, ...] = ()
    """Every MCP server (few on a server): the stack's, and others to detect name clashes."""
    unmarked_conversations: tuple[LiveConversation, ...] = ()
    """Conversations without any stack's marker on the stack's shared agents and on agents it
    may adopt (`user_id` empty), read only to plan adoption."""
    identity_reads: IdentityReads = IdentityReads()
    stack_tagged_blocks: frozenset[str] = frozenset()
    """Ids of blocks carrying any stack's tag among those with the label of a declared shared
    block the stack lacks (the agent listing shows no block tags), read only to plan adoption."""
    companions: tuple[LiveAgent, ...] = ()
    """The agents in the sleep-time groups of the stack's agents, whoever made them: those
    whose record names the agent they serve are its sleep-time agents (`companions_of`)."""

    def companions_of(self, agent: LiveAgent) -> tuple[tuple[LiveAgent, ...], tuple[str, ...]]:
        """The agent's sleep-time agents (in its group, their record naming it), and the ids
        of the other agents in its group (a tenant may add one): never changed or deleted."""
        read = {c.id: c for c in self.companions}
        address = _companion(agent)
        mine = tuple(read[i] for i in agent.companions if i in read and read[i].address == address)
        ids = {c.id for c in mine}
        return mine, tuple(i for i in agent.companions if i not in ids)

    def companion_blocks(self, companion: LiveAgent, agent: LiveAgent) -> tuple[LiveBlock, ...]:
        """A sleep-time agent's own blocks: those the stack marked, not on the agent it serves."""
        served = {b.id for b in agent.blocks}
        return tuple(b for b in self.own_blocks(companion) if b.id not in served)

    def owned_companions(self) -> list[tuple[LiveAgent, LiveAgent]]:
        """Each sleep-time agent of the stack's agents, with the agent it serves."""
        return [
            (companion, agent)
            for agent in self.agents
            for companion in self.companions_of(agent)[0]
        ]

    @property
    def owned_mcp_servers(self) -> tuple[LiveMcpServer, ...]:
        return tuple(m for m in self.mcp_servers if m.address is not None)

    @cached_property
    def mcp_servers_by_address(self) -> dict[Address, list[LiveMcpServer]]:
        return by_address(self.owned_mcp_servers, lambda m: m.address)

    @property
    def owned_tools(self) -> tuple[LiveTool, ...]:
        return tuple(t for t in self.tools if t.address is not None)

    @cached_property
    def other_tools(self) -> dict[str, LiveTool]:
        """Tools the stack does not own, by name (tool names are unique on a server)."""
        return {t.name: t for t in self.tools if t.address is None}

    @property
    def owned_identities(self) -> tuple[LiveIdentity, ...]:
        return tuple(i for i in self.identities if i.owned)

    def owned_count(self) -> int:
        """Resources the stack owns, agents' own memory blocks and sleep-time agents with
        theirs included (for the guard)."""
        counted = (
            self.agents,
            self.blocks,
            self.conversations,
            self.owned_identities,
            self.owned_tools,
            self.owned_mcp_servers,
        )
        own_blocks = sum(len(self.own_blocks(agent)) for agent in self.agents)
        companions = sum(
            1 + len(self.companion_blocks(companion, agent))
            for companion, agent in self.owned_companions()
        )
        return sum(len(group) for group in counted) + own_blocks + companions

    def own_blocks(self, agent: LiveAgent) -> tuple[LiveBlock, ...]:
        """The agent's own memory blocks: made by the stack (tagged), not its shared blocks."""
        return tuple(
            b for b in agent.blocks if b.id in self.tagged_blocks and b.id not in self._shared_ids
        )

    def foreign_blocks(self, agent: LiveAgent) -> tuple[LiveBlock, ...]:
        """Blocks attached to the agent that the stack did not make (hand-made, another
        stack's): never updated or deleted."""
        return tuple(b for b in agent.blocks if b.id not in self.tagged_blocks)

    @cached_property
    def _shared_ids(self) -> frozenset[str]:
        return frozenset(b.id for b in self.blocks)

    def fingerprint(self) -> str:
        """Digest of everything owned: any change on the server changes it. The agents in
        the sleep-time groups of the stack's agents count, where there are any.

        The digest of `canonical` of the list of the groups below, hashed a resource at a
        time: the same bytes as that one document, without ever holding it (at 100,000
        users it would be tens of megabytes, and its pieces several times that).
        """
        owned: tuple[Iterable[object], ...] = (
            # Agents' tools are read only when planning a stack that manages them: a saved
            # plan is applied without reading them again.
            (replace(agent, tools=()) for agent in self.agents),
            self.blocks,
            self.conversations,
            self.owned_identities,
            self.owned_tools,
            self.owned_mcp_servers,
            sorted(self.tagged_blocks),
            *((self.companions,) if self.companions else ()),
        )
        digest = hashlib.sha256(b"[")
        for index, group in enumerate(owned):
            digest.update(b",[" if index else b"[")
            for position, item in enumerate(group):
                if position:
                    digest.update(b",")
                digest.update(canonical(item).encode())
            digest.update(b"]")
        digest.update(b"]")
        return digest.hexdigest()

    # Addresses, with the survivor rule applied once for every reader.

    @cached_property
    def agents_by_address(self) -> dict[Address, list[LiveAgent]]:
        return by_address(self.agents, lambda a: a.address)

    @cached_property
    def blocks_by_address(self) -> dict[Address, list[LiveBlock]]:
        return by_address(self.blocks, lambda b: b.address)

    @cached_property
    def tools_by_address(self) -> dict[Address, list[LiveTool]]:
        return by_address(self.owned_tools, lambda t: t.address)

    @cached_property
    def identities_by_address(self) -> dict[Address, list[LiveIdentity]]:
        return by_address(self.owned_identities, lambda i: i.address)

    @cached_property
    def conversations_by_address(self) -> dict[Address, list[LiveConversation]]:
        """Keyed by the kept agent they are on; those on other agents by that agent's id."""
        agents = {group[0].id: address for address, group in self.agents_by_address.items()}

        def address(c: LiveConversation) -> Address | None:
            try:
                return Address.conversation(
                    agents.get(c.agent_id) or Address.agent(c.agent_id), c.user_id
                )
            except AddressError:
                return None

        return by_address(self.conversations, address)

    def kept_ids(self) -> dict[Address, str]:
        """Address -> id of the live resource the stack keeps there (the survivor), and of
        the server's tools its agents use."""
        groups: tuple[Mapping[Address, Sequence[Resource]], ...] = (
            self.agents_by_address,
            self.blocks_by_address,
            self.conversations_by_address,
            self.identities_by_address,
            self.tools_by_address,
            self.mcp_servers_by_address,
        )
        kept = {address: group[0].id for found in groups for address, group in found.items()}
        for name, tool in self.other_tools.items():
            address = _tool_address(f"{tool.mcp_server}/{name}" if tool.mcp_server else name)
            if address is not None:
                kept.setdefault(address, tool.id)
        return kept


def _companion(agent: LiveAgent) -> Address | None:
    return Address.sleeptime_agent(agent.address) if agent.address is not None else None


def _tool_address(name: str) -> Address | None:
    try:
        return Address.tool(name)
    except AddressError:
        return None
