"""Resources that hold others and that agents list by name: folders hold files, archives hold
passages. What the two holders' kinds share (reading every holder with the agents of those
the stack may own, the declared names `--adopt` may take over, the adopted holder's name
check, the embedding that cannot change), and what their contents' kinds share (the holders
whose contents are read, the declared holders a plan walks, the contents no longer declared).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, Self, TypeVar

from reconciler.address import Address, Kind
from reconciler.desired import DesiredState
from reconciler.errors import LettaApplyError
from reconciler.kinds.common import Adoption, Reading, only
from reconciler.live.state import Resource
from reconciler.plan.builder import Builder
from reconciler.plan.model import NoticeKind


class Holder(Protocol):
    """A folder or an archive as read from the server."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def address(self) -> Address | None: ...

    @property
    def owner(self) -> str | None: ...

    def linked(self, agent_ids: tuple[str, ...]) -> Self:
        """The holder with the agents it is attached to."""
        ...


class Declared(Protocol):
    """A declared folder or archive."""

    @property
    def address(self) -> Address: ...

    @property
    def name(self) -> str: ...


class Content(Resource, Protocol):
    """A file or a passage as read from the server; `address` is set when the stack's."""

    @property
    def address(self) -> Address | None: ...


H = TypeVar("H", bound=Holder)
D = TypeVar("D", bound=Declared)
K = TypeVar("K", bound=Content)
R = TypeVar("R", bound=Resource)

Specs = Callable[[DesiredState], Sequence[Declared]]
"""The declared holders of a kind (`desired.folders`, `desired.archives`)."""


# The holders' kinds ----------------------------------------------------------------------------


def read(
    reading: Reading,
    specs: Specs,
    listing: Callable[[], list[H]],
    agents: Callable[[H], tuple[str, ...]],
) -> list[H] | None:
    """Every holder on the server, those the stack owns or may adopt with their agents (read
    at once). A scoped read keeps of the stack's only those in scope, and reads nothing (None)
    when the scope declares none."""
    desired = reading.desired
    if reading.scoped and not (desired and specs(desired)):
        return None
    found = listing()
    if reading.scoped and desired is not None:
        wanted = {spec.address for spec in specs(desired)}
        found = [h for h in found if h.address is None or h.address in wanted]
    mine = readable(found, adoptable(reading, specs))
    linked = {h.id: h for h in with_agents(mine, agents, reading.parallelism)}
    return [linked.get(h.id, h) for h in found]


def with_agents(
    found: Sequence[H], agents: Callable[[H], tuple[str, ...]], parallelism: int
) -> list[H]:
    """Every holder with the agents it is attached to (an export may take any)."""
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        return list(pool.map(lambda h: h.linked(agents(h)), found))


def adoptable(reading: Reading, specs: Specs) -> frozenset[str]:
    """The declared holder names `--adopt` may take over (none without it)."""
    desired = reading.desired
    if not reading.adopt or desired is None:
        return frozenset()
    return frozenset(spec.name for spec in specs(desired))


def is_adoptable(found: Holder, names: frozenset[str]) -> bool:
    """Whether `--adopt` may take the holder over: no stack's mark, a declared name."""
    return found.owner is None and found.name in names


def adopted(
    specs: Sequence[Declared],
    found: Sequence[H],
    owned: Mapping[Address, object],
    adoption: Adoption,
    taken: Callable[[H, Address], H],
) -> dict[str, H]:
    """The holders `--adopt` takes over: for each declared one the stack has none of, the one
    holder no stack marked holding its name (never a guess between several), as the stack's
    (`taken`), by id."""
    adopted: dict[str, H] = {}
    for spec in specs:
        unowned = [h for h in found if is_adoptable(h, frozenset({spec.name}))]
        holder = only(unowned) if spec.address not in owned else None
        if holder is not None:
            adoption.take(spec.address, holder.id)
            adopted[holder.id] = taken(holder, spec.address)
    return adopted


def refuse_other_name(address: Address, resource_id: str, name: str) -> None:
    """An adoption names a resource that must hold the declared name."""
    if name != address.name:
        raise LettaApplyError(
            f"{address}: {address.kind.value} {resource_id} is named {name!r}, not {address.name!r}"
        )


def embedding_kept(
    out: Builder, address: Address, current: str | None, declared: str | None, resource_id: str
) -> None:
    """Report a declared embedding other than the holder's: the server cannot change it."""
    if declared is None or current in (None, declared):
        return
    noun = address.kind.value
    out.notice(
        NoticeKind.CONFLICT,
        address,
        f"the {noun} embeds with {current!r}, the manifest says {declared!r}; the server "
        f"cannot change {'an' if noun[0] in 'aeiou' else 'a'} {noun}'s embedding (delete the "
        f"{noun} to make it again)",
        resource_ids=(resource_id,),
    )


def listed_by_agents(
    desired: DesiredState, kind: Kind
) -> Iterable[tuple[Address, Iterable[Address]]]:
    """Each agent with the holders of `kind` it lists (it needs them: they are attached)."""
    return ((spec.address, spec.listing(kind)) for spec in desired.agents)


def deleted_with(contents: Iterable[K], holder_id: Callable[[K], str]) -> dict[str, frozenset[str]]:
    """Holder id -> the ids of the stack's contents in it (the server deletes them with it)."""
    groups: dict[str, set[str]] = {}
    for content in contents:
        if content.address is not None:
            groups.setdefault(holder_id(content), set()).add(content.id)
    return {key: frozenset(ids) for key, ids in groups.items()}


# The contents' kinds ---------------------------------------------------------------------------


def readable(found: Iterable[H], names: frozenset[str]) -> list[H]:
    """The holders whose contents a plan reads: the stack's, and those `--adopt` may take."""
    return [h for h in found if h.address is not None or is_adoptable(h, names)]


def declared_holders(
    specs: Sequence[D], by_address: Mapping[Address, Sequence[H]], taken: Callable[[str], bool]
) -> Iterator[tuple[D, H | None]]:
    """Each declared holder with the stack's on the server (None: not made yet), those whose
    name a holder of others takes left out: blocked, and their contents with them."""
    for spec in specs:
        group = by_address.get(spec.address)
        holder = group[0] if group else None
        if holder is None and taken(spec.name):
            continue
        yield spec, holder


def undeclared_contents(
    out: Builder, kept: Mapping[Address, R], specs: Sequence[Declared], declared: Iterable[Address]
) -> None:
    """Report, or delete with prune, the stack's contents no longer declared in declared
    holders (those of a holder no longer declared go with it)."""
    in_declared = {spec.address for spec in specs}
    mine = {address: c for address, c in kept.items() if address.owner in in_declared}
    out.undeclared(mine, declared)
