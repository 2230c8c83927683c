"""Reading the live state from the server, in bulk.

Requests grow with the stack, not with the server: owned agents come from one tag-filtered,
paginated listing that includes their tags, blocks and identities; conversations from one
listing per shared agent, filtered by the stack's marker; shared blocks from one tag-filtered
listing. Identities come with the agents they are attached to; declared ones attached to none
are looked up by key, unless listing every identity costs fewer requests or prune needs owned
identities attached nowhere (`IdentityReads` records which). Tools and MCP servers cannot be
filtered by stack: the server's custom tools and its MCP servers are listed (few on a server),
and tools the manifests name are looked up by name, read while the agents are.
Only users the stack is about to create are looked up, in batches of tags, for foreign agents
already carrying their user tag. Each kind's module turns the server's JSON into its live value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from reconciler import ownership
from reconciler.address import USER_KEY_PREFIX, Address, Kind
from reconciler.client import LettaApi
from reconciler.desired import DesiredState
from reconciler.errors import LettaApplyError, ServerError
from reconciler.kinds import (
    agent,
    archive,
    block,
    conversation,
    file,
    folder,
    identity,
    mcp_server,
    passage,
    tool,
)
from reconciler.live.state import (
    IdentityReads,
    LiveAgent,
    LiveBlock,
    LiveConversation,
    LiveIdentity,
    LiveMcpServer,
    LiveState,
    LiveTool,
    survivor_first,
)
from reconciler.values import JSON

Sourced = TypeVar("Sourced", folder.LiveFolder, archive.LiveArchive)

FOREIGN_BATCH = 50
"""`user:` tags per foreign-agent lookup: one request per batch keeps the query string short."""


def read_live(
    api: LettaApi,
    stack: str,
    desired: DesiredState | None = None,
    *,
    parallelism: int = 8,
    page_size: int = 200,
    progress: Callable[[str], None] | None = None,
    tool_names: Iterable[str] = (),
    adopt: bool = False,
    prune: bool | None = None,
    identity_reads: IdentityReads | None = None,
) -> LiveState:
    """Read the stack's resources. With `desired`, also look for foreign resources in the way.

    `progress` hears how many agents have been read so far, a page at a time. `tool_names`
    are more tools to look up by name (those a saved plan attaches), besides the stack's own
    and those `desired` names. `adopt`: also what the stack could adopt (see
    `reconciler.planner.adoption`): the agents in the way with their blocks, unowned agents named
    as declared shared agents, the unmarked conversations of shared agents, and which blocks
    labelled as a declared shared block carry a stack's tag.
    `prune` (else as `desired` says): every identity is listed, to find owned ones attached
    nowhere. `identity_reads`: read the identities as a saved plan's live state was read.
    """
    names = sorted({*tool_names, *(named_tools(desired) if desired else ())})
    wanted = {spec.identifier_key for spec in desired.identities} if desired else set()
    listing = identity_reads.listed if identity_reads else _prunes(desired, prune)
    with ThreadPoolExecutor(max_workers=4) as side:
        # Shared blocks, tools and MCP servers do not depend on the agents: read them meanwhile.
        blocks = side.submit(read_blocks, api, stack, page_size)
        tools = side.submit(_read_tools, api, stack, names, page_size)
        servers = side.submit(read_mcp_servers, api, stack)
        every = side.submit(list_identities, api, stack, wanted, page_size) if listing else None
        sources = side.submit(
            read_sources, api, stack, desired, parallelism, page_size, adopt=adopt
        )
        agents, attached = _read_agents(api, stack, agent.includes(desired), page_size, progress)
        foreign = _read_foreign(api, agents, desired, parallelism, adopt) if desired else ()
        shared_ids = [a.id for a in agents if a.address and a.address.user is None]
        if adopt:
            shared_ids += [a.id for a in foreign if not _user_tagged(a)]
        conversations, unmarked = _read_conversations(
            api, stack, shared_ids, page_size, parallelism, marked_only=not adopt
        )
        if every is not None:
            identities, reads = every.result(), IdentityReads(listed=True)
        else:
            keys = identity_reads.looked_up if identity_reads else None
            identities, reads = _identities_through_agents(
                api, stack, attached, wanted, keys, parallelism, page_size
            )
        companions, on_companions = agent.read_companions(api, stack, agents, parallelism)
        shared, tagged = blocks.result()
        marked = _stack_tagged(api, desired, shared, page_size) if adopt and desired else ()
        mcp_tools = read_mcp_tools(api, stack, servers.result(), desired)
        parts = (
            (agent.LIVE, agent.Agents(agents, foreign, companions)),
            (block.LIVE, block.Blocks(shared, tagged | on_companions, frozenset(marked))),
            (
                conversation.LIVE,
                conversation.Conversations(conversations, unmarked if adopt else ()),
            ),
            (identity.LIVE, identity.Identities(identities, reads)),
            (tool.LIVE, tool.Tools(with_mcp_tools(tools.result(), mcp_tools))),
            (mcp_server.LIVE, mcp_server.McpServers(servers.result())),
        )
        found = {key.kind: part for key, part in parts}
        return LiveState(stack, {**found, **sources.result()})


def read_sources(
    api: LettaApi,
    stack: str,
    desired: DesiredState | None,
    parallelism: int,
    page_size: int,
    *,
    declared_only: bool = False,
    adopt: bool = False,
) -> dict[Kind, object]:
    """Folders with their files, archives with their passages: every folder and archive is
    listed (few on a server; any can hold a declared name), the contents of the stack's are
    read (with `adopt`, those of the unowned ones of declared names too). `declared_only` (a
    scoped run) keeps of the stack's only those `desired` declares, and reads nothing when
    it declares none. The folders' reads and the archives' need
    nothing of each other: they run at once (an archive's passages are read a page after
    another, so they take longest)."""
    if declared_only and desired is not None and not (desired.folders or desired.archives):
        return {}
    kept = desired if declared_only else None
    named = desired if adopt else None
    with ThreadPoolExecutor(max_workers=1) as side:
        archives = side.submit(_archives, api, stack, kept, named, parallelism, page_size)
        folders = _folders(api, stack, desired, kept, named, parallelism, page_size)
        return {**folders, **archives.result()}


def _folders(
    api: LettaApi,
    stack: str,
    desired: DesiredState | None,
    kept: DesiredState | None,
    named: DesiredState | None,
    parallelism: int,
    page_size: int,
) -> dict[Kind, object]:
    """The folders and their files; with `kept`, of the stack's only those it declares; with
    `named`, the unowned ones it declares too."""
    adoptable = frozenset(spec.name for spec in named.folders) if named else frozenset()
    folders = folder.read(api, stack, parallelism, page_size, adoptable)
    if kept is not None:
        folders = folder.Folders(_declared(folders.found, set(folder.declared(kept))))
    files = file.read(api, folders, desired, parallelism, adoptable)
    return {Kind.FOLDER: folders, Kind.FILE: files}


def _archives(
    api: LettaApi,
    stack: str,
    kept: DesiredState | None,
    named: DesiredState | None,
    parallelism: int,
    page_size: int,
) -> dict[Kind, object]:
    """The archives and their passages; with `kept`, of the stack's only those it declares;
    with `named`, the unowned ones it declares too."""
    adoptable = frozenset(spec.name for spec in named.archives) if named else frozenset()
    archives = archive.read(api, stack, parallelism, page_size, adoptable)
    if kept is not None:
        archives = archive.Archives(_declared(archives.found, set(archive.declared(kept))))
    passages = passage.read(api, stack, archives, parallelism, adoptable)
    return {Kind.ARCHIVE: archives, Kind.PASSAGE: passages}


def _declared(found: Iterable[Sourced], wanted: set[Address]) -> tuple[Sourced, ...]:
    return tuple(f for f in found if f.address is None or f.address in wanted)


def _prunes(desired: DesiredState | None, prune: bool | None) -> bool:
    """Whether the plan may delete undeclared resources (the option, else the manifests)."""
    if prune is not None:
        return prune
    return desired is not None and desired.prune.enabled


def _read_agents(
    api: LettaApi,
    stack: str,
    include: tuple[str, ...],
    page_size: int,
    progress: Callable[[str], None] | None,
) -> tuple[tuple[LiveAgent, ...], list[JSON]]:
    """The stack's agents, and the identities attached to them (they come with each agent)."""
    params = {"tags": [ownership.stack_tag(stack)], "include": list(include)}
    listed = _counted(api.paginate("/v1/agents/", params, page_size), page_size, progress)
    agents: list[LiveAgent] = []
    identities: dict[str, JSON] = {}
    for raw in listed:
        agents.append(agent.from_server(raw, stack))
        identities.update((str(i["id"]), i) for i in raw.get("identities") or ())
    return tuple(survivor_first(agents)), list(identities.values())


def read_blocks(
    api: LettaApi, stack: str, page_size: int
) -> tuple[tuple[LiveBlock, ...], frozenset[str]]:
    """The stack's shared blocks, and the ids of every block carrying its tag (its agents'
    own blocks come with the agents, but only this listing shows their tags)."""
    params = {"tags": [ownership.stack_tag(stack)]}
    read = [block.from_server(raw, stack) for raw in api.paginate("/v1/blocks/", params, page_size)]
    shared = tuple(survivor_first(b for b in read if block.is_shared(b)))
    return shared, frozenset(b.id for b in read)


def _stack_tagged(
    api: LettaApi, desired: DesiredState, shared: tuple[LiveBlock, ...], page_size: int
) -> list[str]:
    """The ids of blocks carrying any stack's tag, among those labelled as a declared shared
    block the stack lacks: an agent's own block made by another stack has the tag only, and
    must never be adopted as this stack's shared block."""
    have = {b.address for b in shared}
    labels = sorted({s.block.label for s in desired.blocks if s.address not in have})
    return [
        str(raw["id"])
        for label in labels
        for raw in api.paginate("/v1/blocks/", {"label": label}, page_size)
        if any(str(t).startswith(ownership.TAG_PREFIX) for t in raw.get("tags") or ())
    ]


def _counted(
    items: Iterable[JSON], every: int, progress: Callable[[str], None] | None
) -> Iterator[JSON]:
    for count, item in enumerate(items, 1):
        if progress is not None and count % every == 0:
            progress(f"Reading the server: {count:,} agents")
        yield item


def _read_conversations(
    api: LettaApi,
    stack: str,
    agent_ids: list[str],
    page_size: int,
    parallelism: int,
    *,
    marked_only: bool,
) -> tuple[tuple[LiveConversation, ...], tuple[LiveConversation, ...]]:
    """The stack's conversations on these agents, and those no stack has marked (read only
    when not `marked_only`: otherwise the server returns only summaries holding the stack's
    marker, so the conversations apps made on the same agents are not read)."""
    search = {"summary_search": ownership.conversation_marker_prefix(stack)} if marked_only else {}

    def listing(agent_id: str) -> list[JSON]:
        return list(api.paginate("/v1/conversations/", {"agent_id": agent_id, **search}, page_size))

    with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(agent_ids) or 1))) as pool:
        pages = list(pool.map(listing, agent_ids))
    found: list[LiveConversation] = []
    unmarked: list[LiveConversation] = []
    for raw in (raw for page in pages for raw in page):
        live = conversation.from_server(raw, stack)
        if live is not None:
            found.append(live)
        elif (other := conversation.unmarked_from_server(raw)) is not None:
            unmarked.append(other)
    return tuple(survivor_first(found)), tuple(unmarked)


def list_identities(
    api: LettaApi, stack: str, wanted_keys: set[str], page_size: int
) -> tuple[LiveIdentity, ...]:
    """Every identity on the server, kept when owned or holding a declared key."""
    listed: list[JSON] = []
    with _identities_api(api, wanted_keys):
        listed = list(api.paginate("/v1/identities/", None, page_size))
    return _kept_identities(listed, stack, wanted_keys)


def _identities_through_agents(
    api: LettaApi,
    stack: str,
    attached: list[JSON],
    wanted_keys: set[str],
    looked_up: tuple[str, ...] | None,
    parallelism: int,
    page_size: int,
) -> tuple[tuple[LiveIdentity, ...], IdentityReads]:
    """The identities attached to the stack's agents, and by key those declared but attached
    to none of them; or `looked_up`, the keys a saved plan's read looked up. When looking up
    the declared keys would take more requests than listing every identity (counted first),
    every identity is listed instead."""
    if looked_up is None:
        seen = {str(raw.get("identifier_key")) for raw in attached}
        keys = sorted(wanted_keys - seen)
        if len(keys) > 1 and len(keys) > _listing_pages(api, wanted_keys, page_size):
            return list_identities(api, stack, wanted_keys, page_size), IdentityReads()
        looked_up = tuple(keys)
    found = lookup_identities(api, stack, looked_up, wanted_keys, parallelism, page_size)
    read = _kept_identities([*attached, *found], stack, wanted_keys)
    return read, IdentityReads(listed=False, looked_up=looked_up)


def _listing_pages(api: LettaApi, wanted_keys: set[str], page_size: int) -> int:
    """How many requests listing every identity on the server takes."""
    count: JSON = 0
    with _identities_api(api, wanted_keys):
        count = api.get("/v1/identities/count")
    return (count if isinstance(count, int) else 0) // page_size + 1


def lookup_identities(
    api: LettaApi,
    stack: str,
    keys: Iterable[str],
    wanted_keys: set[str],
    parallelism: int = 8,
    page_size: int = 200,
) -> list[JSON]:
    """The identities holding `keys`, one lookup per key, `parallelism` at a time."""

    def lookup(key: str) -> list[JSON]:
        return list(api.paginate("/v1/identities/", {"identifier_key": key}, page_size))

    keys = list(keys)
    pages: list[list[JSON]] = []
    if not keys:
        return []
    with (
        _identities_api(api, wanted_keys),
        ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(keys)))) as pool,
    ):
        pages = list(pool.map(lookup, keys))
    return [raw for page in pages for raw in page]


def read_identities_by_key(
    api: LettaApi, desired: DesiredState, parallelism: int, page_size: int
) -> tuple[LiveIdentity, ...]:
    """The identities holding the keys `desired` declares, the stack's or not (one lookup per
    key: for a scoped run, which declares few)."""
    wanted = {spec.identifier_key for spec in desired.identities}
    found = lookup_identities(api, desired.stack, sorted(wanted), wanted, parallelism, page_size)
    return _kept_identities(found, desired.stack, wanted)


def _kept_identities(
    listed: Iterable[JSON], stack: str, wanted_keys: set[str]
) -> tuple[LiveIdentity, ...]:
    """The stack's identities and those holding a declared key, each once."""
    unique = {str(raw["id"]): raw for raw in listed}
    read = (identity.from_server(raw, stack) for raw in unique.values())
    return tuple(survivor_first(i for i in read if i.owned or i.identifier_key in wanted_keys))


@contextmanager
def _identities_api(api: LettaApi, wanted_keys: set[str]) -> Iterator[None]:
    """A server without the identities API (HTTP 404) holds none of the stack's identities;
    it is an error only when the stack declares identity users."""
    try:
        yield
    except ServerError as exc:
        if exc.status != 404:
            raise
        if wanted_keys:
            raise LettaApplyError(
                f"{api.target.label} has no identities API (HTTP 404 for /v1/identities/), "
                f"which the identity pattern needs for {len(wanted_keys)} user(s); serve them "
                "with the shared pattern (a conversation each) instead"
            ) from exc


def _read_tools(
    api: LettaApi, stack: str, names: list[str], page_size: int
) -> tuple[LiveTool, ...]:
    """The stack's tools (among the server's custom ones: tools have no tag filter), and by
    name the other tools its manifests name: built-in ones, and any holding a declared name."""
    custom = api.paginate("/v1/tools/", {"tool_types": ["custom"]}, page_size)
    found = {raw["id"]: tool.from_server(raw, stack) for raw in custom}
    owned = {t.id: t for t in found.values() if t.address is not None or t.tagged}
    for named in read_tools_by_name(api, stack, names, page_size):
        owned.setdefault(named.id, named)
    return tuple(survivor_first(owned.values()))


def read_tools_by_name(
    api: LettaApi, stack: str, names: list[str], page_size: int
) -> tuple[LiveTool, ...]:
    """The tools holding `names`, in batches of names per listing."""
    found: dict[str, LiveTool] = {}
    for start in range(0, len(names), FOREIGN_BATCH):
        params = {"names": names[start : start + FOREIGN_BATCH]}
        for raw in api.paginate("/v1/tools/", params, page_size):
            found.setdefault(raw["id"], tool.from_server(raw, stack))
    return tuple(survivor_first(found.values()))


def named_tools(desired: DesiredState) -> set[str]:
    """The names of the tools the manifests define or attach."""
    return {t.name for t in desired.tools} | {a.name for s in desired.agents for a in s.tools}


def read_mcp_tools(
    api: LettaApi, stack: str, servers: Iterable[LiveMcpServer], desired: DesiredState | None
) -> tuple[LiveTool, ...]:
    """The tools the MCP servers the stack's agents name provide, from each MCP server's own
    tool listing: the only way a tool is known as that server's (a tool's metadata is anyone's
    to write). One request per MCP server named."""
    named = (
        {t.provider.name for s in desired.agents for t in s.tools if t.provider != t}
        if desired
        else set()
    )
    return tuple(
        tool.from_server(raw, stack, mcp_server=server.name)
        for server in servers
        if server.name in named
        for raw in api.get(
            f"/v1/mcp-servers/{server.id}/tools", address=f"mcp-server/{server.name}"
        )
        or ()
    )


def with_mcp_tools(
    tools: Iterable[LiveTool], mcp_tools: Iterable[LiveTool]
) -> tuple[LiveTool, ...]:
    """The tools read by name, each MCP server's tools as its listing has them."""
    found = {t.id: t for t in tools}
    found.update((t.id, t) for t in mcp_tools)
    return tuple(survivor_first(found.values()))


def read_mcp_servers(api: LettaApi, stack: str) -> tuple[LiveMcpServer, ...]:
    """Every MCP server (the listing is not paginated; servers are few): the stack's are
    told by their mark, the others are needed to detect a name that is taken."""
    listed = api.get("/v1/mcp-servers/")
    return tuple(survivor_first(mcp_server.from_server(raw, stack, api.secrets) for raw in listed))


def read_user_tagged(
    api: LettaApi, stack: str, tags: list[str], parallelism: int = 8
) -> tuple[LiveAgent, ...]:
    """Every agent carrying one of `tags`, the stack's or not (a listing per batch of tags)."""

    def lookup(batch: list[str]) -> list[JSON]:
        return list(api.paginate("/v1/agents/", {"tags": batch, "include": ["agent.tags"]}))

    batches = [tags[i : i + FOREIGN_BATCH] for i in range(0, len(tags), FOREIGN_BATCH)]
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        pages = list(pool.map(lookup, batches))
    found = {raw["id"]: agent.from_server(raw, stack) for page in pages for raw in page}
    return tuple(found.values())


def _read_foreign(
    api: LettaApi,
    owned: tuple[LiveAgent, ...],
    desired: DesiredState,
    parallelism: int,
    adopt: bool = False,
) -> tuple[LiveAgent, ...]:
    """Agents of others carrying the `user:` tag of a dedicated user this stack will create;
    with `adopt`, read whole (blocks included), and also those named as a shared agent the
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
        if adopt and spec.user_tag is None and spec.address not in have
    ]
    include = list(agent.includes(desired)) if adopt else ["agent.tags"]

    def lookup(params: dict[str, JSON]) -> list[JSON]:
        return list(api.paginate("/v1/agents/", {**params, "include": include}))

    # The server matches any of the listed tags: one listing covers a whole batch of users.
    batches: list[dict[str, JSON]] = [
        {"tags": missing[i : i + FOREIGN_BATCH]} for i in range(0, len(missing), FOREIGN_BATCH)
    ]
    batches += [{"name": name} for name in names]
    if not batches:
        return ()
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        pages = list(pool.map(lookup, batches))
    found = {raw["id"]: agent.from_server(raw, desired.stack) for page in pages for raw in page}
    tag = ownership.stack_tag(desired.stack)
    return tuple(survivor_first(a for a in found.values() if tag not in a.tags))


def _user_tagged(live: LiveAgent) -> bool:
    return any(tag.startswith(USER_KEY_PREFIX) for tag in live.tags)
