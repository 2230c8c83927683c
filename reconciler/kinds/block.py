"""Memory blocks: the stack's shared blocks (`block/<name>`) and agents' own blocks
(`block/<agent key>/<label>`), and the links of shared blocks to agents.

A seeded block's value is never overwritten: an agent's edit is reported as drift. An
enforced block is kept equal to the manifest. The fields of `CONFIG` always converge.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from reconciler import ownership
from reconciler.address import Address, Kind
from reconciler.desired import AgentSpec, BlockSpec, DesiredState, Policy
from reconciler.kinds import block_record
from reconciler.kinds.block_record import ROUTE as ROUTE  # the kind's record, re-exported
from reconciler.kinds.block_record import SHAPE as SHAPE
from reconciler.kinds.block_record import BlockRecord as BlockRecord
from reconciler.kinds.common import (
    Reading,
    Resolve,
    adopt_tagged,
    attach_at,
    created_id,
    detach_at,
    first_owned,
    link,
    no_named_ids,
    nothing_adopted,
    nothing_deleted_with,
    nothing_needed,
    nothing_recorded,
    shown_as_sent,
    update_at,
)
from reconciler.live.state import (
    LiveAgent,
    LiveBlock,
    LiveState,
    Part,
    Resource,
    by_address,
    survivor_first,
)
from reconciler.paging import PAGE
from reconciler.plan.builder import Builder, drift, optional
from reconciler.plan.model import (
    Adopt,
    Attach,
    Create,
    Delete,
    Detach,
    FieldChange,
    NoticeKind,
    Update,
)
from reconciler.values import JSON, freeze, freeze_shared, frozen_mapping, thaw

if TYPE_CHECKING:
    from reconciler.client import LettaApi, Params

KIND = Kind.BLOCK
DETACH_CLAIMED_ON_AGENT = False
"""A detach is claimed on the block itself: the stack detaches only its own."""
LINKS = "core-memory/blocks"
"""Where an agent's blocks are attached and detached, under `/v1/agents/<id>/`."""
CONFIG = ("limit", "description", "read_only")
"""Block fields that are configuration, not learned state: they always converge."""

SEEDED = "the value differs from the seed; kept (policy: seed)"


@dataclass(frozen=True)
class Blocks:
    """The block kind's part of the live state. An agent's own blocks come with the agent
    (`reconciler.kinds.agent`); only the block listing shows blocks' tags."""

    shared: tuple[LiveBlock, ...] = ()
    """The stack's shared blocks (survivor first)."""
    tagged: frozenset[str] = frozenset()
    """Ids of every block carrying the stack's tag: its shared blocks and its agents' own.
    A block attached to an owned agent without the tag was not made by the stack."""
    stack_tagged: frozenset[str] = frozenset()
    """Ids of blocks carrying any stack's tag among those with the label of a declared shared
    block the stack lacks (the agent listing shows no block tags), read only to plan adoption."""

    @cached_property
    def by_address(self) -> dict[Address, list[LiveBlock]]:
        return by_address(self.shared, lambda b: b.address)

    @cached_property
    def shared_ids(self) -> frozenset[str]:
        return frozenset(b.id for b in self.shared)


LIVE = Part(KIND, Blocks())

of = LIVE.of
deleted_with = nothing_deleted_with


def owned(live: LiveState) -> Mapping[Address, Sequence[Resource]]:
    """The stack's shared blocks (agents' own blocks are owned through their agent)."""
    return of(live).by_address


named_ids = no_named_ids
read_record = nothing_recorded
shown = shown_as_sent
adopting = nothing_adopted  # shared blocks are adopted through the agents holding them
needs = nothing_needed


def fingerprinted(live: LiveState) -> Iterable[object]:
    part = of(live)
    return (*part.shared, *sorted(part.tagged))


def declared(desired: DesiredState) -> Iterable[Address]:
    return (spec.address for spec in desired.blocks)


# Reading --------------------------------------------------------------------------------------


LISTED = f"GET {ROUTE}"


def from_server(raw: BlockRecord, stack: str) -> LiveBlock:
    metadata = frozen_mapping(raw["metadata"], interned=True)
    return LiveBlock(
        id=sys.intern(raw["id"]),
        label=sys.intern(raw["label"] or ""),
        value=raw["value"],
        limit=raw.get("limit"),
        description=freeze_shared(raw.get("description")),
        read_only=bool(raw.get("read_only")),
        tags=freeze_shared(sorted(raw["tags"] or ())),
        metadata=metadata,
        address=ownership.metadata_address(metadata, stack),
        protected=ownership.metadata_protected(metadata, stack),
        created_at=raw.get("created_at") or "",
    )


def listing(api: LettaApi, params: Params, page_size: int = PAGE) -> Iterator[BlockRecord]:
    """The blocks matching `params` (tags, label), page by page."""
    return (SHAPE.parse(raw, LISTED) for raw in api.paginate(ROUTE, params, page_size))


def read(reading: Reading) -> Blocks:
    """The stack's shared blocks (in a scoped read, those in scope, by label), the ids of
    the blocks carrying its tag, and to plan adoption which blocks labelled as a declared
    shared block carry any stack's tag."""
    if reading.scoped and (desired := reading.desired) is not None:
        shared, tagged = _scoped(reading, desired)
        return Blocks(shared, tagged)
    shared, tagged = _stack_blocks(reading)
    desired = reading.desired if reading.adopt else None
    marked = _stack_tagged(reading, desired, shared) if desired is not None else ()
    return Blocks(shared, tagged, frozenset(marked))


def _stack_blocks(reading: Reading) -> tuple[tuple[LiveBlock, ...], frozenset[str]]:
    """The stack's shared blocks, and the ids of every block carrying its tag (its agents'
    own blocks come with the agents, but only this listing shows their tags)."""
    params = block_record.stack_query(reading.stack)
    tagged: set[str] = set()
    found: list[LiveBlock] = []
    for raw in listing(reading.api, params, reading.page_size):
        tagged.add(sys.intern(str(raw["id"])))
        # Of an agent's own block (all but a few of them) only the id is kept: one
        # without metadata carries no ownership record, so it is no shared block.
        if raw.get("metadata") and is_shared(live := from_server(raw, reading.stack)):
            found.append(live)
    return tuple(survivor_first(found)), frozenset(tagged)


def _stack_tagged(
    reading: Reading, desired: DesiredState, shared: tuple[LiveBlock, ...]
) -> list[str]:
    """The ids of blocks carrying any stack's tag, among those labelled as a declared shared
    block the stack lacks: an agent's own block made by another stack has the tag only, and
    must never be adopted as this stack's shared block."""
    have = {b.address for b in shared}
    labels = sorted({s.block.label for s in desired.blocks if s.address not in have})
    return [
        raw["id"]
        for label in labels
        for raw in listing(reading.api, {"label": label}, reading.page_size)
        if any(t.startswith(ownership.TAG_PREFIX) for t in raw["tags"] or ())
    ]


def _scoped(
    reading: Reading, desired: DesiredState
) -> tuple[tuple[LiveBlock, ...], frozenset[str]]:
    """The shared blocks in scope, each by its label; the stack's whole block listing when
    one is not found that way (its label may have changed)."""
    tag = ownership.stack_tag(desired.stack)
    found: list[LiveBlock] = []
    for spec in desired.blocks:
        params = {"tags": [tag], "label": spec.block.label}
        found += [
            b
            for raw in listing(reading.api, params, reading.page_size)
            if (b := from_server(raw, desired.stack)).address == spec.address
        ]
    if {b.address for b in found} >= {spec.address for spec in desired.blocks}:
        return tuple(survivor_first(found)), frozenset(b.id for b in found)
    every, tagged = _stack_blocks(reading)
    wanted = {spec.address for spec in desired.blocks}
    return tuple(b for b in every if b.address in wanted), tagged


def is_shared(live: LiveBlock) -> bool:
    """A stack-level block: its ownership record names a one-part block address."""
    return live.address is not None and live.address.kind is KIND and live.address.owner is None


# Planning -------------------------------------------------------------------------------------


def plan(desired: DesiredState, live: LiveState, out: Builder) -> None:
    """The shared blocks (agents' own blocks and links are planned with each agent:
    `plan_on_agent`)."""
    kept = out.keep_survivors(of(live).by_address, "blocks", lambda b: b.protected)
    for spec in desired.blocks:
        current = kept.get(spec.address)
        if current is None:
            record = _marks(desired.stack, spec.address, protected=spec.protected)
            out.change(Create(spec.address, freeze({**body(spec.block), **record})))
        else:
            record = _marks(desired.stack, spec.address, protected=spec.protected)["metadata"]
            _update(spec.block, current, spec.address, out, record)
    out.undeclared(kept, (spec.address for spec in desired.blocks), lambda b: b.protected)


@dataclass(frozen=True)
class OnAgent:
    """An existing agent's blocks, as `plan_on_agent` plans them."""

    own: tuple[LiveBlock, ...]
    """Made by the stack (tagged), not its shared blocks."""
    foreign: tuple[LiveBlock, ...]
    """Not made by the stack (hand-made, another stack's): never updated or deleted."""


def on_agent(
    live: LiveState, agent: LiveAgent, tagged_elsewhere: frozenset[str] = frozenset()
) -> OnAgent:
    """The agent's own and foreign blocks, told apart by the stack's tag (as the block listing
    shows it, or `tagged_elsewhere`: as a read of the agent's memory showed it)."""
    part = of(live)

    def tagged(b: LiveBlock) -> bool:
        return b.id in part.tagged or b.id in tagged_elsewhere

    own = tuple(b for b in agent.blocks if tagged(b) and b.id not in part.shared_ids)
    return OnAgent(own, tuple(b for b in agent.blocks if not tagged(b)))


SharedLinks = tuple[Mapping[str, Address], Mapping[Address, str]]
"""The stack's shared blocks on the server (id -> address) and the declared ones' labels
(address -> label): what every agent's links are planned against."""


def shared_links(desired: DesiredState, live: LiveState) -> SharedLinks:
    """What every agent's links to shared blocks are planned against, made once a plan: the
    address of each of the stack's shared blocks on the server by id, and the label of each
    declared shared block by address."""
    shared = {b.id: address for address, group in of(live).by_address.items() for b in group}
    labels = {spec.address: spec.block.label for spec in desired.blocks}
    return shared, labels


def plan_on_agent(
    stack: str,
    spec: AgentSpec,
    agent: LiveAgent,
    blocks: OnAgent,
    links: SharedLinks,
    out: Builder,
) -> None:
    """An existing agent's own blocks and its links to shared blocks (`links`: `shared_links`
    of the plan)."""
    _plan_own(spec, blocks, stack, out)
    shared, labels = links
    _plan_links(spec, agent, shared, labels, blocks, out)


def _plan_own(spec: AgentSpec, blocks: OnAgent, stack: str, out: Builder) -> None:
    own = {Address.agent_block(spec.address, b.label): b for b in blocks.own}
    foreign = {b.label: b for b in blocks.foreign}
    declared = [Address.agent_block(spec.address, b.label) for b in spec.blocks]
    for block, address in zip(spec.blocks, declared, strict=True):
        current = own.get(address)
        if current is None and block.label in foreign:
            out.notice(
                NoticeKind.BLOCKED,
                address,
                f"the agent already has a block labelled {block.label!r} that this stack did "
                "not make; it is left alone (adopt it to manage it, or detach it)",
                resource_ids=(foreign[block.label].id,),
            )
        elif current is None:
            out.change(Create(address, freeze({**body(block), **_marks(stack, address)})))
        else:
            _update(block, current, address, out)
    out.undeclared(own, declared, lambda _block: spec.protected)


def _plan_links(
    spec: AgentSpec,
    agent: LiveAgent,
    shared: Mapping[str, Address],
    labels: Mapping[Address, str],
    blocks: OnAgent,
    out: Builder,
) -> None:
    """Attach the declared shared blocks; detach the stack's ones no longer declared. A label
    the agent already holds with a block the stack did not make is blocked: the server keeps
    one block per label on an agent."""
    attached = {shared[b.id]: b.id for b in agent.blocks if b.id in shared}
    foreign = {b.label: b for b in blocks.foreign}
    wanted = set(spec.shared_blocks)
    for address in sorted(wanted - attached.keys()):
        held = foreign.get(labels.get(address, ""))
        if held is None:
            out.change(Attach(address, spec.address))
            continue
        out.notice(
            NoticeKind.BLOCKED,
            address,
            f"{spec.address} already has a block labelled {held.label!r} that this stack did "
            "not make; not attached (adopt it, or detach it)",
            resource_ids=(held.id,),
        )
    for address in sorted(attached.keys() - wanted):
        out.change(Detach(address, spec.address, attached[address]))


def body(block: BlockSpec) -> dict[str, JSON]:
    """A block as sent on creation (alone, or inside an agent's `memory_blocks`)."""
    return {
        "label": block.label,
        "value": block.value,
        **optional(limit=block.limit, description=block.description, read_only=block.read_only),
    }


def tag(stack: str) -> dict[str, JSON]:
    """The mark of a block the stack makes, even inside an agent's create (where the server
    keeps tags but not metadata)."""
    return {"tags": [ownership.stack_tag(stack)]}


def _marks(stack: str, address: Address, *, protected: bool = False) -> dict[str, JSON]:
    return {
        **tag(stack),
        "metadata": ownership.agent_metadata(stack, address, {}, protected=protected),
    }


def _update(
    block: BlockSpec,
    live: LiveBlock,
    address: Address,
    out: Builder,
    metadata: Mapping[str, JSON] | None = None,
) -> None:
    """Converge the configuration (and, for a shared block, its ownership record, which
    says whether it is protected); the value only when enforced."""
    desired = {key: value for key in CONFIG if (value := getattr(block, key)) is not None}
    current: dict[str, JSON] = {key: getattr(live, key) for key in CONFIG}
    if metadata is not None:
        desired["metadata"], current["metadata"] = metadata, live.metadata
    if block.policy is Policy.ENFORCE:
        desired["value"], current["value"] = block.value, live.value
    elif block.value != live.value:
        drift(out, address, live.id, FieldChange("value", block.value, live.value), SEEDED)
    _keep_limit_above_value(desired, live, address, out)
    out.update(address, live.id, current, desired)


def _keep_limit_above_value(
    desired: dict[str, JSON], live: LiveBlock, address: Address, out: Builder
) -> None:
    """A limit below the value the block will hold (an agent's learned memory, kept under
    `seed`) is not sent: the server would refuse it or the memory would not fit."""
    limit, value = desired.get("limit"), desired.get("value", live.value)
    if isinstance(limit, int) and isinstance(value, str) and len(value) > limit:
        del desired["limit"]
        out.notice(
            NoticeKind.CONFLICT,
            address,
            f"limit {limit} is below the {len(value)} characters the block holds; "
            "the limit is left as it is (raise it, or shorten the value)",
            resource_ids=(live.id,),
        )


# Server calls ---------------------------------------------------------------------------------


def create(api: LettaApi, stack: str, change: Create, resolve: Resolve) -> str:
    """A shared block, or a block added to an existing agent (created, then attached)."""
    sent = thaw(change.body)

    def find() -> BlockRecord | None:
        params = {"tags": [ownership.stack_tag(stack)], "label": sent["label"], "limit": 50}
        found = api.get(ROUTE, params, address=str(change.address))
        return first_owned(SHAPE.parse_all(found, LISTED), stack, change.address)

    created = api.create(ROUTE, sent, address=str(change.address), find_existing=find)
    block_id = created_id(created, ROUTE, change.address)
    owner = change.address.owner
    if owner is not None:
        link(api, LINKS, "attach", resolve(owner), block_id, change.address)
    return block_id


def update(api: LettaApi, change: Update) -> None:
    update_at(api, ROUTE, change)


def delete(api: LettaApi, change: Delete) -> None:
    api.delete(f"{ROUTE}{change.resource_id}", address=str(change.address))


def attach(api: LettaApi, change: Attach, resolve: Resolve) -> None:
    attach_at(api, LINKS, change, resolve)


def detach(api: LettaApi, change: Detach, resolve: Resolve) -> None:
    detach_at(api, LINKS, change, resolve)


def adopt(api: LettaApi, stack: str, change: Adopt, _resolve: Resolve) -> str:
    """Mark an existing block as the stack's: a shared block, or an agent's own block."""
    path = f"{ROUTE}{change.resource_id}"
    where = str(change.address)
    current = SHAPE.parse(api.get(path, address=where), f"GET {path}", where)
    adopt_tagged(api, stack, path, change.address, current, current["tags"] or ())
    return str(change.resource_id)
