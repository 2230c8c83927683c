"""Reading only what a scoped run needs: requests grow with the resources in scope, not with
the stack (one user of a 1,000-user stack: a handful of requests).

Each declared resource in scope is looked up by what the server can filter on: dedicated
agents by their `user:` tags (which also finds other agents in the way), shared agents by name,
shared blocks by label, conversations by their ownership marker, identities by key, tools by
name. An agent's own blocks come with it, their tags from one read of its memory. A lookup
that finds nothing where the stack should own something (a renamed agent or block) falls back
to the stack's whole listing of that kind, so a rename is never mistaken for a missing
resource and created twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from reconciler import ownership
from reconciler.client import LettaApi, Params
from reconciler.desired import DesiredState
from reconciler.kinds import agent, block, conversation, identity, mcp_server, tool
from reconciler.kinds.read import (
    FOREIGN_BATCH,
    named_tools,
    read_blocks,
    read_identities_by_key,
    read_mcp_servers,
    read_mcp_tools,
    read_sources,
    read_tools_by_name,
    with_mcp_tools,
)
from reconciler.live.state import (
    IdentityReads,
    LiveAgent,
    LiveBlock,
    LiveConversation,
    LiveMcpServer,
    LiveState,
    survivor_first,
)
from reconciler.values import JSON


def read_scoped(
    api: LettaApi, desired: DesiredState, *, parallelism: int = 8, page_size: int = 200
) -> LiveState:
    """The live state of the resources `desired` (a stack cut to a scope) declares."""
    stack = desired.stack
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        identities = pool.submit(read_identities_by_key, api, desired, parallelism, page_size)
        tools = pool.submit(read_tools_by_name, api, stack, sorted(named_tools(desired)), page_size)
        servers = pool.submit(_mcp_servers, api, desired)
        blocks = pool.submit(_shared_blocks, api, desired, page_size)
        sources = pool.submit(
            read_sources, api, stack, desired, parallelism, page_size, declared_only=True
        )
        owned, foreign = _agents(api, desired, page_size)
        tagged = frozenset(pool.map(lambda a: _tagged_blocks(api, stack, a), owned))
        conversations = _conversations(api, desired, owned, page_size)
        companions, on_companions = agent.read_companions(api, stack, owned, parallelism)
        shared, shared_tagged = blocks.result()
        mcp_tools = read_mcp_tools(api, stack, servers.result(), desired)
        reads = IdentityReads(listed=False, looked_up=_identity_keys(desired))
        parts = (
            (agent.LIVE, agent.Agents(owned, foreign, companions)),
            (
                block.LIVE,
                block.Blocks(shared, frozenset().union(*tagged, shared_tagged, on_companions)),
            ),
            (conversation.LIVE, conversation.Conversations(conversations)),
            (identity.LIVE, identity.Identities(identities.result(), reads)),
            (tool.LIVE, tool.Tools(with_mcp_tools(tools.result(), mcp_tools))),
            (mcp_server.LIVE, mcp_server.McpServers(servers.result())),
        )
        found = {key.kind: part for key, part in parts}
        return LiveState(stack, {**found, **sources.result()})


def _agents(
    api: LettaApi, desired: DesiredState, page_size: int
) -> tuple[tuple[LiveAgent, ...], tuple[LiveAgent, ...]]:
    """The stack's agents in scope, and others carrying a dedicated user's tag."""
    stack_tag = ownership.stack_tag(desired.stack)
    include = list(agent.includes(desired))
    tags = [spec.user_tag for spec in desired.agents if spec.user_tag is not None]
    listed: dict[str, JSON] = {}
    for start in range(0, len(tags), FOREIGN_BATCH):
        params = {"tags": tags[start : start + FOREIGN_BATCH], "include": include}
        listed.update((raw["id"], raw) for raw in api.paginate("/v1/agents/", params, page_size))
    shared = [spec for spec in desired.agents if spec.user_tag is None]
    for spec in shared:
        by_name: Params = {"tags": [stack_tag], "name": spec.name, "include": include}
        listed.update((raw["id"], raw) for raw in api.paginate("/v1/agents/", by_name, page_size))
    read = [agent.from_server(raw, desired.stack) for raw in listed.values()]
    owned = [a for a in read if stack_tag in a.tags]
    found = {a.address for a in owned}
    if any(spec.address not in found for spec in shared):
        owned = _with_renamed(api, desired, owned, include, page_size)
    wanted = {spec.address for spec in desired.agents}
    foreign = survivor_first(a for a in read if stack_tag not in a.tags)
    return tuple(survivor_first(a for a in owned if a.address in wanted)), tuple(foreign)


def _with_renamed(
    api: LettaApi,
    desired: DesiredState,
    owned: list[LiveAgent],
    include: list[str],
    page_size: int,
) -> list[LiveAgent]:
    """A shared agent not found by its declared name may have been renamed: the stack's whole
    listing tells (the agents are kept by their ownership record, not their name)."""
    params = {"tags": [ownership.stack_tag(desired.stack)], "include": include}
    every = (
        agent.from_server(raw, desired.stack)
        for raw in api.paginate("/v1/agents/", params, page_size)
    )
    shared = {spec.address for spec in desired.agents if spec.user_tag is None}
    have = {a.id for a in owned}
    return [*owned, *(a for a in every if a.address in shared and a.id not in have)]


def _tagged_blocks(api: LettaApi, stack: str, live: LiveAgent) -> frozenset[str]:
    """The ids of the agent's blocks carrying the stack's tag (only a read of the agent's
    memory shows blocks' tags)."""
    blocks = api.get(f"/v1/agents/{live.id}/core-memory/blocks", address=str(live.address))
    tag = ownership.stack_tag(stack)
    return frozenset(str(raw["id"]) for raw in _objects(blocks) if tag in (raw.get("tags") or ()))


def _shared_blocks(
    api: LettaApi, desired: DesiredState, page_size: int
) -> tuple[tuple[LiveBlock, ...], frozenset[str]]:
    """The shared blocks in scope, each by its label; the stack's whole block listing when
    one is not found that way (its label may have changed)."""
    tag = ownership.stack_tag(desired.stack)
    found: list[LiveBlock] = []
    for spec in desired.blocks:
        params = {"tags": [tag], "label": spec.block.label}
        listed = api.paginate("/v1/blocks/", params, page_size)
        found += [
            b
            for raw in listed
            if (b := block.from_server(raw, desired.stack)).address == spec.address
        ]
    if {b.address for b in found} >= {spec.address for spec in desired.blocks}:
        return tuple(survivor_first(found)), frozenset(b.id for b in found)
    every, tagged = read_blocks(api, desired.stack, page_size)
    wanted = {spec.address for spec in desired.blocks}
    return tuple(b for b in every if b.address in wanted), tagged


def _conversations(
    api: LettaApi, desired: DesiredState, owned: tuple[LiveAgent, ...], page_size: int
) -> tuple[LiveConversation, ...]:
    """Each conversation in scope, found on its agent by its ownership marker."""
    agent_ids = {a.address: a.id for a in owned}
    found: list[LiveConversation] = []
    for spec in desired.conversations:
        agent_id = agent_ids.get(spec.agent)
        if agent_id is None:
            continue  # the agent is about to be made: so are its conversations
        marker = ownership.conversation_marker(desired.stack, spec.user_id)
        params = {"agent_id": agent_id, "summary_search": marker}
        for raw in api.paginate("/v1/conversations/", params, page_size):
            live = conversation.from_server(raw, desired.stack)
            if live is not None and live.user_id == spec.user_id:
                found.append(live)
    return tuple(survivor_first(found))


def _identity_keys(desired: DesiredState) -> tuple[str, ...]:
    return tuple(sorted({spec.identifier_key for spec in desired.identities}))


def _mcp_servers(api: LettaApi, desired: DesiredState) -> tuple[LiveMcpServer, ...]:
    providers = {t.provider for spec in desired.agents for t in spec.tools if t.provider != t}
    if not desired.mcp_servers and not providers:
        return ()
    return read_mcp_servers(api, desired.stack)


def _objects(value: JSON) -> Iterator[dict[str, JSON]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))
