"""Identities: one per identity-pattern user (`identity/<user>`, `identifier_key` = user id),
attached to shared agents.

Identities have no tags: the ownership marks are properties (`ownership.RESERVED_PROPERTIES`),
hidden from plans. An identity whose key is held by one the stack does not own is a blocked
resource to adopt, never something to overwrite.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, NotRequired, TypedDict

from reconciler import ownership
from reconciler.address import Address, Kind
from reconciler.desired import DesiredState, IdentitySpec
from reconciler.errors import LettaApplyError, ServerError
from reconciler.kinds import agent as agents
from reconciler.kinds.common import (
    Adoption,
    Reading,
    Resolve,
    attach_at,
    created_id,
    detach_at,
    fingerprinted_in,
    no_named_ids,
    nothing_deleted_with,
    only,
    owned_in,
    refuse_other_owner,
    swapped,
)
from reconciler.live.state import (
    Found,
    IdentityReads,
    LiveAgent,
    LiveIdentity,
    LiveState,
    Part,
    survivor_first,
)
from reconciler.paging import PAGE
from reconciler.plan.builder import Builder
from reconciler.plan.model import Adopt, Attach, Create, Delete, Detach, NoticeKind, Update
from reconciler.shape import Shape
from reconciler.values import JSON, Frozen, freeze, thaw

if TYPE_CHECKING:
    from reconciler.client import LettaApi, Params

KIND = Kind.IDENTITY
DETACH_CLAIMED_ON_AGENT = False
"""A detach is claimed on the identity itself: the stack detaches only its own."""
ROUTE = "/v1/identities/"
LISTED = f"GET {ROUTE}"
ATTACHED = f"GET {agents.ROUTE} (agent.identities)"
"""Where the identities attached to the stack's agents are read: with the agents."""


class IdentityProperty(TypedDict):
    key: str
    value: NotRequired[object]


class IdentityRecord(TypedDict):
    """An identity as the server answers it (its listing, the agents' `identities`), with
    the fields letta-apply reads."""

    id: str
    identifier_key: str
    name: str
    identity_type: str
    properties: list[IdentityProperty] | None
    """The declared properties and the stack's marks (`ownership.RESERVED_PROPERTIES`)."""
    created_at: NotRequired[str | None]


SHAPE = Shape(IdentityRecord)


@dataclass(frozen=True)
class Identities(Found[LiveIdentity]):
    """The identity kind's part of the live state: the stack's identities and the others
    holding a key it declares, and how they were read (a saved plan reads them the same way)."""

    reads: IdentityReads = field(default_factory=IdentityReads)

    def owns(self, resource: LiveIdentity) -> bool:
        return resource.owned


LIVE = Part(KIND, Identities())
of = LIVE.of
deleted_with = nothing_deleted_with
named_ids = no_named_ids
owned = owned_in(LIVE)
fingerprinted = fingerprinted_in(LIVE)


def declared(desired: DesiredState) -> Iterable[Address]:
    return (spec.address for spec in desired.identities)


def needs(desired: DesiredState) -> Iterable[tuple[Address, Iterable[Address]]]:
    """An identity needs the agents it is attached to."""
    return ((spec.address, spec.agents) for spec in desired.identities)


def shown(change: Create) -> Mapping[str, JSON]:
    """The properties as `key: value` (as a person declared them), without the ownership
    marker."""
    declared = body_properties(change.body)
    shown = {k: v for k, v in declared.items() if k != ownership.IDENTITY_MARKER_KEY}
    return {**change.body, "properties": shown}


def properties(listed: Iterable[IdentityProperty] | None) -> dict[str, object]:
    """An identity's properties as key -> value (the server sends a list of records)."""
    return {p["key"]: p.get("value") for p in listed or ()}


def body_properties(body: Mapping[str, JSON]) -> dict[str, JSON]:
    """The properties of a create's body (as `_property_list` writes them) as key -> value."""
    listed = body.get("properties") or ()
    return {str(p["key"]): p.get("value") for p in listed if isinstance(p, Mapping) and "key" in p}


def listing(
    api: LettaApi, params: Params | None, wanted_keys: Set[str], page_size: int = PAGE
) -> list[IdentityRecord]:
    """The identities matching `params` (by key, or all), every page."""
    with _identities_api(api, wanted_keys):
        return [SHAPE.parse(raw, LISTED) for raw in api.paginate(ROUTE, params, page_size)]
    return []  # a server without the identities API holds none


def read(reading: Reading) -> Identities:
    """The stack's identities and those holding a key it declares. In a scoped read, each
    declared key is looked up. Otherwise those attached to the stack's agents come with the
    agents, and declared keys attached to none are looked up, unless listing every identity
    costs fewer requests or prune needs owned identities attached nowhere (or a saved plan's
    read did the one or the other)."""
    desired = reading.desired
    wanted = {spec.identifier_key for spec in desired.identities} if desired else set()
    if reading.scoped:
        declared = tuple(sorted(wanted))
        found = _looked_up(reading, declared, wanted)
        return Identities(_kept(found, reading.stack, wanted), IdentityReads(False, declared))
    saved = _saved_reads(reading)
    if saved.listed if saved else reading.prunes:
        return Identities(_every(reading, wanted), IdentityReads(listed=True))
    attached = [SHAPE.parse(raw, ATTACHED) for raw in reading.part(agents.LIVE).identities]
    keys = saved.looked_up if saved else _keys_to_look_up(reading, attached, wanted)
    if keys is None:  # fewer requests than looking them up
        return Identities(_every(reading, wanted), IdentityReads(listed=True))
    found = _looked_up(reading, keys, wanted)
    read = _kept([*attached, *found], reading.stack, wanted)
    return Identities(read, IdentityReads(listed=False, looked_up=keys))


def read_record(live: LiveState) -> Frozen:
    """How the identities were read (every one listed, or through the stack's agents and the
    keys `looked_up`): a saved plan's apply reads them the same way."""
    reads = of(live).reads
    return Frozen({"listed": reads.listed, "looked_up": reads.looked_up})


def _saved_reads(reading: Reading) -> IdentityReads | None:
    """How a saved plan read the identities (None: not a saved plan's apply). A plan that
    recorded nothing of them listed every one."""
    if reading.records is None:
        return None
    record = reading.records.get(KIND)
    if record is None:
        return IdentityReads()
    listed, keys = record.get("listed"), record.get("looked_up")
    if set(record) != {"listed", "looked_up"} or not isinstance(listed, bool):
        raise LettaApplyError(_MALFORMED + "expected {listed: true or false, looked_up: [...]}")
    if not isinstance(keys, tuple) or not all(isinstance(key, str) for key in keys):
        raise LettaApplyError(_MALFORMED + "looked_up: expected a list of identifier keys")
    return IdentityReads(listed, keys)


_MALFORMED = f"malformed saved plan: plan.reads.{KIND.value}: "


def _every(reading: Reading, wanted: Set[str]) -> tuple[LiveIdentity, ...]:
    """Every identity on the server, kept when owned or holding a declared key."""
    return _kept(listing(reading.api, None, wanted, reading.page_size), reading.stack, wanted)


def _keys_to_look_up(
    reading: Reading, attached: Iterable[IdentityRecord], wanted: Set[str]
) -> tuple[str, ...] | None:
    """The declared keys attached to none of the stack's agents; None when looking them up
    would take more requests than listing every identity (counted first)."""
    seen = {raw["identifier_key"] for raw in attached}
    keys = tuple(sorted(wanted - seen))
    if len(keys) > 1 and len(keys) > _listing_pages(reading, wanted):
        return None
    return keys


def _listing_pages(reading: Reading, wanted: Set[str]) -> int:
    """How many requests listing every identity on the server takes."""
    count: object = 0
    with _identities_api(reading.api, wanted):
        count = reading.api.get(f"{ROUTE}count")
    return (count if isinstance(count, int) else 0) // reading.page_size + 1


def _looked_up(reading: Reading, keys: Sequence[str], wanted: Set[str]) -> list[IdentityRecord]:
    """The identities holding `keys`, one lookup per key, `parallelism` at a time."""
    if not keys:
        return []

    def lookup(key: str) -> list[IdentityRecord]:
        return listing(reading.api, {"identifier_key": key}, wanted, reading.page_size)

    with ThreadPoolExecutor(max_workers=max(1, min(reading.parallelism, len(keys)))) as pool:
        return [raw for page in pool.map(lookup, keys) for raw in page]


def _kept(
    listed: Iterable[IdentityRecord], stack: str, wanted: Set[str]
) -> tuple[LiveIdentity, ...]:
    """The stack's identities and those holding a declared key, each once."""
    unique = {raw["id"]: raw for raw in listed}
    read = (from_server(raw, stack) for raw in unique.values())
    return tuple(survivor_first(i for i in read if i.owned or i.identifier_key in wanted))


@contextmanager
def _identities_api(api: LettaApi, wanted: Set[str]) -> Iterator[None]:
    """A server without the identities API (HTTP 404) holds none of the stack's identities;
    it is an error only when the stack declares identity users."""
    try:
        yield
    except ServerError as exc:
        if exc.status != 404:
            raise
        if wanted:
            raise LettaApplyError(
                f"{api.target.label} has no identities API (HTTP 404 for {ROUTE}), "
                f"which the identity pattern needs for {len(wanted)} user(s); serve them "
                "with the shared pattern (a conversation each) instead"
            ) from exc


def from_server(raw: IdentityRecord, stack: str) -> LiveIdentity:
    values = properties(raw["properties"])
    marks = {key: values.pop(key, None) for key in ownership.RESERVED_PROPERTIES}
    return LiveIdentity(
        id=raw["id"],
        identifier_key=raw["identifier_key"],
        name=raw["name"],
        identity_type=raw["identity_type"],
        properties=freeze(values),
        owned=marks[ownership.IDENTITY_MARKER_KEY] == stack,
        created_at=raw.get("created_at") or "",
        protected=marks[ownership.IDENTITY_PROTECTED_KEY] is True,
        marked_by=_marker(marks[ownership.IDENTITY_MARKER_KEY]),
    )


def _marker(value: object) -> str | None:
    return value if isinstance(value, str) else None


# Planning -------------------------------------------------------------------------------------


def plan(desired: DesiredState, live: LiveState, out: Builder) -> None:
    """Create, update, link, report or delete the stack's identities."""
    identities = of(live)
    kept = out.keep_survivors(identities.by_address, "identities", lambda i: i.protected)
    foreign = {i.identifier_key: i for i in identities.found if not i.owned}
    kept_agents = agents.of(live).kept
    linked: dict[Address, frozenset[str]] = {}
    for spec in desired.identities:
        current = kept.get(spec.address)
        if current is None and spec.identifier_key in foreign:
            held = foreign[spec.identifier_key]
            out.notice(
                NoticeKind.BLOCKED,
                spec.address,
                _key_taken(spec.identifier_key, held.marked_by),
                resource_ids=(held.id,),
            )
            continue
        if current is None:
            out.change(Create(spec.address, freeze(_body(spec, desired.stack))))
        else:
            _update(spec, current, desired.stack, out)
        for agent in spec.agents:
            live_agent = kept_agents.get(agent)
            if current is None or live_agent is None:
                out.change(Attach(spec.address, agent))
                continue
            if agent not in linked:  # a shared agent lists thousands of identities
                linked[agent] = frozenset(live_agent.identity_ids)
            if current.id not in linked[agent]:
                out.change(Attach(spec.address, agent))
    _detach_stale(desired, kept, kept_agents, out)
    out.undeclared(kept, (spec.address for spec in desired.identities), lambda i: i.protected)


def _key_taken(key: str, owner: str | None) -> str:
    """Why the identity is not created: adoption is offered only for one no stack owns."""
    if owner is None:
        return (
            f"an identity with identifier_key {key!r} exists and is not owned by this stack; "
            "adopt it to manage it"
        )
    return (
        f"an identity with identifier_key {key!r} belongs to stack {owner!r}; a user is "
        "served by one stack: declare it in one stack only"
    )


def _body(spec: IdentitySpec, stack: str) -> dict[str, JSON]:
    return {
        "identifier_key": spec.identifier_key,
        "name": spec.name,
        "identity_type": spec.identity_type,
        "properties": _property_list(spec, stack),
    }


def _declared_properties(spec: IdentitySpec) -> dict[str, JSON]:
    """The properties the stack keeps on the identity, as compared (the stack marker is
    implied by ownership; protection is compared so that it can be switched on and off)."""
    declared = dict(spec.properties)
    if spec.protected:
        declared[ownership.IDENTITY_PROTECTED_KEY] = True
    return declared


def _property_list(spec: IdentitySpec, stack: str) -> list[dict[str, JSON]]:
    """Every property as the server stores them, ownership marks included."""
    values = {**_declared_properties(spec), ownership.IDENTITY_MARKER_KEY: stack}
    return [{"key": k, "value": v, "type": _property_type(v)} for k, v in sorted(values.items())]


def _property_type(value: JSON) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "json" if isinstance(value, Mapping | list | tuple) else "string"


def _update(spec: IdentitySpec, live: LiveIdentity, stack: str, out: Builder) -> None:
    current_properties = dict(live.properties)
    if live.protected:
        current_properties[ownership.IDENTITY_PROTECTED_KEY] = True
    current = {
        "name": live.name,
        "identity_type": live.identity_type,
        "properties": current_properties,
    }
    desired = {
        "name": spec.name,
        "identity_type": spec.identity_type,
        "properties": _declared_properties(spec),
    }

    def send(changed: Mapping[str, JSON]) -> dict[str, JSON]:
        # The property list is replaced whole: send all of it, marks included.
        if "properties" in changed:
            return {**changed, "properties": _property_list(spec, stack)}
        return dict(changed)

    out.update(spec.address, live.id, current, desired, send)


def _detach_stale(
    desired: DesiredState,
    kept: Mapping[Address, LiveIdentity],
    agents: Mapping[Address, LiveAgent],
    out: Builder,
) -> None:
    """Declared identities linked to a kept agent that no longer lists them: detached. An
    identity no longer declared keeps its links until prune deletes it."""
    wanted = {(agent, spec.address) for spec in desired.identities for agent in spec.agents}
    declared = {spec.address for spec in desired.identities}
    address_of = {i.id: address for address, i in kept.items() if address in declared}
    for agent_address, agent in sorted(agents.items()):
        for identity_id in agent.identity_ids:
            identity = address_of.get(identity_id)
            if identity is not None and (agent_address, identity) not in wanted:
                out.change(Detach(identity, agent_address, identity_id))


# Adopting --------------------------------------------------------------------------------------


def adopting(desired: DesiredState, live: LiveState, found: Adoption) -> LiveState:
    """An identity no stack marked holding a declared key, marked as the stack's."""
    held = of(live)
    owned = {i.identifier_key for i in held.owned}
    adopted: dict[str, LiveIdentity] = {}
    for spec in desired.identities:
        if spec.identifier_key in owned:
            continue
        identity = only(
            [
                i
                for i in held.found
                if i.identifier_key == spec.identifier_key and i.marked_by is None
            ]
        )
        if identity is not None:
            found.take(spec.address, identity.id)
            adopted[identity.id] = replace(identity, owned=True, marked_by=found.stack)
    return live.with_part(LIVE, replace(held, found=swapped(held.found, adopted)))


# Server calls ---------------------------------------------------------------------------------


def create(api: LettaApi, stack: str, change: Create, resolve: Resolve) -> str:
    key, where = str(change.body["identifier_key"]), str(change.address)

    def find() -> IdentityRecord | None:
        answer = api.get(ROUTE, {"identifier_key": key}, address=where)
        found = SHAPE.parse_all(answer, LISTED, where)
        return next((i for i in found if from_server(i, stack).owned), None)

    sent = thaw(change.body)
    created = api.create(ROUTE, sent, address=where, find_existing=find)
    return created_id(created, ROUTE, change.address)


def update(api: LettaApi, change: Update) -> None:
    """Send the changed fields; the property list through the route that replaces it whole
    (an update merges properties by key, so a property no longer declared would stay)."""
    body = thaw(change.body)
    path = f"{ROUTE}{change.resource_id}"
    properties = body.pop("properties", None)
    if body:
        api.patch(path, body, address=str(change.address))
    if properties is not None:
        api.put(f"{path}/properties", properties, address=str(change.address))


def delete(api: LettaApi, change: Delete) -> None:
    api.delete(f"{ROUTE}{change.resource_id}", address=str(change.address))


def attach(api: LettaApi, change: Attach, resolve: Resolve) -> None:
    attach_at(api, "identities", change, resolve)


def detach(api: LettaApi, change: Detach, resolve: Resolve) -> None:
    detach_at(api, "identities", change, resolve)


def adopt(api: LettaApi, stack: str, change: Adopt, _resolve: Resolve) -> str:
    """Add this stack's marker property to an existing identity with the declared key."""
    address, resource_id = change.address, change.resource_id
    key, path, where = address.name, f"{ROUTE}{resource_id}", str(address)
    current = SHAPE.parse(api.get(path, address=where), f"GET {path}", where)
    if current["identifier_key"] != key:
        raise LettaApplyError(
            f"{address}: identity {resource_id} has identifier_key "
            f"{current['identifier_key']!r}, not {key!r}"
        )
    owner = properties(current["properties"]).get(ownership.IDENTITY_MARKER_KEY)
    refuse_other_owner(address, owner if isinstance(owner, str) else None, stack)
    kept = [
        dict(p) for p in current["properties"] or () if p["key"] != ownership.IDENTITY_MARKER_KEY
    ]
    marker = {"key": ownership.IDENTITY_MARKER_KEY, "value": stack, "type": "string"}
    api.patch(path, {"properties": [*kept, marker]}, address=where)
    return str(resource_id)
