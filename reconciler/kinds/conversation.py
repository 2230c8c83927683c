"""Conversations: one per shared-pattern user on a shared agent (`conversation/<agent>/<user>`).

Conversations have no tags or metadata: the ownership marker is the end of the summary,
`[letta-apply:<stack>/<user>]`, written with the create so a lost answer can be read back by
searching for it. The summary (without the marker) is the one managed field.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, NotRequired, TypedDict

from reconciler import ownership
from reconciler.address import Address, AddressError, Kind
from reconciler.desired import ConversationSpec, DesiredState
from reconciler.errors import LettaApplyError
from reconciler.kinds import agent as agents
from reconciler.kinds.common import (
    Adoption,
    Reading,
    Resolve,
    created_id,
    delete_if_present,
    no_named_ids,
    nothing_deleted_with,
    nothing_recorded,
    only,
    refuse_other_owner,
    shown_as_sent,
)
from reconciler.live.state import (
    LiveAgent,
    LiveConversation,
    LiveState,
    Part,
    Resource,
    by_address,
    survivor_first,
)
from reconciler.plan.builder import Builder
from reconciler.plan.diff import field_changes
from reconciler.plan.model import Adopt, Create, Delete, FieldChange, Update
from reconciler.shape import Shape
from reconciler.values import JSON, freeze, thaw

if TYPE_CHECKING:
    from reconciler.client import LettaApi

KIND = Kind.CONVERSATION
ROUTE = "/v1/conversations/"
LISTED = f"GET {ROUTE}"


class ConversationRecord(TypedDict):
    """A conversation as the server answers it, with the fields letta-apply reads."""

    id: str
    agent_id: str
    summary: str | None
    """Ends with the stack's ownership marker (`reconciler.ownership`)."""
    created_at: NotRequired[str | None]
    last_message_at: NotRequired[str | None]


SHAPE = Shape(ConversationRecord)


@dataclass(frozen=True)
class Addresses:
    """The addresses of the stack's conversations, worked out as their pages came (while the
    server was still answering), against the agents read with them (`basis`)."""

    basis: agents.Agents
    by_id: Mapping[str, Address | None]
    """A conversation's address by its id (None: its user id is no address part)."""


@dataclass(frozen=True)
class Conversations:
    """The conversation kind's part of the live state."""

    marked: tuple[LiveConversation, ...] = ()
    """The stack's conversations (its marker ends their summary), survivor first."""
    unmarked: tuple[LiveConversation, ...] = ()
    """Conversations without any stack's marker on the stack's shared agents and on agents it
    may adopt (`user_id` empty), read only to plan adoption."""
    addresses: Addresses | None = field(default=None, compare=False, repr=False)
    """The marked conversations' addresses as read (`by_agent` takes them while the live
    state holds the agents they were worked out against), or None."""


LIVE = Part(KIND, Conversations())

of = LIVE.of
deleted_with = nothing_deleted_with


def owned(live: LiveState) -> Mapping[Address, Sequence[Resource]]:
    return by_agent(live)


def by_agent(live: LiveState) -> dict[Address, list[LiveConversation]]:
    """The stack's conversations by address: keyed by the kept agent they are on; those on
    other agents by that agent's id."""
    return live.derived(by_agent, lambda: _by_agent(live))


def _by_agent(live: LiveState) -> dict[Address, list[LiveConversation]]:
    part, read_with = of(live), agents.of(live)
    kept = _kept_agents(read_with)
    known = part.addresses.by_id if part.addresses and part.addresses.basis is read_with else {}

    def address(c: LiveConversation) -> Address | None:
        return known[c.id] if c.id in known else _address(kept, c)

    return by_address(part.marked, address)


def _kept_agents(read: agents.Agents) -> dict[str, Address]:
    """The address of each agent kept as its address's survivor, by the agent's id."""
    return {group[0].id: address for address, group in read.by_address.items()}


def _address(kept: Mapping[str, Address], c: LiveConversation) -> Address | None:
    """The conversation's address: under the kept agent it is on, else under that agent's
    id; None when its user id is no address part."""
    try:
        return Address.conversation(kept.get(c.agent_id) or Address.agent(c.agent_id), c.user_id)
    except AddressError:
        return None


named_ids = no_named_ids
read_record = nothing_recorded
shown = shown_as_sent


def fingerprinted(live: LiveState) -> Iterable[object]:
    return of(live).marked


def declared(desired: DesiredState) -> Iterable[Address]:
    return (spec.address for spec in desired.conversations)


def needs(desired: DesiredState) -> Iterable[tuple[Address, Iterable[Address]]]:
    """A conversation needs its agent."""
    return ((spec.address, (spec.agent,)) for spec in desired.conversations)


PAGE = 1000
"""Conversations a page. A conversation is a small record, and a Letta 0.16.8 server answers
a page of 1,000 in about the time of two pages of 200 (60 ms against 30 ms each): a shared
agent's 5,000 conversations come in 5 requests instead of 25, in about 0.3 s instead of
0.75 s. Agents and blocks stay at 200 a page: past that the server takes longer a record
(a block listing of 1,000 took twenty times a page of 200)."""


def on_agent(
    api: LettaApi, agent_id: str, search: str | None = None, page_size: int = PAGE
) -> Iterator[ConversationRecord]:
    """The conversations on an agent (`search`: only those whose summary holds it), page by
    page: the one listing of conversations every read uses."""
    params = {"agent_id": agent_id, **({"summary_search": search} if search else {})}
    return (SHAPE.parse(raw, LISTED) for raw in api.paginate(ROUTE, params, page_size))


def read(reading: Reading) -> Conversations:
    """The stack's conversations on its shared agents (in a scoped read, each in scope by its
    marker); to plan adoption, also those no stack marked, on the agents it may adopt too."""
    read_agents = reading.part(agents.LIVE)
    if reading.scoped and (desired := reading.desired) is not None:
        return Conversations(_scoped(reading, desired, read_agents.listed))
    ids = [a.id for a in read_agents.listed if a.address and a.address.user is None]
    if reading.adopt:
        ids += [a.id for a in read_agents.foreign if not agents.user_tagged(a)]
    search = None if reading.adopt else ownership.conversation_marker_prefix(reading.stack)
    kept = _kept_agents(read_agents) if ids else {}
    addresses: dict[str, Address | None] = {}

    def listed(agent_id: str) -> tuple[list[LiveConversation], list[LiveConversation]]:
        """The agent's conversations, each converted and given its address as it comes,
        while the server answers the next page (no listing kept whole)."""
        found: list[LiveConversation] = []
        unmarked: list[LiveConversation] = []
        for raw in on_agent(reading.api, agent_id, search):
            live = from_server(raw, reading.stack)
            if live is not None:
                found.append(live)
                addresses[live.id] = _address(kept, live)
            elif (other := unmarked_from_server(raw)) is not None:
                unmarked.append(other)
        return found, unmarked

    workers = max(1, min(reading.parallelism, len(ids) or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        agents_read = list(pool.map(listed, ids))
    found = [live for mine, _ in agents_read for live in mine]
    unmarked = [other for _, others in agents_read for other in others]
    return Conversations(
        tuple(survivor_first(found)),
        tuple(unmarked) if reading.adopt else (),
        Addresses(read_agents, addresses),
    )


def _scoped(
    reading: Reading, desired: DesiredState, owned: Sequence[LiveAgent]
) -> tuple[LiveConversation, ...]:
    """Each conversation in scope, found on its agent by its ownership marker."""
    agent_ids = {a.address: a.id for a in owned}
    found: list[LiveConversation] = []
    for spec in desired.conversations:
        agent_id = agent_ids.get(spec.agent)
        if agent_id is None:
            continue  # the agent is about to be made: so are its conversations
        marker = ownership.conversation_marker(desired.stack, spec.user_id)
        for raw in on_agent(reading.api, agent_id, marker):
            live = from_server(raw, desired.stack)
            if live is not None and live.user_id == spec.user_id:
                found.append(live)
    return tuple(survivor_first(found))


def from_server(raw: ConversationRecord, stack: str) -> LiveConversation | None:
    """The conversation if this stack's marker ends its summary, else None."""
    parsed = ownership.parse_conversation_summary(raw["summary"])
    if parsed is None or parsed[1] != stack:
        return None
    summary, _stack, user_id = parsed
    return LiveConversation(
        id=raw["id"],
        agent_id=sys.intern(raw["agent_id"]),
        user_id=user_id,
        summary=summary,
        created_at=raw.get("created_at") or "",
    )


def unmarked_from_server(raw: ConversationRecord) -> LiveConversation | None:
    """A conversation no stack has marked (a candidate for adoption, its user unknown)."""
    if ownership.parse_conversation_summary(raw["summary"]) is not None:
        return None
    return LiveConversation(
        id=raw["id"],
        agent_id=sys.intern(raw["agent_id"]),
        user_id="",
        summary=raw["summary"] or "",
        created_at=raw.get("created_at") or "",
    )


RECOMPILE = FieldChange("context", "(compiled before this apply)", "(recompiled)")
"""How a plan shows that a conversation's context is compiled again."""


def plan(desired: DesiredState, live: LiveState, out: Builder) -> None:
    kept = out.keep_survivors(by_agent(live), "conversations")
    stale = _stale_agents(desired, out)
    for spec in desired.conversations:
        current = kept.get(spec.address)
        if current is None:
            out.change(Create(spec.address, freeze(_body(spec, desired.stack))))
        elif stale and spec.agent in stale:
            _update(spec, current, desired.stack, out, recompile=True)
        elif current.summary != spec.summary:
            _update(spec, current, desired.stack, out, recompile=False)
    out.undeclared(kept, (spec.address for spec in desired.conversations))


def _stale_agents(desired: DesiredState, out: Builder) -> set[Address]:
    """Shared agents whose conversations would keep an old context after this plan: their
    system prompt or an enforced memory block (their own or a shared one) changes, unless
    the agent says `recompileConversations: false`."""
    changed: set[Address] = set()
    for change in out.changes:
        if not isinstance(change, Update):
            continue
        paths = {f.path.split(".", 1)[0] for f in change.fields}
        if change.address.kind is Kind.AGENT and "system" in paths:
            changed.add(change.address)
        elif change.address.kind is Kind.BLOCK and "value" in paths:
            changed.add(change.address.owner or change.address)
    return {
        spec.address
        for spec in desired.agents
        if spec.user_id is None
        and spec.recompile_conversations
        and (spec.address in changed or changed.intersection(spec.shared_blocks))
    }


def _update(
    spec: ConversationSpec, live: LiveConversation, stack: str, out: Builder, *, recompile: bool
) -> None:
    """The summary is compared without the marker and sent with it; a conversation whose
    agent's context changes is recompiled after the agent's and blocks' updates."""
    current, declared = {"summary": live.summary}, {"summary": spec.summary}
    fields = field_changes(current, declared)
    if not fields and not recompile:
        return
    body: dict[str, JSON] = _body(spec, stack) if fields else {}
    if recompile:
        fields, body = (*fields, RECOMPILE), {**body, "recompile": True}
    out.change(Update(spec.address, live.id, fields, freeze(body)))


def _body(spec: ConversationSpec, stack: str) -> dict[str, JSON]:
    return {"summary": ownership.conversation_summary(spec.summary, stack, spec.user_id)}


# Adopting --------------------------------------------------------------------------------------


def adopting(desired: DesiredState, live: LiveState, found: Adoption) -> LiveState:
    """A conversation no stack marked on the stack's (or an adopted) shared agent, whose
    summary is the declared one, marked as the stack's."""
    ids = {a.address: a.id for a in agents.of(live).listed if a.address is not None}
    owned = set(by_agent(live))
    adopted: list[LiveConversation] = []
    taken: set[str] = set()
    for spec in desired.conversations:
        agent_id = ids.get(spec.agent)
        if spec.address in owned or agent_id is None:
            continue
        match = only(
            [
                c
                for c in of(live).unmarked
                if c.agent_id == agent_id and c.summary == spec.summary and c.id not in taken
            ]
        )
        if match is not None:
            taken.add(match.id)
            found.take(spec.address, match.id)
            adopted.append(replace(match, user_id=spec.user_id))
    return live.with_part(LIVE, replace(of(live), marked=(*of(live).marked, *adopted)))


# Server calls ---------------------------------------------------------------------------------


def create(api: LettaApi, stack: str, change: Create, resolve: Resolve) -> str:
    """Create on the agent; after an ambiguous failure, search for the marker first."""
    agent = change.address.owner
    assert agent is not None
    agent_id = resolve(agent)
    marker = ownership.conversation_marker(stack, change.address.name)

    where = str(change.address)

    def find() -> ConversationRecord | None:
        params = {"agent_id": agent_id, "summary_search": marker, "limit": 10}
        found = SHAPE.parse_all(api.get(ROUTE, params, address=where), LISTED, where)
        return next((c for c in found if (c["summary"] or "").endswith(marker)), None)

    created = api.create(
        ROUTE,
        thaw(change.body),
        params={"agent_id": agent_id},
        address=where,
        find_existing=find,
    )
    return created_id(created, ROUTE, change.address)


def update(api: LettaApi, change: Update) -> None:
    """Change the summary; compile the context again when the plan says so."""
    body = thaw(change.body)
    recompile = body.pop("recompile", False)
    path = f"{ROUTE}{change.resource_id}"
    if body:
        api.patch(path, body, address=str(change.address))
    if recompile:
        api.create(f"{path}/recompile", None, address=str(change.address), find_existing=_none)


def _none() -> None:
    """Compiling again is harmless to repeat: a lost answer is simply sent again."""
    return None


def delete(api: LettaApi, change: Delete) -> None:
    """Gone already is done: deleting an agent also deletes its conversations."""
    delete_if_present(api, f"{ROUTE}{change.resource_id}", change.address)


def adopt(api: LettaApi, stack: str, change: Adopt, resolve: Resolve) -> str:
    """Append this stack's marker to an existing conversation on the stack's agent."""
    address, resource_id = change.address, change.resource_id
    agent = address.owner
    assert agent is not None
    path, where = f"{ROUTE}{resource_id}", str(address)
    current = SHAPE.parse(api.get(path, address=where), f"GET {path}", where)
    parsed = ownership.parse_conversation_summary(current["summary"])
    refuse_other_owner(address, parsed[1] if parsed else None, stack)
    if resolve(agent) != current["agent_id"]:
        raise LettaApplyError(
            f"{address}: conversation {resource_id} is not on the stack's agent "
            f"{agent} (apply the agent first, or adopt it)"
        )
    summary = parsed[0] if parsed else current["summary"] or ""
    marked = ownership.conversation_summary(summary, stack, address.name)
    api.patch(path, {"summary": marked}, address=where)
    return str(resource_id)


def agent_id(api: LettaApi, stack: str, agent: Address) -> str:
    """The id of the stack's agent at `agent`, read by its ownership tag."""
    found = _agent_id(api, stack, agent)
    if found is None:
        raise LettaApplyError(f"{agent} does not exist yet (apply the agent first, or adopt it)")
    return found


def _agent_id(api: LettaApi, stack: str, agent: Address) -> str | None:
    """The id of the stack's agent at `agent`, read by its ownership tag."""
    params = {"tags": [ownership.stack_tag(stack)], "include": ["agent.tags"]}
    for raw in agents.listing(api, params):
        if agents.from_server(raw, stack).address == agent:
            return raw["id"]
    return None
