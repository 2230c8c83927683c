"""Archives of passages (`archive/<name>`): an agent's archival memory, searched by meaning.

The server takes no metadata on archives, so a stack marks its archives by the end of their
description, `[letta-apply:<stack>]` (`[letta-apply:<stack>:protected]` when protected), as
it marks conversations by their summary. Archive names are not unique on the server, but a
declared archive whose name an archive of someone else holds is blocked all the same (two
archives of one name would be told apart by nobody); `adopt` takes it over. An agent has one
archive on Letta 0.16.8 (its own archival memory is that archive, made as `<name>'s Archive`
by its first insert): the plan reads the archives of each agent it would attach one to, and
an agent holding another is reported blocked, naming that archive, which is never detached
or deleted (it is the agent's learned memory).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, NotRequired, TypedDict

from reconciler.address import Address, Kind
from reconciler.desired import ArchiveSpec, DesiredState
from reconciler.kinds import agent, attached, holders
from reconciler.kinds.agent_record import EmbeddingConfig
from reconciler.kinds.common import (
    Adoption,
    Created,
    Reading,
    Resolve,
    attach_at,
    created_id,
    delete_if_present,
    detach_at,
    fingerprinted_in,
    no_named_ids,
    nothing_recorded,
    owned_in,
    refuse_other_owner,
    shown_as_sent,
    swapped,
)
from reconciler.live.state import Found, LiveState, Part
from reconciler.plan.builder import Builder, optional
from reconciler.plan.model import (
    Adopt,
    Attach,
    Create,
    Delete,
    Detach,
    Notice,
    NoticeKind,
    Update,
)
from reconciler.shape import Shape
from reconciler.values import JSON, freeze, thaw

if TYPE_CHECKING:
    from reconciler.client import LettaApi
    from reconciler.kinds import passage  # its part refers to archives: imported where used

KIND = Kind.ARCHIVE
DETACH_CLAIMED_ON_AGENT = False
"""A detach is claimed on the archive itself: the stack detaches only its own."""
ROUTE = "/v1/archives/"
LISTED = f"GET {ROUTE}"
_MARKER = re.compile(r"\s*\[letta-apply:(?P<stack>[^\]\s:]+)(?P<protected>:protected)?\]$")


@dataclass(frozen=True, slots=True)
class LiveArchive:
    """An archive on the server; `address` is set when this stack's marker ends its
    description (`description` is then the part before it)."""

    id: str
    name: str
    address: Address | None
    created_at: str = ""
    description: str | None = None
    embedding: str | None = None
    protected: bool = False
    owner: str | None = None
    agent_ids: tuple[str, ...] = ()
    """The agents it is attached to (read for the stack's archives only)."""

    def linked(self, agent_ids: tuple[str, ...]) -> LiveArchive:
        return replace(self, agent_ids=agent_ids)


@dataclass(frozen=True)
class Archives(Found[LiveArchive]):
    """The archive kind's part of the live state: every archive, the stack's with agents."""

    held: tuple[tuple[str, tuple[LiveArchive, ...]], ...] = ()
    """Agent id -> the archives attached to it, for the stack's agents that list an archive
    they are not attached to (an agent has one archive: any it holds is in the way)."""

    @cached_property
    def of_agent(self) -> dict[str, tuple[LiveArchive, ...]]:
        return dict(self.held)

    @cached_property
    def others(self) -> dict[str, LiveArchive]:
        """Archives the stack does not own, by name (the oldest of a name)."""
        found: dict[str, LiveArchive] = {}
        for archive in self.found:
            if archive.address is None:
                found.setdefault(archive.name, archive)
        return found


LIVE = Part(KIND, Archives())
of = LIVE.of
named_ids = no_named_ids
read_record = nothing_recorded
shown = shown_as_sent
owned = owned_in(LIVE)
fingerprinted = fingerprinted_in(LIVE)


def deleted_with(live: LiveState) -> Mapping[str, frozenset[str]]:
    """An archive's passages go with it (the server deletes them)."""
    from reconciler.kinds import passage  # the passages' part refers to archives

    return holders.deleted_with(passage.of(live).found, lambda p: p.archive_id)


def declared(desired: DesiredState) -> Iterable[Address]:
    return (spec.address for spec in desired.archives)


def needs(desired: DesiredState) -> Iterable[tuple[Address, Iterable[Address]]]:
    """An agent needs the archive it lists (it is attached to it)."""
    return holders.listed_by_agents(desired, KIND)


def description(text: str | None, stack: str, protected: bool = False) -> str:
    """A description with the stack's marker at its end."""
    marker = f"[letta-apply:{stack}{':protected' if protected else ''}]"
    return f"{text} {marker}" if text else marker


def parse_description(text: str | None) -> tuple[str | None, str | None, bool]:
    """(description without the marker, the marking stack, protected) of a description."""
    found = _MARKER.search(text or "")
    if text is None or found is None:
        return text, None, False
    rest = text[: found.start()]
    return rest or None, found.group("stack"), bool(found.group("protected"))


# Reading --------------------------------------------------------------------------------------


class ArchiveRecord(TypedDict):
    """An archive as the server answers it, with the fields letta-apply reads."""

    id: str
    name: str
    description: str | None
    """Ends with the stack's marker (`description`)."""
    embedding_config: NotRequired[EmbeddingConfig | None]
    created_at: NotRequired[str | None]


SHAPE = Shape(ArchiveRecord)
AGENT = Shape(Created)
"""An agent an archive is attached to, as its listing of agents gives it: its id."""


def from_server(raw: ArchiveRecord, stack: str) -> LiveArchive:
    text, owner, protected = parse_description(raw["description"])
    name = raw["name"]
    config = raw.get("embedding_config")
    return LiveArchive(
        id=raw["id"],
        name=name,
        address=_address(name) if owner == stack else None,
        created_at=raw.get("created_at") or "",
        description=text,
        embedding=config.get("handle") if config else None,
        protected=protected,
        owner=owner,
    )


def _address(name: str) -> Address | None:
    try:
        return Address.archive(name)
    except ValueError:
        return None


def listing(api: LettaApi, stack: str) -> list[LiveArchive]:
    """Every archive on the server."""
    return [from_server(SHAPE.parse(raw, LISTED), stack) for raw in api.paginate(ROUTE, None, 100)]


def read(reading: Reading) -> Archives:
    """Every archive, and the agents of the stack's (with `--adopt`, of the unowned ones of
    declared names too; `holders.read`); and the archives of the stack's agents that list one
    they are not attached to (`Archives.held`)."""
    api, stack = reading.api, reading.stack
    found = holders.read(reading, _specs, lambda: listing(api, stack), lambda a: _agents(api, a))
    if found is None:
        return Archives()
    unlinked = _unlinked(reading, found)
    with ThreadPoolExecutor(max_workers=max(1, reading.parallelism)) as pool:
        held = pool.map(lambda agent_id: _of_agent(api, agent_id, stack), unlinked)
        return Archives(tuple(found), tuple(zip(unlinked, held, strict=True)))


def _specs(desired: DesiredState) -> Sequence[ArchiveSpec]:
    return desired.archives


def adoptable(reading: Reading) -> frozenset[str]:
    """The declared archive names `--adopt` may take over (none without it)."""
    return holders.adoptable(reading, _specs)


def _agents(api: LettaApi, archive: LiveArchive) -> tuple[str, ...]:
    path = f"{ROUTE}{archive.id}/agents"
    listed = api.paginate(path, None, 100)
    return tuple(sorted(AGENT.parse(raw, f"GET {path}")["id"] for raw in listed))


def _unlinked(reading: Reading, found: Sequence[LiveArchive]) -> list[str]:
    """The ids of the stack's agents that list an archive they are not attached to."""
    desired = reading.desired
    if desired is None or not any(spec.listing(KIND) for spec in desired.agents):
        return []
    agents = reading.part(agent.LIVE).kept
    linked = {a.address: a.agent_ids for a in found if a.address is not None}
    return sorted(
        {
            agents[spec.address].id
            for spec in desired.agents
            for address in spec.listing(KIND)
            if spec.address in agents and agents[spec.address].id not in linked.get(address, ())
        }
    )


def _of_agent(api: LettaApi, agent_id: str, stack: str) -> tuple[LiveArchive, ...]:
    listed = api.paginate(ROUTE, {"agent_id": agent_id}, 100)
    return tuple(from_server(SHAPE.parse(raw, LISTED), stack) for raw in listed)


# Exporting -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportedArchive:
    """An archive as an export writes it back: its settings, the agents it is attached to,
    and its passages (`reconciler.kinds.passage.exported`)."""

    name: str
    description: str | None
    embedding: str | None
    agent_ids: tuple[str, ...]
    passages: tuple[passage.ExportedPassage, ...]


def with_agents(api: LettaApi, stack: str, parallelism: int) -> list[LiveArchive]:
    """Every archive with the agents it is attached to: an export may take any."""
    return holders.with_agents(listing(api, stack), lambda a: _agents(api, a), parallelism)


def exported(
    api: LettaApi, found: LiveArchive, stack: str | None, _page_size: int
) -> ExportedArchive:
    """The archive with its passages: with `stack`, those it wrote; else those no stack
    wrote."""
    from reconciler.kinds import passage  # the passages' part refers to archives

    texts = passage.exported(api, found.id, stack)
    return ExportedArchive(found.name, found.description, found.embedding, found.agent_ids, texts)


# Planning -------------------------------------------------------------------------------------


def plan(desired: DesiredState, live: LiveState, out: Builder) -> None:
    """Create, update, report or delete the stack's archives, and link them to its agents."""
    kept = out.keep_survivors(of(live).by_address, "archives", _protected)
    for spec in desired.archives:
        current = kept.get(spec.address)
        other = of(live).others.get(spec.name)
        if current is None and other is not None:
            out.notice(
                NoticeKind.BLOCKED,
                spec.address,
                f"an archive named {spec.name!r} exists and is not owned by this stack; "
                "adopt it to manage it",
                resource_ids=(other.id,),
            )
        elif current is None:
            out.change(Create(spec.address, freeze(_body(spec, desired.stack))))
        else:
            _update(spec, current, desired.stack, out)
    out.undeclared(kept, declared(desired), _protected)
    in_the_way = _in_the_way(desired, of(live))
    attached.plan_links(desired, live, kept, out, KIND, in_the_way)


def _in_the_way(desired: DesiredState, archives: Archives) -> attached.Refusal:
    """The archive an agent holds, in the way of the one it lists: Letta allows one archive
    per agent, and one the stack does not own is the agent's memory, never detached."""
    wanted = {(spec.address, a) for spec in desired.agents for a in spec.listing(KIND)}

    def refused(address: Address, agent_address: Address, agent_id: str) -> Notice | None:
        held = [a for a in archives.of_agent.get(agent_id, ()) if a.address != address]
        if not held:
            return None
        other = held[0]
        one = "Letta allows one archive per agent"
        if other.address is not None and (agent_address, other.address) not in wanted:
            why = (
                f"{agent_address} has this stack's {other.address}, which this plan detaches; "
                f"{one}: {address} is attached by the next apply"
            )
        else:
            why = (
                f"{agent_address} already has the archive {other.name!r} ({other.id}, "
                f"{_whose(other)}); {one}, so {address} is not attached (letta-apply never "
                f"detaches or deletes an agent's archive): take {address.name!r} off the "
                "agent's archives"
                + (f", or declare {other.name!r} and adopt it" if other.owner is None else "")
            )
        return Notice(NoticeKind.BLOCKED, address, why, resource_ids=(other.id,))

    return refused


def _whose(found: LiveArchive) -> str:
    if found.owner is None:
        return "no stack's: the agent's own archival memory"
    return f"of stack {found.owner!r}"


def _protected(archive: LiveArchive) -> bool:
    return archive.protected


def _body(spec: ArchiveSpec, stack: str) -> dict[str, JSON]:
    marked = description(spec.description, stack, spec.protected)
    return {"name": spec.name, "description": marked, **optional(embedding=spec.embedding)}


def _update(spec: ArchiveSpec, current: LiveArchive, stack: str, out: Builder) -> None:
    """The description is compared without the marker and sent with it."""
    found = {"description": current.description, "protected": current.protected}
    wanted = {"description": spec.description, "protected": spec.protected}
    sent = {"description": description(spec.description, stack, spec.protected)}
    out.update(spec.address, current.id, found, wanted, send=lambda _changed: sent)
    holders.embedding_kept(out, spec.address, current.embedding, spec.embedding, current.id)


# Adopting --------------------------------------------------------------------------------------


def adopting(desired: DesiredState, live: LiveState, found: Adoption) -> LiveState:
    """An archive no stack marked holding a declared name, marked as the stack's (its
    passages stay others': those with a declared passage's text stand for it)."""
    held = of(live)
    adopted = holders.adopted(
        desired.archives,
        held.found,
        held.by_address,
        found,
        lambda archive, address: replace(
            archive, address=address, owner=found.stack, protected=False
        ),
    )
    return live.with_part(LIVE, Archives(swapped(held.found, adopted), held.held))


# Server calls ---------------------------------------------------------------------------------


def create(api: LettaApi, stack: str, change: Create, resolve: Resolve) -> str:
    """Create the archive marked; a lost answer is found by its name and marker."""
    body = thaw(change.body)
    where = str(change.address)

    def find() -> ArchiveRecord | None:
        return next(iter(marked(api, change.address.name, stack)), None)

    created = api.create(ROUTE, body, address=where, find_existing=find)
    return created_id(created, ROUTE, change.address)


def marked(api: LettaApi, name: str, stack: str | None) -> list[ArchiveRecord]:
    """The archives named `name` carrying the marker of `stack` (None: of any stack)."""
    where = f"archive/{name}"
    found = SHAPE.parse_all(api.get(ROUTE, {"name": name}, address=where), LISTED, where)
    return [
        raw
        for raw in found
        if raw["name"] == name
        and (owner := parse_description(raw["description"])[1]) is not None
        and (stack is None or owner == stack)
    ]


def update(api: LettaApi, change: Update) -> None:
    api.patch(f"{ROUTE}{change.resource_id}", thaw(change.body), address=str(change.address))


def delete(api: LettaApi, change: Delete) -> None:
    """The server deletes the archive's passages and agent links with it."""
    delete_if_present(api, f"{ROUTE}{change.resource_id}", change.address)


def adopt(api: LettaApi, stack: str, change: Adopt, _resolve: Resolve) -> str:
    """Mark an existing archive of the declared name as the stack's (its passages stay
    others': they are never touched)."""
    address, resource_id = change.address, change.resource_id
    path = f"{ROUTE}{resource_id}"
    current = SHAPE.parse(api.get(path, address=str(address)), f"GET {path}", str(address))
    holders.refuse_other_name(address, resource_id, current["name"])
    text, owner, _protected = parse_description(current["description"])
    refuse_other_owner(address, owner, stack)
    api.patch(path, {"description": description(text, stack)}, address=str(address))
    return str(resource_id)


def attach(api: LettaApi, change: Attach, resolve: Resolve) -> None:
    attach_at(api, "archives", change, resolve)


def detach(api: LettaApi, change: Detach, resolve: Resolve) -> None:
    detach_at(api, "archives", change, resolve)
