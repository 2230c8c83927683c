"""Agents: a user's dedicated agent (`agent/user:<id>`) or a shared agent (`agent/<name>`).

Keyed by the address in the ownership record of their metadata; an agent carrying the stack's
tag without a record is reported, never changed. Compared on their name, tags, metadata
and the fields of `SETTINGS`, the table of managed agent fields: a new managed field is a
row there plus its key in the manifest schema. Deleting an agent also deletes its own memory
blocks, which the server would leave behind.

An agent with `enableSleeptime` gets a sleep-time agent the server makes in a group with it; the
stack marks it (a record naming the agent it serves, no tag) and its own blocks (the stack's
tag). Switching it off, or deleting the agent, plans a delete of that sleep-time agent at
`agent/<key>/sleeptime` with the blocks the stack marked on it; any other agent in the group
is reported and left alone, and an agent whose group holds one is not deleted (the server
would delete the whole group with it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from reconciler import ownership
from reconciler.address import Address, AddressError, Kind
from reconciler.desired import AgentSpec, DesiredState
from reconciler.kinds import block, tool
from reconciler.kinds.agent_adopt import adopting
from reconciler.kinds.agent_read import (
    LIVE,
    Agents,
    blocks_of,
    companion_blocks,
    companion_from_server,
    companions_of,
    deleted_with,
    fingerprinted,
    from_server,
    includes,
    listing,
    named_ids,
    of,
    owned,
    read,
    read_record,
    read_user_tagged,
    user_tagged,
)
from reconciler.kinds.agent_record import (
    INCLUDES,
    LISTED,
    ROUTE,
    SHAPE,
    TOOLS_INCLUDE,
    AgentRecord,
)
from reconciler.kinds.agent_settings import FIELDS, Held
from reconciler.kinds.common import (
    Resolve,
    adopt_tagged,
    adoptable,
    delete_if_present,
    first_owned,
    held_by,
)
from reconciler.live.state import LiveAgent, LiveState
from reconciler.plan.builder import Builder, optional
from reconciler.plan.model import Adopt, Attach, Create, Delete, Detach, NoticeKind, Update
from reconciler.secrets import NEW
from reconciler.values import JSON, freeze, thaw

if TYPE_CHECKING:
    from reconciler.client import LettaApi

__all__ = [
    "GIT_MEMORY_TAG",
    "INCLUDES",
    "KIND",
    "LIVE",
    "ROUTE",
    "TOOLS_INCLUDE",
    "Agents",
    "adopt",
    "adopting",
    "companion_from_server",
    "create",
    "declared",
    "delete",
    "deleted_with",
    "fingerprinted",
    "from_server",
    "includes",
    "listing",
    "named_ids",
    "needs",
    "of",
    "owned",
    "plan",
    "read",
    "read_record",
    "read_user_tagged",
    "shown",
    "update",
    "user_tagged",
]
"""The agent kind, as the registry and its users see it: what this module holds (planning,
server calls) and what `reconciler.kinds.agent_read` holds (its live part, its reading)."""

KIND = Kind.AGENT
GIT_MEMORY_TAG = "git-memory-enabled"
"""The server's own tag switching an agent to git-backed memory: never removed."""


def declared(desired: DesiredState) -> Iterable[Address]:
    """The declared agents and their own memory blocks."""
    for spec in desired.agents:
        yield spec.address
        yield from (Address.agent_block(spec.address, b.label) for b in spec.blocks)


def shown(change: Create) -> Mapping[str, JSON]:
    """The secrets by name only, and the sleep-time agent the server makes with it."""
    shown = dict(change.body)
    if isinstance(shown.get("secrets"), Mapping):
        shown["secrets"] = dict.fromkeys(shown["secrets"], NEW)
    if shown.get("enable_sleeptime"):
        shown["sleeptime_agent"] = f"{shown.get('name')}-sleeptime (made by the server)"
    return shown


def needs(desired: DesiredState) -> Iterable[tuple[Address, Iterable[Address]]]:
    """An agent needs the shared blocks and tools it links; its own blocks need it."""
    for spec in desired.agents:
        yield spec.address, (*spec.shared_blocks, *spec.tools)
        yield from (
            (Address.agent_block(spec.address, b.label), (spec.address,)) for b in spec.blocks
        )


# Planning -------------------------------------------------------------------------------------


def plan(desired: DesiredState, live: LiveState, out: Builder) -> None:
    """Create, update, report or delete the stack's agents."""
    children = _own_blocks(live)
    kept = out.keep_survivors(of(live).by_address, "agents", _protected, children)
    unknown: dict[str, list[str]] = {}
    made = _made_tools(desired)
    links = block.shared_links(desired, live)
    for spec in desired.agents:
        current = kept.get(spec.address)
        tools = _usable_tools(spec, made, live, unknown)
        if current is None:
            _create(spec, desired.stack, live, out, tools)
        else:
            held = _held(spec, desired.stack, current)
            wanted = _managed(spec, desired.stack, held, kept_tags=_unmanaged_tags(spec, current))
            out.update(
                spec.address,
                current.id,
                _current(current, held),
                wanted,
                _send(held),
                unordered=("tags",),
            )
            _link_tools(spec, current, tools, out)
            block.plan_on_agent(desired.stack, spec, current, blocks_of(live, current), links, out)
    for name, users in sorted(unknown.items()):
        out.notice(
            NoticeKind.BLOCKED,
            Address.tool(name),
            f"no tool named {name!r} on the server, and the stack defines none; "
            f"not attached to {len(users)} agent(s) listing it (e.g. {users[0]})",
        )
    out.undeclared(kept, (spec.address for spec in desired.agents), _protected, children)
    _plan_companions(desired, live, kept, out)
    for agent in of(live).listed:
        if agent.address is None:
            out.notice(
                NoticeKind.CONFLICT,
                None,
                f"agent {agent.name!r} carries the stack's tag but no ownership record; "
                "left alone (adopt it to manage it)",
                resource_ids=(agent.id,),
            )


def _protected(agent: LiveAgent) -> bool:
    return agent.protected


def _plan_companions(
    desired: DesiredState, live: LiveState, kept: Mapping[Address, LiveAgent], out: Builder
) -> None:
    """Delete the sleep-time agents of the agents switched off or deleted, with the blocks the
    stack marked on them; report the other agents in their groups, left alone. An agent whose
    group holds one is not deleted: the server deletes every agent of the group with it."""
    off = {s.address for s in desired.agents if s.settings.get("enable_sleeptime") is False}
    deletes = {
        c.resource_id: c for c in out.changes if isinstance(c, Delete) and c.address.kind is KIND
    }
    for agent in of(live).listed:
        if agent.address is None or not agent.companions:
            continue
        mine, others = companions_of(live, agent)
        going = deletes.get(agent.id)
        if others:
            if going is not None:
                out.changes.remove(going)
            kept_too = "; the agent is not deleted: the server would delete them with it"
            out.notice(
                NoticeKind.CONFLICT,
                agent.address,
                f"{len(others)} agent(s) in its sleep-time group were not made for it by this "
                f"stack; left alone{kept_too if going is not None else ''}",
                resource_ids=others,
            )
        if going is not None and not others:
            reason = "deleted with the agent it serves"
        elif agent.address in off and kept.get(agent.address) is agent:
            reason = "enableSleeptime is off"
        else:
            continue
        for companion in mine:
            children = tuple(b.id for b in companion_blocks(live, companion, agent))
            address = Address.sleeptime_agent(agent.address)
            out.change(Delete(address, companion.id, reason, children, companion.tags))


def _held(spec: AgentSpec, stack: str, agent: LiveAgent | None) -> Held:
    """What the fields' hooks see of the agent. The metadata the stack writes holds the
    declared keys and the ownership record (the digests of the secrets sent with it are
    added as the request is made, never planned)."""
    metadata = ownership.agent_metadata(
        stack, spec.address, spec.metadata, protected=spec.protected
    )
    return Held(agent, spec.settings, spec.secrets, metadata)


def _managed(
    spec: AgentSpec, stack: str, held: Held, *, kept_tags: tuple[str, ...] = ()
) -> dict[str, JSON]:
    """The agent fields the stack manages, as the server should hold them. `kept_tags` are
    tags on the server the stack leaves alone (see `_unmanaged_tags`)."""
    return {
        "name": spec.name,
        **{field.name: value for field in FIELDS if (value := field.wanted(held)) is not None},
        "tags": sorted({*spec.tags, *kept_tags, ownership.stack_tag(stack)}),
        "metadata": dict(held.metadata),
    }


def _unmanaged_tags(spec: AgentSpec, agent: LiveAgent) -> tuple[str, ...]:
    """The live agent's tags the stack does not manage: the server's own git-memory switch,
    and those matching the stack's `ignoreTags` patterns (set by apps at run time)."""
    return tuple(
        tag
        for tag in agent.tags
        if tag == GIT_MEMORY_TAG or any(fnmatchcase(tag, p) for p in spec.ignore_tags)
    )


def _current(agent: LiveAgent, held: Held) -> dict[str, JSON]:
    """The live agent's managed fields, each as its field compares it."""
    return {
        "name": agent.name,
        **{field.name: value for field in FIELDS if (value := field.live(held)) is not None},
        "tags": sorted(agent.tags),
        "metadata": ownership.without_secrets(agent.metadata),
    }


def _send(held: Held) -> Callable[[Mapping[str, JSON]], Mapping[str, JSON]]:
    """The update's body: the changed fields, each field completing it where the server
    wants more (`complete`)."""

    def send(changed: Mapping[str, JSON]) -> Mapping[str, JSON]:
        body = dict(changed)
        for field in FIELDS:
            field.complete(body, held)
        return body

    return send


MadeTools = tuple[frozenset[Address], frozenset[Address]]
"""The addresses of the tools and of the MCP servers the stack defines."""


def _made_tools(desired: DesiredState) -> MadeTools:
    """The stack's `MadeTools`, worked out once a plan."""
    return (
        frozenset(tool.address for tool in desired.tools),
        frozenset(server.address for server in desired.mcp_servers),
    )


def _usable_tools(
    spec: AgentSpec,
    made: MadeTools,
    live: LiveState,
    unknown: dict[str, list[str]],
) -> tuple[Address, ...]:
    """The agent's declared tools that exist or that the stack makes in this run (`made`:
    `_made_tools`). A tool the stack defines but cannot make (its name is taken) is never
    replaced by the one holding the name; a name nothing holds is reported once for all
    agents listing it."""
    if not spec.tools:
        return ()
    defined, servers = made
    tools = tool.of(live)
    usable = []
    for address in spec.tools:
        other = tools.others.get(address.name)
        if address.provider in servers:
            usable.append(address)  # the server registers its tools as it is made
        elif address.provider != address:
            if other is not None and other.mcp_server == address.parts[0]:
                usable.append(address)
            else:
                unknown.setdefault(address.reference, []).append(str(spec.address))
        elif address in defined:
            if address in tools.by_address or address.name not in tools.others:
                usable.append(address)
        elif other is not None:
            usable.append(address)
        else:
            unknown.setdefault(address.name, []).append(str(spec.address))
    return tuple(usable)


def _link_tools(
    spec: AgentSpec, agent: LiveAgent, tools: tuple[Address, ...], out: Builder
) -> None:
    """Attach the declared tools the agent lacks; with `toolPolicy: exact`, detach the others
    (the server's base tools stay unless `includeBaseTools` is false)."""
    attached = {ref.name for ref in agent.tools}
    for address in tools:
        if address.name not in attached:
            out.change(Attach(address, spec.address))
    if not spec.exclusive_tools:
        return
    declared = {address.name for address in spec.tools}
    for ref in agent.tools:
        if ref.name in declared or (ref.is_base and spec.include_base_tools is not False):
            continue
        try:
            address = Address.tool(ref.name)
        except AddressError:
            continue  # a name no address can hold is not one the stack could have attached
        out.change(Detach(address, spec.address, ref.id))


def _create(
    spec: AgentSpec, stack: str, live: LiveState, out: Builder, tools: tuple[Address, ...]
) -> None:
    held = _held(spec, stack, None)
    body = {
        **_managed(spec, stack, held),
        **{field.name: value for field in FIELDS if (value := field.created(held)) is not None},
        "memory_blocks": [{**block.body(b), **block.tag(stack)} for b in spec.blocks],
        **optional(include_base_tools=spec.include_base_tools),
    }
    others = _foreign(spec, live)
    if others:
        out.notice(
            NoticeKind.BLOCKED,
            spec.address,
            _tag_taken(spec, others),
            resource_ids=tuple(a.id for a in others),
        )
        return
    out.change(Create(spec.address, freeze(body), links=(*spec.shared_blocks, *tools)))


def _foreign(spec: AgentSpec, live: LiveState) -> tuple[LiveAgent, ...]:
    """Agents the stack does not own carrying the user's lookup tag."""
    tag = spec.user_tag
    return tuple(a for a in of(live).foreign if tag is not None and tag in a.tags)


def _tag_taken(spec: AgentSpec, others: tuple[LiveAgent, ...]) -> str:
    """Why the user's agent is not created, naming who holds its tag, and what can be done:
    adoption only where it would take the agent (one, and no stack's)."""
    owners = [ownership.recorded_stack(a.metadata) for a in others]
    verb = "carries" if len(others) == 1 else "carry"
    found = (
        f"{held_by(owners, 'agent')} already {verb} {spec.user_tag}, so apps looking the "
        "user's agent up by tag would find either"
    )
    if adoptable(owners):
        return f"{found}; adopt it (--adopt), or give the stack its own defaults.userTag"
    if any(owners):
        return (
            f"{found}; a user is served by one stack: declare it in one stack only, or give "
            "this stack its own defaults.userTag"
        )
    return (
        f"{found}; --adopt takes none while several do: remove the tag from all but one, or "
        "give the stack its own defaults.userTag"
    )


def _own_blocks(live: LiveState) -> Callable[[LiveAgent], tuple[str, ...]]:
    """An agent's own blocks (made by the stack, not shared): removed along with the agent."""
    return lambda agent: tuple(b.id for b in blocks_of(live, agent).own)


# Server calls ---------------------------------------------------------------------------------


def create(api: LettaApi, stack: str, change: Create, resolve: Resolve) -> str:
    """Create the agent with its own blocks, its shared blocks attached by id."""
    links = {
        "block_ids": [resolve(a) for a in change.links if a.kind is Kind.BLOCK],
        "tool_ids": [tool.tool_id(api, a, resolve) for a in change.links if a.kind is Kind.TOOL],
    }
    body = {**thaw(change.body), **{field: ids for field, ids in links.items() if ids}}

    where = str(change.address)

    def find() -> AgentRecord | None:
        params = {"tags": [ownership.stack_tag(stack)], "name": body["name"], "limit": 50}
        found = SHAPE.parse_all(api.get(ROUTE, params, address=where), LISTED, where)
        return first_owned(found, stack, change.address)

    later = _deferred(body)
    for field in FIELDS:
        field.request(api, body, change.address)
    answer = api.create(ROUTE, body, address=where, find_existing=find)
    created = SHAPE.parse(answer, f"POST {ROUTE}", where)
    _after(api, created, {**body, **later}, change.address)
    return created["id"]


def update(api: LettaApi, change: Update) -> None:
    """Send the changed fields, then each setting's step after the update (model settings
    last, over what the server then holds)."""
    body = thaw(change.body)
    later = _deferred(body)
    for field in FIELDS:
        field.request(api, body, change.address)
    path, where = f"{ROUTE}{change.resource_id}", str(change.address)
    answer = api.patch(path, body, address=where) if body else None
    if any(f.after is not None and f.name in {*body, *later} for f in FIELDS):
        route = f"PATCH {path}" if answer else f"GET {path}"
        current = SHAPE.parse(answer or api.get(path, address=where), route, where)
        _after(api, current, {**body, **later}, change.address)


def _deferred(body: dict[str, JSON]) -> dict[str, JSON]:
    """The settings sent only after the create or update, taken out of its body."""
    return {f.name: body.pop(f.name) for f in FIELDS if f.deferred and f.name in body}


def _after(api: LettaApi, agent: AgentRecord, sent: Mapping[str, JSON], address: Address) -> None:
    """Each setting's step after the create or update that carried it (`Setting.after`)."""
    for field in FIELDS:
        if field.after is not None and field.name in sent:
            field.after(api, agent, sent[field.name], address)


def delete(api: LettaApi, change: Delete) -> None:
    """Delete the agent, then its own blocks (the server leaves them behind). A sleep-time
    agent already gone went with the agent it served (the server deletes the group)."""
    path = f"{ROUTE}{change.resource_id}"
    if change.address.owner is not None:
        delete_if_present(api, path, change.address)
    else:
        api.delete(path, address=str(change.address))
    for block_id in change.owned_children:
        delete_if_present(api, f"{block.ROUTE}{block_id}", change.address)


def adopt(api: LettaApi, stack: str, change: Adopt, _resolve: Resolve) -> str:
    """Mark an existing agent as the stack's agent at the change's address."""
    path, where = f"{ROUTE}{change.resource_id}", str(change.address)
    answer = api.get(path, {"include": ["agent.tags"]}, address=where)
    current = SHAPE.parse(answer, f"GET {path}", where)
    adopt_tagged(api, stack, path, change.address, current, current["tags"])
    return str(change.resource_id)
