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

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from functools import cached_property
from itertools import chain
from typing import TYPE_CHECKING

from reconciler import ownership, secrets
from reconciler.address import Address, AddressError, Kind
from reconciler.desired import AgentSpec, DesiredState
from reconciler.errors import LettaApplyError, ServerError
from reconciler.kinds import block, tool
from reconciler.kinds.agent_settings import (
    FOLLOWS_MODEL,
    PARTIAL,
    SETTINGS,
    rule_key,
)
from reconciler.kinds.common import (
    Resolve,
    adopt_tagged,
    adoptable,
    delete_if_present,
    first_owned,
    held_by,
    no_named_ids,
)
from reconciler.live.state import (
    LiveAgent,
    LiveBlock,
    LiveState,
    Part,
    Resource,
    ToolRef,
    by_address,
)
from reconciler.plan.builder import Builder, optional
from reconciler.plan.model import Adopt, Attach, Create, Delete, Detach, NoticeKind, Update
from reconciler.values import JSON, Frozen, freeze, freeze_shared, thaw

if TYPE_CHECKING:
    from reconciler.client import LettaApi

KIND = Kind.AGENT
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


def includes(desired: DesiredState | None) -> tuple[str, ...]:
    """What the stack's agent listing includes: agents' tools only when a manifest lists
    tools or tool rules for them (saved plans are applied without them)."""
    uses_tools = desired is not None and any(
        spec.tools or spec.exclusive_tools or "tool_rules" in spec.settings
        for spec in desired.agents
    )
    return (*INCLUDES, TOOLS_INCLUDE) if uses_tools else INCLUDES


GIT_MEMORY_TAG = "git-memory-enabled"
"""The server's own tag switching an agent to git-backed memory: never removed."""


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

    @cached_property
    def by_address(self) -> dict[Address, list[LiveAgent]]:
        return by_address(self.listed, lambda a: a.address)

    @cached_property
    def kept(self) -> dict[Address, LiveAgent]:
        """The agent the stack keeps at each address (the survivor)."""
        return {address: group[0] for address, group in self.by_address.items()}


LIVE = Part(KIND, Agents())
of = LIVE.of
named_ids = no_named_ids


def owned(live: LiveState) -> Mapping[Address, Sequence[Resource]]:
    """The stack's agents and, at their own addresses, the agents' own memory blocks and
    their sleep-time agents."""
    return live.derived(owned, lambda: _owned(live))


def _owned(live: LiveState) -> dict[Address, list[Resource]]:
    agents = of(live).by_address
    found: dict[Address, list[Resource]] = {
        address: list(group) for address, group in agents.items()
    }
    for address, group in agents.items():
        for agent in group:
            for own in block.on_agent(live, agent).own:
                found.setdefault(Address.agent_block(address, own.label), []).append(own)
    for companion, _agent in owned_companions(live):
        if companion.address is not None:
            found.setdefault(companion.address, []).append(companion)
    return found


def deleted_with(live: LiveState) -> Mapping[str, frozenset[str]]:
    """Agent id -> the ids of its own blocks, deleted with it; a sleep-time agent's id ->
    the blocks the stack marked on it."""
    found = {
        agent.id: frozenset(b.id for b in block.on_agent(live, agent).own)
        for group in of(live).by_address.values()
        for agent in group
    }
    found.update(
        (c.id, frozenset(b.id for b in companion_blocks(live, c, a)))
        for c, a in owned_companions(live)
    )
    return found


def fingerprinted(live: LiveState) -> Iterable[object]:
    # Agents' tools are read only when planning a stack that manages them: a saved plan is
    # applied without reading them again.
    part = of(live)
    return chain((replace(agent, tools=()) for agent in part.listed), part.companions)


def declared(desired: DesiredState) -> Iterable[Address]:
    """The declared agents and their own memory blocks."""
    for spec in desired.agents:
        yield spec.address
        yield from (Address.agent_block(spec.address, b.label) for b in spec.blocks)


def companions_of(
    live: LiveState, agent: LiveAgent
) -> tuple[tuple[LiveAgent, ...], tuple[str, ...]]:
    """The agent's sleep-time agents (in its group, their record naming it), and the ids of
    the other agents in its group (a tenant may add one): never changed or deleted."""
    read = {c.id: c for c in of(live).companions}
    address = Address.sleeptime_agent(agent.address) if agent.address is not None else None
    mine = tuple(read[i] for i in agent.companions if i in read and read[i].address == address)
    ids = {c.id for c in mine}
    return mine, tuple(i for i in agent.companions if i not in ids)


def companion_blocks(
    live: LiveState, companion: LiveAgent, agent: LiveAgent
) -> tuple[LiveBlock, ...]:
    """A sleep-time agent's own blocks: those the stack marked, not on the agent it serves."""
    served = {b.id for b in agent.blocks}
    return tuple(b for b in block.on_agent(live, companion).own if b.id not in served)


def owned_companions(live: LiveState) -> list[tuple[LiveAgent, LiveAgent]]:
    """Each sleep-time agent of the stack's agents, with the agent it serves."""
    return [
        (companion, agent)
        for agent in of(live).listed
        for companion in companions_of(live, agent)[0]
    ]


# Reading --------------------------------------------------------------------------------------


def from_server(raw: Mapping[str, JSON], stack: str) -> LiveAgent:
    """An agent as the server lists it (with `INCLUDES`)."""
    tags = freeze_shared(sorted(raw.get("tags") or ()))
    metadata = freeze_shared(raw.get("metadata") or {})
    return LiveAgent(
        id=str(raw["id"]),
        name=str(raw.get("name") or ""),
        address=_address(metadata, stack),
        created_at=str(raw.get("created_at") or ""),
        settings=_settings(raw),
        tags=tags,
        metadata=metadata,
        blocks=tuple(
            sorted((block.from_server(b, stack) for b in raw.get("blocks") or ()), key=_label)
        ),
        identity_ids=_identity_ids(raw),
        protected=ownership.metadata_protected(metadata, stack),
        tools=_tool_refs(raw),
        secret_names=tuple(sorted({str(s["key"]) for s in raw.get("secrets") or () if "key" in s})),
        companions=_companions(raw),
    )


def companion_from_server(raw: Mapping[str, JSON], stack: str) -> LiveAgent:
    """An agent of a sleep-time group: at `agent/<key>/sleeptime` when this stack's record
    names the agent it serves, otherwise without an address."""
    live = from_server(raw, stack)
    served = ownership.companion_of(live.metadata, stack)
    mine = served is not None and served.kind is KIND and served.owner is None
    return replace(live, address=Address.sleeptime_agent(served) if mine and served else None)


def _companions(raw: Mapping[str, JSON]) -> tuple[str, ...]:
    """The sleep-time agents the server made for this one (its managed group's members)."""
    group = raw.get("managed_group") or raw.get("multi_agent_group")
    if not isinstance(group, Mapping) or group.get("manager_type") != "sleeptime":
        return ()
    return tuple(sorted(str(i) for i in group.get("agent_ids") or ()))


def _tool_refs(raw: Mapping[str, JSON]) -> tuple[ToolRef, ...]:
    refs = (
        ToolRef(str(t["id"]), str(t.get("name") or ""), str(t.get("tool_type") or ""))
        for t in raw.get("tools") or ()
    )
    return tuple(sorted(refs, key=lambda ref: (ref.name, ref.id)))


def _settings(raw: Mapping[str, JSON]) -> Frozen:
    """The settings the server holds a value for (a missing one reads as unset)."""
    read = ((s.name, s.read(raw)) for s in SETTINGS)
    return Frozen({name: freeze_shared(value) for name, value in read if value is not None})


def _label(live: LiveBlock) -> tuple[str, str]:
    return (live.label, live.id)


def _address(metadata: Frozen, stack: str) -> Address | None:
    """The owned agent's address, from the stack's ownership record. Tags alone never make
    an agent the stack's: anyone can add the stack's tag to an agent."""
    recorded = ownership.metadata_address(metadata, stack)
    mine = recorded is not None and recorded.kind is KIND and recorded.owner is None
    return recorded if mine else None


def _identity_ids(raw: Mapping[str, JSON]) -> tuple[str, ...]:
    ids = {str(i["id"]) for i in raw.get("identities") or ()}
    ids.update(str(i) for i in raw.get("identity_ids") or ())
    return tuple(sorted(ids))


# Planning -------------------------------------------------------------------------------------


def plan(desired: DesiredState, live: LiveState, out: Builder) -> None:
    """Create, update, report or delete the stack's agents."""
    children = _own_blocks(live)
    protected = _protected_in(live)
    kept = out.keep_survivors(of(live).by_address, "agents", protected, children)
    unknown: dict[str, list[str]] = {}
    for spec in desired.agents:
        current = kept.get(spec.address)
        tools = _usable_tools(spec, desired, live, unknown)
        if current is None:
            _create(spec, desired.stack, live, out, tools)
        else:
            wanted = _managed(spec, desired.stack, kept_tags=_unmanaged_tags(spec, current))
            if spec.secrets is not None:
                wanted["secrets"] = _secret_states(spec, current)
            out.update(
                spec.address,
                current.id,
                _current(current, spec),
                wanted,
                _send(spec, current, desired.stack),
                unordered=("tags",),
            )
            _link_tools(spec, current, tools, out)
            block.plan_on_agent(desired, spec, current, live, out)
    for name, users in sorted(unknown.items()):
        out.notice(
            NoticeKind.BLOCKED,
            Address.tool(name),
            f"no tool named {name!r} on the server, and the stack defines none; "
            f"not attached to {len(users)} agent(s) listing it (e.g. {users[0]})",
        )
    out.undeclared(kept, (spec.address for spec in desired.agents), protected, children)
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


def _protected_in(live: LiveState) -> Callable[[LiveAgent], bool]:
    """Protected, or in a sleep-time group with an agent not made for it: deleting the agent
    makes the server delete every agent of its group."""
    return lambda agent: agent.protected or bool(companions_of(live, agent)[1])


def _plan_companions(
    desired: DesiredState, live: LiveState, kept: Mapping[Address, LiveAgent], out: Builder
) -> None:
    """Delete the sleep-time agents of the agents switched off or deleted, with the blocks the
    stack marked on them; report the other agents in their groups, left alone."""
    off = {s.address for s in desired.agents if s.settings.get("enable_sleeptime") is False}
    deleted = {
        c.resource_id for c in out.changes if isinstance(c, Delete) and c.address.kind is KIND
    }
    for agent in of(live).listed:
        if agent.address is None or not agent.companions:
            continue
        mine, others = companions_of(live, agent)
        if others:
            out.notice(
                NoticeKind.CONFLICT,
                agent.address,
                f"{len(others)} agent(s) in its sleep-time group were not made for it by this "
                "stack; left alone, and the agent is not deleted while they are in its group",
                resource_ids=others,
            )
        if agent.id in deleted:
            reason = "deleted with the agent it serves"
        elif agent.address in off and kept.get(agent.address) is agent:
            reason = "enableSleeptime is off"
        else:
            continue
        for companion in mine:
            children = tuple(b.id for b in companion_blocks(live, companion, agent))
            address = Address.sleeptime_agent(agent.address)
            out.change(Delete(address, companion.id, reason, children, companion.tags))


def _managed(spec: AgentSpec, stack: str, *, kept_tags: tuple[str, ...] = ()) -> dict[str, JSON]:
    """The agent fields the stack manages, as the server should hold them. `kept_tags` are
    tags on the server the stack leaves alone (see `_unmanaged_tags`)."""
    metadata = ownership.agent_metadata(
        stack, spec.address, spec.metadata, protected=spec.protected
    )
    return {
        "name": spec.name,
        **spec.settings,
        "tags": sorted({*spec.tags, *kept_tags, ownership.stack_tag(stack)}),
        "metadata": metadata,
    }


def _metadata(spec: AgentSpec, stack: str) -> dict[str, JSON]:
    """The metadata to write: declared keys and the ownership record (the digests of the
    secrets sent with it are added as the request is made, never planned)."""
    return ownership.agent_metadata(stack, spec.address, spec.metadata, protected=spec.protected)


def _unmanaged_tags(spec: AgentSpec, agent: LiveAgent) -> tuple[str, ...]:
    """The live agent's tags the stack does not manage: the server's own git-memory switch,
    and those matching the stack's `ignoreTags` patterns (set by apps at run time)."""
    return tuple(
        tag
        for tag in agent.tags
        if tag == GIT_MEMORY_TAG or any(fnmatchcase(tag, p) for p in spec.ignore_tags)
    )


def _current(agent: LiveAgent, spec: AgentSpec) -> dict[str, JSON]:
    """The live agent's managed fields; of a partial settings object only the keys the
    manifest declares."""
    settings = {
        name: _project(value, spec.settings.get(name)) if name in PARTIAL else value
        for name, value in agent.settings.items()
    }
    if "tool_rules" in settings:
        server = _server_rules(agent, spec)
        settings["tool_rules"] = [r for r in settings["tool_rules"] if r not in server]
    current = {
        "name": agent.name,
        **settings,
        "tags": sorted(agent.tags),
        "metadata": ownership.without_secrets(agent.metadata),
    }
    if spec.secrets is not None:
        current["secrets"] = dict.fromkeys(agent.secret_names, secrets.SET)
    return current


def _secret_states(spec: AgentSpec, agent: LiveAgent) -> dict[str, JSON]:
    """Each declared secret as the plan shows it: unchanged only when the server has it and
    the stack's ownership record holds the digest of the declared value."""
    recorded = ownership.secret_digests(agent.metadata)
    names = set(agent.secret_names)
    return {
        secret.name: secrets.state(secret, _text(recorded.get(secret.name)), secret.name in names)
        for secret in spec.secrets or ()
    }


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _project(live: JSON, declared: JSON) -> JSON:
    """`live` reduced to the keys `declared` has, level by level."""
    if not isinstance(live, Mapping) or not isinstance(declared, Mapping):
        return live
    return {key: _project(live.get(key), declared[key]) for key in declared if key in live}


def _server_rules(agent: LiveAgent, spec: AgentSpec) -> list[JSON]:
    """Rules the server added for its base tools (it lets them continue the loop), which the
    manifest does not declare: kept, and not shown as drift."""
    base = {ref.name for ref in agent.tools if ref.is_base}
    declared = spec.settings.get("tool_rules") or ()
    rules = agent.settings.get("tool_rules") or ()
    return [r for r in rules if r.get("tool_name") in base and r not in declared]


def _send(
    spec: AgentSpec, agent: LiveAgent, stack: str
) -> Callable[[Mapping[str, JSON]], Mapping[str, JSON]]:
    """The update's body: a new model handle resets what the server derives from it (context
    window, model and compaction settings), so the declared ones go with it; the server
    replaces tool rules whole, so its own base-tool rules go with the declared ones."""

    def send(changed: Mapping[str, JSON]) -> Mapping[str, JSON]:
        body = dict(changed)
        if spec.secrets is not None and ("secrets" in body or "metadata" in body):
            # The server replaces secrets whole; the record keeps the digests written.
            body["secrets"] = secrets.planned(spec.secrets)
            body["metadata"] = _metadata(spec, stack)
        if "tool_rules" in body:
            rules = [*body["tool_rules"], *_server_rules(agent, spec)]
            body["tool_rules"] = sorted(rules, key=rule_key)
        if "model" not in body:
            return body
        again = {name: spec.settings[name] for name in FOLLOWS_MODEL if name in spec.settings}
        return {**again, **body}

    return send


def _usable_tools(
    spec: AgentSpec, desired: DesiredState, live: LiveState, unknown: dict[str, list[str]]
) -> tuple[Address, ...]:
    """The agent's declared tools that exist or that the stack makes in this run. A tool the
    stack defines but cannot make (its name is taken) is never replaced by the one holding
    the name; a name nothing holds is reported once for all agents listing it."""
    defined = {tool.address for tool in desired.tools}
    servers = {server.address for server in desired.mcp_servers}
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
                unknown.setdefault(str(address).removeprefix("tool/"), []).append(str(spec.address))
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
    body = {
        **_managed(spec, stack),
        "metadata": _metadata(spec, stack),
        "memory_blocks": [{**block.body(b), **block.tag(stack)} for b in spec.blocks],
        **optional(include_base_tools=spec.include_base_tools),
        **({"secrets": secrets.planned(spec.secrets)} if spec.secrets else {}),
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
    return lambda agent: tuple(b.id for b in block.on_agent(live, agent).own)


# Server calls ---------------------------------------------------------------------------------


def create(api: LettaApi, stack: str, change: Create, resolve: Resolve) -> str:
    """Create the agent with its own blocks, its shared blocks attached by id."""
    links = {
        "block_ids": [resolve(a) for a in change.links if a.kind is Kind.BLOCK],
        "tool_ids": [tool.tool_id(api, a, resolve) for a in change.links if a.kind is Kind.TOOL],
    }
    body = {**thaw(change.body), **{field: ids for field, ids in links.items() if ids}}

    def find() -> JSON | None:
        params = {"tags": [ownership.stack_tag(stack)], "name": body["name"], "limit": 50}
        found = api.get("/v1/agents/", params, address=str(change.address))
        return first_owned(found, stack, change.address)

    model_settings = body.pop("model_settings", None)
    if "secrets" in body:
        _reveal_secrets(api, change.address, body)
    created = api.create("/v1/agents/", body, address=str(change.address), find_existing=find)
    if model_settings is not None:
        _set_model_settings(api, created, model_settings, change.address)
    if body.get("enable_sleeptime"):
        _mark_companions(api, created, change.address)
    return str(created["id"])


def update(api: LettaApi, change: Update) -> None:
    """Send the changed fields; model settings last, over what the server then holds."""
    body = thaw(change.body)
    model_settings = body.pop("model_settings", None)
    if "secrets" in body:
        _reveal_secrets(api, change.address, body)
    path = f"/v1/agents/{change.resource_id}"
    current = api.patch(path, body, address=str(change.address)) if body else None
    if model_settings is not None:
        current = current or api.get(path, address=str(change.address))
        _set_model_settings(api, current, model_settings, change.address)
    if body.get("enable_sleeptime") and current is not None:
        _mark_companions(api, current, change.address)


def _mark_companions(api: LettaApi, agent: Mapping[str, JSON], address: Address) -> None:
    """Mark the sleep-time agents the server just made for `agent` (as its create or update
    answered) as its companions: no tag (they are not the stack's agents and carry no user
    tag), an ownership record naming the agent they serve; and their own blocks (those not
    on `agent`) with the stack's tag, so they go when the sleep-time agent does."""
    stack = ownership.recorded_stack(agent.get("metadata"))
    if stack is None:
        raise LettaApplyError(f"{address}: the agent has no ownership record")
    params = {"include": ["agent.managed_group", "agent.blocks"]}
    if not _companions(agent):
        agent = api.get(f"/v1/agents/{agent['id']}", params, address=str(address))
    served = {str(b["id"]) for b in agent.get("blocks") or ()}
    for companion in _companions(agent):
        path = f"/v1/agents/{companion}"
        current = api.get(path, address=str(address))
        metadata = {
            **(current.get("metadata") or {}),
            ownership.METADATA_KEY: ownership.companion_record(stack, address),
        }
        api.patch(path, {"metadata": metadata}, address=str(address))
        for own in api.get(f"{path}/core-memory/blocks", address=str(address)) or ():
            if str(own["id"]) not in served:
                tags = sorted({*(own.get("tags") or ()), ownership.stack_tag(stack)})
                api.patch(f"/v1/blocks/{own['id']}", {"tags": tags}, address=str(address))


def _reveal_secrets(api: LettaApi, address: Address, body: dict[str, JSON]) -> None:
    """The secrets' values, read from the environment as the request is made, and their
    digests in the ownership record the request writes with them."""
    values = api.secrets.reveal(body["secrets"], address)
    body["secrets"] = values
    body["metadata"] = ownership.with_secret_digests(
        body["metadata"], api.secrets.record(address, values)
    )


def _set_model_settings(api: LettaApi, agent: JSON, declared: JSON, address: Address) -> None:
    """The server takes model settings whole, typed by the provider it keeps in them: send
    what it holds with the declared keys changed, so the others keep their values."""
    held = agent.get("model_settings") if isinstance(agent, Mapping) else None
    merged = _merged(held if isinstance(held, Mapping) else {}, declared)
    path = f"/v1/agents/{agent['id']}"
    api.patch(path, {"model_settings": merged}, address=str(address))


def _merged(held: Mapping[str, JSON], declared: JSON) -> dict[str, JSON]:
    merged = dict(held)
    for key, value in declared.items() if isinstance(declared, Mapping) else ():
        inner = merged.get(key)
        merged[key] = (
            _merged(inner, value)
            if isinstance(inner, Mapping) and isinstance(value, Mapping)
            else value
        )
    return merged


def delete(api: LettaApi, change: Delete) -> None:
    """Delete the agent, then its own blocks (the server leaves them behind). A sleep-time
    agent already gone went with the agent it served (the server deletes the group)."""
    path = f"/v1/agents/{change.resource_id}"
    if change.address.owner is not None:
        delete_if_present(api, path, change.address)
    else:
        api.delete(path, address=str(change.address))
    for block_id in change.owned_children:
        delete_if_present(api, f"/v1/blocks/{block_id}", change.address)


def read_companions(
    api: LettaApi, stack: str, agents: Sequence[LiveAgent], parallelism: int
) -> tuple[tuple[LiveAgent, ...], frozenset[str]]:
    """The agents in the sleep-time groups of `agents`, each read by id with its memory, and
    the ids of their blocks carrying the stack's tag (only a read of an agent's memory shows
    blocks' tags). One request pair per sleep-time agent; none for a stack without them."""
    ids = sorted({i for agent in agents for i in agent.companions})
    if not ids:
        return (), frozenset()

    def read(agent_id: str) -> tuple[JSON, JSON] | None:
        path = f"/v1/agents/{agent_id}"
        try:
            return api.get(path, {"include": ["agent.tags"]}), api.get(f"{path}/core-memory/blocks")
        except ServerError as exc:
            if exc.status == 404:
                return None  # gone since the group was read
            raise

    with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(ids)))) as pool:
        found = [pair for pair in pool.map(read, ids) if pair is not None]
    tag = ownership.stack_tag(stack)
    companions = tuple(
        companion_from_server({**raw, "blocks": blocks or []}, stack) for raw, blocks in found
    )
    tagged = frozenset(
        str(b["id"]) for _, blocks in found for b in blocks or () if tag in (b.get("tags") or ())
    )
    return companions, tagged


def adopt(api: LettaApi, stack: str, change: Adopt, _resolve: Resolve) -> str:
    """Mark an existing agent as the stack's agent at the change's address."""
    path = f"/v1/agents/{change.resource_id}"
    adopt_tagged(api, stack, path, change.address, {"include": ["agent.tags"]})
    return str(change.resource_id)
