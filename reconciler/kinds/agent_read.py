"""The agent kind's part of the live state: an agent parsed once from the server's JSON
(`from_server`), the one listing of agents every read uses (`listing`), and how a read of the
live state fills the part (`read`: the stack's agents, the agents in the way of the users it
declares, the sleep-time agents of its agents); which agents and blocks the stack owns through
it. `reconciler.kinds.agent` plans and changes agents.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import cached_property
from itertools import chain
from typing import TYPE_CHECKING

from reconciler import ownership
from reconciler.address import USER_KEY_PREFIX, Address, Kind
from reconciler.desired import DesiredState
from reconciler.errors import ServerError
from reconciler.kinds import block
from reconciler.kinds.agent_record import (
    LISTED,
    ROUTE,
    SHAPE,
    AgentRecord,
    listing_includes,
    stack_query,
)
from reconciler.kinds.agent_settings import SETTINGS, sleeptime_group
from reconciler.kinds.block import BlockRecord
from reconciler.kinds.common import Reading, no_named_ids, nothing_recorded
from reconciler.live.state import (
    LiveAgent,
    LiveBlock,
    LiveState,
    Part,
    Resource,
    ToolRef,
    Walked,
    by_address,
    survivor_first,
)
from reconciler.paging import PAGE
from reconciler.values import Frozen, freeze_shared, frozen_mapping, shared

if TYPE_CHECKING:
    from reconciler.client import LettaApi, Params

KIND = Kind.AGENT
FOREIGN_BATCH = 50
"""`user:` tags per lookup of agents by tag: one request per batch keeps the query short."""


def includes(desired: DesiredState | None) -> tuple[str, ...]:
    """`listing_includes` of the desired state (a saved plan is applied without one)."""
    return listing_includes(None, lambda: desired)


def _listing_includes(reading: Reading) -> tuple[str, ...]:
    """`listing_includes` of the read: from the outline when the manifests alone tell, so
    that a read started before the users are loaded lists the agents without waiting."""
    return listing_includes(reading.outline, lambda: reading.desired)


@dataclass(frozen=True)
class Agents:
    """The agent kind's part of the live state."""

    listed: tuple[LiveAgent, ...] = ()
    """Agents carrying the stack's tag (survivor first); those whose ownership record names
    an address are the stack's, the others are reported and left alone."""
    foreign: tuple[LiveAgent, ...] = ()
    """Agents not owned by the stack carrying the `user:` tag of a declared user the stack
    has no agent for (and, to plan adoption, those named as a declared shared agent)."""
    companions: tuple[LiveAgent, ...] = ()
    """The agents in the sleep-time groups of the stack's agents, whoever made them: those
    whose record names the agent they serve are its sleep-time agents (`companions_of`)."""
    tagged_blocks: frozenset[str] = frozenset()
    """Ids of blocks the reads of agents' memory showed carrying the stack's tag: the
    sleep-time agents' blocks, and in a scoped read the agents' own (only such a read, or the
    block listing, shows blocks' tags)."""
    identities: tuple[Mapping[str, object], ...] = ()
    """The identities attached to the stack's agents, as the agent listing gives them (the
    identity kind reads them from here, through its own record)."""

    @cached_property
    def by_address(self) -> dict[Address, list[LiveAgent]]:
        return by_address(self.listed, lambda a: a.address)

    @cached_property
    def companions_by_id(self) -> dict[str, LiveAgent]:
        return {c.id: c for c in self.companions}

    @cached_property
    def kept(self) -> dict[Address, LiveAgent]:
        """The agent the stack keeps at each address (the survivor)."""
        return {address: group[0] for address, group in self.by_address.items()}


LIVE = Part(KIND, Agents())
of = LIVE.of
named_ids = no_named_ids
read_record = nothing_recorded


def owned(live: LiveState) -> Mapping[Address, Sequence[Resource]]:
    """The stack's agents and, at their own addresses, the agents' own memory blocks and
    their sleep-time agents: made as it is walked (an address for each agent's own blocks
    would otherwise be held at once)."""
    return Walked(lambda: _owned(live))


def _owned(live: LiveState) -> Iterator[tuple[Address, list[Resource]]]:
    """The agents first, then each agent's own blocks (those of agents claiming one address
    together, by label), then the sleep-time agents: no address is in two of these."""
    agents = of(live).by_address
    for address, group in agents.items():
        yield address, list(group)
    for address, group in agents.items():
        blocks: dict[Address, list[Resource]] = {}
        for agent in group:
            for own in blocks_of(live, agent).own:
                blocks.setdefault(Address.agent_block(address, own.label), []).append(own)
        yield from blocks.items()
    companions: dict[Address, list[Resource]] = {}
    for companion, _agent in owned_companions(live):
        if companion.address is not None:
            companions.setdefault(companion.address, []).append(companion)
    yield from companions.items()


def deleted_with(live: LiveState) -> Mapping[str, frozenset[str]]:
    """Agent id -> the ids of its own blocks, deleted with it; a sleep-time agent's id ->
    the blocks the stack marked on it. Made as it is walked."""
    return Walked(lambda: _deleted_with(live))


def _deleted_with(live: LiveState) -> Iterator[tuple[str, frozenset[str]]]:
    marked = {
        c.id: frozenset(b.id for b in companion_blocks(live, c, a))
        for c, a in owned_companions(live)
    }
    seen: set[str] = set()
    for group in of(live).by_address.values():
        for agent in group:
            if agent.id not in seen:
                seen.add(agent.id)
                own = frozenset(b.id for b in blocks_of(live, agent).own)
                yield agent.id, marked.pop(agent.id, own)
    yield from ((key, ids) for key, ids in marked.items() if key not in seen)


def fingerprinted(live: LiveState) -> Iterable[object]:
    # Agents' tools are read only when planning a stack that manages them: a saved plan is
    # applied without reading them again.
    part = of(live)
    return chain(
        (replace(agent, tools=()) if agent.tools else agent for agent in part.listed),
        part.companions,
        sorted(part.tagged_blocks),
    )


def blocks_of(live: LiveState, agent: LiveAgent) -> block.OnAgent:
    """The agent's own blocks (the stack made them) and the others attached to it."""
    return block.on_agent(live, agent, of(live).tagged_blocks)


def companions_of(
    live: LiveState, agent: LiveAgent
) -> tuple[tuple[LiveAgent, ...], tuple[str, ...]]:
    """The agent's sleep-time agents (in its group, their record naming it), and the ids of
    the other agents in its group (a tenant may add one): never changed or deleted."""
    if not agent.companions:
        return (), ()
    read = of(live).companions_by_id
    address = Address.sleeptime_agent(agent.address) if agent.address is not None else None
    mine = tuple(read[i] for i in agent.companions if i in read and read[i].address == address)
    ids = {c.id for c in mine}
    return mine, tuple(i for i in agent.companions if i not in ids)


def companion_blocks(
    live: LiveState, companion: LiveAgent, agent: LiveAgent
) -> tuple[LiveBlock, ...]:
    """A sleep-time agent's own blocks: those the stack marked, not on the agent it serves."""
    served = {b.id for b in agent.blocks}
    return tuple(b for b in blocks_of(live, companion).own if b.id not in served)


def owned_companions(live: LiveState) -> list[tuple[LiveAgent, LiveAgent]]:
    """Each sleep-time agent of the stack's agents, with the agent it serves."""
    return [
        (companion, agent)
        for agent in of(live).listed
        for companion in companions_of(live, agent)[0]
    ]


# Reading --------------------------------------------------------------------------------------


def from_server(
    raw: AgentRecord, stack: str, blocks: Iterable[BlockRecord] | None = None
) -> LiveAgent:
    """An agent as the server lists it (with `INCLUDES`); `blocks`: its memory, read apart."""
    tags = freeze_shared(sorted(raw["tags"]))
    metadata = frozen_mapping(raw["metadata"], interned=True)
    memory = (raw.get("blocks") or ()) if blocks is None else blocks
    return LiveAgent(
        id=raw["id"],
        name=sys.intern(raw["name"]),  # held once with the declared name
        address=_address(metadata, stack),
        created_at=raw.get("created_at") or "",
        settings=_settings(raw),
        tags=tags,
        metadata=metadata,
        blocks=tuple(sorted((block.from_server(b, stack) for b in memory), key=_label)),
        identity_ids=_identity_ids(raw),
        protected=ownership.metadata_protected(metadata, stack),
        tools=_tool_refs(raw),
        secret_names=tuple(sorted({s["key"] for s in raw.get("secrets") or ()})),
        companions=sleeptime_group(raw),
    )


def companion_from_server(
    raw: AgentRecord, stack: str, blocks: Iterable[BlockRecord] | None = None
) -> LiveAgent:
    """An agent of a sleep-time group: at `agent/<key>/sleeptime` when this stack's record
    names the agent it serves, otherwise without an address."""
    live = from_server(raw, stack, blocks)
    served = ownership.companion_of(live.metadata, stack)
    mine = served is not None and served.kind is KIND and served.owner is None
    return replace(live, address=Address.sleeptime_agent(served) if mine and served else None)


def _tool_refs(raw: AgentRecord) -> tuple[ToolRef, ...]:
    refs = (
        ToolRef(t["id"], t.get("name") or "", t.get("tool_type") or "")
        for t in raw.get("tools") or ()
    )
    return tuple(sorted(refs, key=lambda ref: (ref.name, ref.id)))


def _settings(raw: AgentRecord) -> Frozen:
    """The settings the server holds a value for (a missing one reads as unset)."""
    read = ((s.name, s.read(raw)) for s in SETTINGS)
    settings: Frozen = shared({name: value for name, value in read if value is not None})
    return settings


def _label(live: LiveBlock) -> tuple[str, str]:
    return (live.label, live.id)


def _address(metadata: Frozen, stack: str) -> Address | None:
    """The owned agent's address, from the stack's ownership record. Tags alone never make
    an agent the stack's: anyone can add the stack's tag to an agent."""
    recorded = ownership.metadata_address(metadata, stack)
    mine = recorded is not None and recorded.kind is KIND and recorded.owner is None
    return recorded if mine else None


def _identity_ids(raw: AgentRecord) -> tuple[str, ...]:
    ids = {i["id"] for i in raw.get("identities") or ()}
    ids.update(raw.get("identity_ids") or ())
    return tuple(sorted(ids))


def listing(api: LettaApi, params: Params, page_size: int = PAGE) -> Iterator[AgentRecord]:
    """The agents matching `params` (tags, name, includes), page by page: the one listing
    of agents every read uses."""
    return (SHAPE.parse(raw, LISTED) for raw in api.paginate(ROUTE, params, page_size))


def read(reading: Reading) -> Agents:
    """The stack's agents (in a scoped read, those in scope), the agents of others in the way
    of the users it declares, and the sleep-time agents of its agents."""
    api, stack, parallelism = reading.api, reading.stack, reading.parallelism
    if reading.scoped and (desired := reading.desired) is not None:
        listed, foreign = _scoped(reading, desired)
        memory = _memory_tagged(reading, listed)
        companions, tagged = read_companions(api, stack, listed, parallelism)
        return Agents(listed, foreign, companions, tagged | memory)
    # The stack's agents first: only the lookups of the declared keys wait for the users.
    listed, identities = _stack_agents(reading, _listing_includes(reading))
    companions, tagged = read_companions(api, stack, listed, parallelism)
    foreign = _foreign(reading, listed, desired) if (desired := reading.desired) else ()
    return Agents(listed, foreign, companions, tagged, identities)


def _memory_tagged(reading: Reading, agents: Sequence[LiveAgent]) -> frozenset[str]:
    """The ids of the agents' blocks carrying the stack's tag, one read of each agent's memory
    (the agent listing shows no block tags; a scoped read lists no blocks)."""
    tag = ownership.stack_tag(reading.stack)

    def tagged(live: LiveAgent) -> set[str]:
        path = f"{ROUTE}{live.id}/core-memory/blocks"
        found = block.SHAPE.parse_all(reading.api.get(path, address=str(live.address)), path)
        return {raw["id"] for raw in found if tag in (raw["tags"] or ())}

    with ThreadPoolExecutor(max_workers=max(1, reading.parallelism)) as pool:
        return frozenset().union(*pool.map(tagged, agents))


def _stack_agents(
    reading: Reading, include: tuple[str, ...]
) -> tuple[tuple[LiveAgent, ...], tuple[Mapping[str, object], ...]]:
    """The stack's agents, and the identities attached to them (they come with each agent)."""
    params = stack_query(reading.stack, include)
    listed = _counted(listing(reading.api, params, reading.page_size), reading)
    agents: list[LiveAgent] = []
    identities: dict[str, Mapping[str, object]] = {}
    for raw in listed:
        agents.append(from_server(raw, reading.stack))
        identities.update((i["id"], i) for i in raw.get("identities") or ())
    return tuple(survivor_first(agents)), tuple(identities.values())


def _counted(items: Iterable[AgentRecord], reading: Reading) -> Iterator[AgentRecord]:
    for count, item in enumerate(items, 1):
        if reading.progress is not None and count % reading.page_size == 0:
            reading.progress(f"Reading the server: {count:,} agents")
        yield item


def read_user_tagged(
    api: LettaApi, stack: str, tags: list[str], parallelism: int = 8
) -> tuple[LiveAgent, ...]:
    """Every agent carrying one of `tags`, the stack's or not (a listing per batch of tags)."""

    def lookup(batch: list[str]) -> list[AgentRecord]:
        return list(listing(api, {"tags": batch, "include": ["agent.tags"]}))

    batches = [tags[i : i + FOREIGN_BATCH] for i in range(0, len(tags), FOREIGN_BATCH)]
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        pages = list(pool.map(lookup, batches))
    found = {raw["id"]: from_server(raw, stack) for page in pages for raw in page}
    return tuple(found.values())


def _foreign(
    reading: Reading, owned: tuple[LiveAgent, ...], desired: DesiredState
) -> tuple[LiveAgent, ...]:
    """Agents of others carrying the `user:` tag of a dedicated user this stack will create;
    to plan adoption, read whole (blocks included), and also those named as a shared agent the
    stack will create."""
    have = {a.address for a in owned}
    missing = [
        spec.user_tag
        for spec in desired.agents
        if spec.user_tag is not None and spec.address not in have
    ]
    names = [
        spec.name
        for spec in desired.agents
        if reading.adopt and spec.user_tag is None and spec.address not in have
    ]
    include = list(includes(desired)) if reading.adopt else ["agent.tags"]

    def lookup(params: Params) -> list[AgentRecord]:
        return list(listing(reading.api, {**params, "include": include}))

    # The server matches any of the listed tags: one listing covers a whole batch of users.
    batches: list[Params] = [
        {"tags": missing[i : i + FOREIGN_BATCH]} for i in range(0, len(missing), FOREIGN_BATCH)
    ]
    batches += [{"name": name} for name in names]
    if not batches:
        return ()
    with ThreadPoolExecutor(max_workers=max(1, reading.parallelism)) as pool:
        pages = list(pool.map(lookup, batches))
    found = {raw["id"]: from_server(raw, desired.stack) for page in pages for raw in page}
    tag = ownership.stack_tag(desired.stack)
    return tuple(survivor_first(a for a in found.values() if tag not in a.tags))


def user_tagged(live: LiveAgent) -> bool:
    """Whether the agent carries a user's lookup tag (a dedicated agent, anyone's)."""
    return any(tag.startswith(USER_KEY_PREFIX) for tag in live.tags)


def _scoped(
    reading: Reading, desired: DesiredState
) -> tuple[tuple[LiveAgent, ...], tuple[LiveAgent, ...]]:
    """The stack's agents in scope, and others carrying a dedicated user's tag: dedicated
    agents by their `user:` tags, shared agents by name."""
    stack_tag = ownership.stack_tag(desired.stack)
    include = list(includes(desired))
    tags = [spec.user_tag for spec in desired.agents if spec.user_tag is not None]
    listed: dict[str, AgentRecord] = {}
    for start in range(0, len(tags), FOREIGN_BATCH):
        params = {"tags": tags[start : start + FOREIGN_BATCH], "include": include}
        page = listing(reading.api, params, reading.page_size)
        listed.update((raw["id"], raw) for raw in page)
    shared = [spec for spec in desired.agents if spec.user_tag is None]
    for spec in shared:
        by_name: Params = {"tags": [stack_tag], "name": spec.name, "include": include}
        page = listing(reading.api, by_name, reading.page_size)
        listed.update((raw["id"], raw) for raw in page)
    read = [from_server(raw, desired.stack) for raw in listed.values()]
    owned = [a for a in read if stack_tag in a.tags]
    found = {a.address for a in owned}
    if any(spec.address not in found for spec in shared):
        owned = _with_renamed(reading, desired, owned, include)
    wanted = {spec.address for spec in desired.agents}
    foreign = survivor_first(a for a in read if stack_tag not in a.tags)
    return tuple(survivor_first(a for a in owned if a.address in wanted)), tuple(foreign)


def _with_renamed(
    reading: Reading, desired: DesiredState, owned: list[LiveAgent], include: list[str]
) -> list[LiveAgent]:
    """A shared agent not found by its declared name may have been renamed: the stack's whole
    listing tells (the agents are kept by their ownership record, not their name)."""
    params = {"tags": [ownership.stack_tag(desired.stack)], "include": include}
    every = (
        from_server(raw, desired.stack) for raw in listing(reading.api, params, reading.page_size)
    )
    shared = {spec.address for spec in desired.agents if spec.user_tag is None}
    have = {a.id for a in owned}
    return [*owned, *(a for a in every if a.address in shared and a.id not in have)]


def read_companions(
    api: LettaApi, stack: str, agents: Sequence[LiveAgent], parallelism: int
) -> tuple[tuple[LiveAgent, ...], frozenset[str]]:
    """The agents in the sleep-time groups of `agents`, each read by id with its memory, and
    the ids of their blocks carrying the stack's tag (only a read of an agent's memory shows
    blocks' tags). One request pair per sleep-time agent; none for a stack without them."""
    ids = sorted({i for agent in agents for i in agent.companions})
    if not ids:
        return (), frozenset()

    def read(agent_id: str) -> tuple[AgentRecord, list[BlockRecord]] | None:
        path = f"{ROUTE}{agent_id}"
        memory = f"{path}/core-memory/blocks"
        try:
            raw = SHAPE.parse(api.get(path, {"include": ["agent.tags"]}), f"GET {path}")
            return raw, block.SHAPE.parse_all(api.get(memory) or [], f"GET {memory}")
        except ServerError as exc:
            if exc.status == 404:
                return None  # gone since the group was read
            raise

    with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(ids)))) as pool:
        found = [pair for pair in pool.map(read, ids) if pair is not None]
    tag = ownership.stack_tag(stack)
    companions = tuple(companion_from_server(raw, stack, blocks) for raw, blocks in found)
    tagged = frozenset(b["id"] for _, blocks in found for b in blocks if tag in (b["tags"] or ()))
    return companions, tagged
