"""The kinds of resource a stack manages: one module each, registered here.

Each module holds everything about its kind: its server record (a `TypedDict` of the fields it
reads, checked once by its `SHAPE` where an answer enters the kind: `reconciler.shape`), its
part of the live state (`LIVE`), how it is read from the server (`read`, through the kind's
one listing, and `from_server`, which takes the checked record), which of it the stack owns
(`owned`, `deleted_with`), what of it a saved plan checks (`fingerprinted`) and how it was
read for that plan (`read_record`), how it is planned against the desired state (`plan`,
with its managed fields), and created, updated, deleted and adopted on the server; linkable
kinds also attach and detach, a kind whose changes may end after their request was answered
(a file the server processes in the background) finishes them (`FINISHERS`), and one whose
creates may be sent several in one request groups them (`BATCHERS`). `KINDS` lists them in
dependency order (a kind only needs kinds before it), which is also the order changes of one
phase are listed and run in. What is generic (the fingerprint, the owned ids, the ids an
apply starts from, the declared addresses) is computed here from `KINDS`, never from a list
of kinds written by hand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from reconciler.address import Address, Kind
from reconciler.desired import DesiredState
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
from reconciler.kinds.common import Adoption, Pending, Reading, Resolve
from reconciler.live.state import LiveState, Part, Resource
from reconciler.plan.builder import Builder
from reconciler.plan.model import Adopt, Attach, Change, Create, Delete, Detach, Update
from reconciler.values import JSON, Canonical, Frozen

T = TypeVar("T")

if TYPE_CHECKING:
    from reconciler.client import LettaApi
    from reconciler.errors import LettaApplyError


class Handler(Protocol):
    """What a kind's module provides."""

    @property
    def KIND(self) -> Kind: ...

    @property
    def LIVE(self) -> Part[Any]: ...

    def read(self, reading: Reading) -> object: ...

    def owned(self, live: LiveState) -> Mapping[Address, Sequence[Resource]]: ...

    def deleted_with(self, live: LiveState) -> Mapping[str, frozenset[str]]: ...

    def named_ids(self, live: LiveState) -> Mapping[Address, str]: ...

    def fingerprinted(self, live: LiveState) -> Iterable[object]: ...

    def read_record(self, live: LiveState) -> Frozen | None: ...

    def declared(self, desired: DesiredState) -> Iterable[Address]: ...

    def needs(self, desired: DesiredState) -> Iterable[tuple[Address, Iterable[Address]]]: ...

    def plan(self, desired: DesiredState, live: LiveState, out: Builder) -> None: ...

    def shown(self, change: Create) -> Mapping[str, JSON]: ...

    def create(
        self, api: LettaApi, stack: str, change: Create, resolve: Resolve
    ) -> str | Pending: ...

    def update(self, api: LettaApi, change: Update) -> Pending | None: ...

    def delete(self, api: LettaApi, change: Delete) -> Pending | None: ...

    def adopt(
        self, api: LettaApi, stack: str, change: Adopt, resolve: Resolve
    ) -> str | Pending: ...

    def adopting(self, desired: DesiredState, live: LiveState, found: Adoption) -> LiveState: ...


class Linker(Protocol):
    """What a kind that can be linked to agents also provides: whether a detach of it is
    claimed on the agent rather than on the resource (a resource the stack may link without
    owning it, as a server's tool), and the attach and detach."""

    @property
    def DETACH_CLAIMED_ON_AGENT(self) -> bool: ...

    def attach(self, api: LettaApi, change: Attach, resolve: Resolve) -> None: ...

    def detach(self, api: LettaApi, change: Detach, resolve: Resolve) -> None: ...


class Finisher(Protocol):
    """What a kind whose changes may end after their request was answered (`Pending`) also
    provides: how often one group of them is looked at, and the look."""

    @property
    def FINISH_EVERY(self) -> float: ...

    def finish(
        self, api: LettaApi, pending: Sequence[Pending]
    ) -> Mapping[Pending, LettaApplyError | None]: ...


class Batcher(Protocol):
    """What a kind whose creates may be sent several in one request also provides: how a
    phase's changes of the kind are grouped (each group started at once, most alone), and
    the creates of one group sent together (the ids made, in their order)."""

    def batches(self, changes: Sequence[Change]) -> list[tuple[Change, ...]]: ...

    def create_together(
        self, api: LettaApi, stack: str, changes: Sequence[Create], resolve: Resolve
    ) -> list[str]: ...


class Exporter(Protocol):
    """What a kind agents list by name in the manifest (`reconciler.manifest.sources.SECTIONS`)
    also provides for an export: every resource of it with the agents it is attached to
    (`name`, `owner`, `address`, `agent_ids`: any may be attached to an exported agent), and one
    resource read with its contents (with a stack, the stack's only)."""

    def with_agents(self, api: LettaApi, stack: str, parallelism: int) -> Sequence[Any]: ...

    def exported(self, api: LettaApi, found: Any, stack: str | None, page_size: int) -> Any: ...


KINDS: tuple[Handler, ...] = (
    block,
    identity,
    mcp_server,
    tool,
    agent,
    conversation,
    folder,
    file,
    archive,
    passage,
)
"""Every planned kind, in dependency order: shared blocks, identities, MCP servers and tools
need nothing (an MCP server's tools come with it), agents link shared blocks and tools,
agents' own blocks and conversations live on agents; folders and archives are linked to the
agents planned before them, files live in folders and passages in archives."""

LINKERS: dict[Kind, Linker] = {
    Kind.BLOCK: block,
    Kind.IDENTITY: identity,
    Kind.TOOL: tool,
    Kind.FOLDER: folder,
    Kind.ARCHIVE: archive,
}


FINISHERS: dict[Kind, Finisher] = {Kind.FILE: file}
EXPORTERS: dict[Kind, Exporter] = {Kind.FOLDER: folder, Kind.ARCHIVE: archive}
BATCHERS: dict[Kind, Batcher] = {Kind.PASSAGE: passage}


def handler(kind: Kind) -> Handler:
    """The module handling `kind`; a kind that is not planned (the lock) has none."""
    for entry in KINDS:
        if entry.KIND is kind:
            return entry
    raise LookupError(f"no handler for resource kind {kind.value!r}")


def linker(kind: Kind) -> Linker:
    """The module linking `kind` to agents; LookupError for a kind that cannot be linked."""
    return _entry(LINKERS, kind, "resources", "cannot be linked to agents")


def detach_claimed_on_agent(kind: Kind) -> bool:
    """Whether detaching a resource of `kind` asserts only that the agent is the stack's (the
    resource may be the server's): False for a kind that cannot be linked."""
    found = LINKERS.get(kind)
    return found is not None and found.DETACH_CLAIMED_ON_AGENT


def linked_agents(live: LiveState) -> Collection[Address]:
    """The addresses of the stack's agents, which linkable kinds are attached to and
    detached from."""
    return agent.of(live).by_address.keys()


def finisher(kind: Kind) -> Finisher:
    """The module finishing `kind`'s pending changes; LookupError for a kind that leaves none."""
    return _entry(FINISHERS, kind, "changes", "leave nothing pending")


def batcher(kind: Kind) -> Batcher:
    """The module sending `kind`'s creates together; LookupError for a kind that cannot."""
    return _entry(BATCHERS, kind, "creates", "are not sent together")


def exporter(kind: Kind) -> Exporter:
    """The module exporting `kind` with its contents; LookupError for a kind agents do not
    list by name."""
    return _entry(EXPORTERS, kind, "resources", "are not exported by name")


def _entry(table: Mapping[Kind, T], kind: Kind, what: str, missing: str) -> T:
    """The module `table` holds for `kind`; otherwise LookupError saying that `what` of the
    kind (its resources, changes, creates) `missing`."""
    found = table.get(kind)
    if found is None:
        raise LookupError(f"{what} of kind {kind.value!r} {missing}")
    return found


def rank(kind: Kind) -> int:
    """Position of a kind in dependency order (kinds not planned come last)."""
    kinds = [entry.KIND for entry in KINDS]
    return kinds.index(kind) if kind in kinds else len(kinds)


def owned_ids(live: LiveState) -> dict[str, Address]:
    """Id -> address of everything the stack owns, duplicates and agents' own blocks too."""
    return {
        resource.id: address
        for entry in KINDS
        for address, group in entry.owned(live).items()
        for resource in group
    }


def kept_ids(live: LiveState) -> dict[Address, str]:
    """Address -> id of the live resource the stack keeps there (the survivor), and of the
    server's resources its plans may name (a built-in tool)."""
    kept = {address: group[0].id for entry in KINDS for address, group in entry.owned(live).items()}
    for entry in KINDS:
        for address, resource_id in entry.named_ids(live).items():
            kept.setdefault(address, resource_id)
    return kept


def claimed_twice(live: LiveState) -> dict[Address, tuple[str, ...]]:
    """Addresses more than one resource claims with this stack's ownership record (the kept
    one first): an interrupted create, or a copied record. Which is genuine only a person can
    tell: whoever can write to the server can copy a record."""
    return {
        address: tuple(resource.id for resource in group)
        for entry in KINDS
        for address, group in entry.owned(live).items()
        if len(group) > 1
    }


def deleted_with(live: LiveState) -> dict[str, frozenset[str]]:
    """Id of an owned resource -> the ids of those deleted along with it (an agent's own
    blocks)."""
    return {key: ids for entry in KINDS for key, ids in entry.deleted_with(live).items()}


def owned_count(live: LiveState) -> int:
    """Resources the stack owns, those deleted along with others included (for the deletion
    guard)."""
    ids: set[str] = set()
    for entry in KINDS:
        for group in entry.owned(live).values():
            ids.update(resource.id for resource in group)
        for children in entry.deleted_with(live).values():
            ids.update(children)
    return len(ids)


def fingerprint(live: LiveState) -> str:
    """Digest of everything owned: any change on the server changes it.

    The digest of `canonical` of the list of each kind's fingerprinted values, in `KINDS`
    order, hashed a resource at a time: the same bytes as that one document, without ever
    holding it (at 100,000 users it would be tens of megabytes, and its pieces several times
    that).
    """
    digest = hashlib.sha256(b"[")
    text = Canonical()
    for index, entry in enumerate(KINDS):
        digest.update(b",[" if index else b"[")
        pending: list[str] = []
        for item in entry.fingerprinted(live):
            pending.append(text(item))
            if len(pending) == _HASHED_AT_ONCE:
                digest.update(",".join(pending).encode())
                pending[:] = [""]  # the next piece starts with its separator
        if pending:
            digest.update(",".join(pending).encode())
        digest.update(b"]")
    digest.update(b"]")
    return digest.hexdigest()


_HASHED_AT_ONCE = 64
"""Resources whose text is hashed in one piece: few calls, and little text held at once (an
agent's is kilobytes: its settings written out)."""


def declared(desired: DesiredState) -> list[Address]:
    """Every address the stack declares, agents' own blocks included, kind by kind."""
    return [address for entry in KINDS for address in entry.declared(desired)]


def read_records(live: LiveState) -> tuple[tuple[Kind, Frozen], ...]:
    """How each kind read its part of `live`, for the kinds whose reads depend on the run (a
    saved plan keeps them, and its apply reads each part the same way), in `KINDS` order."""
    return tuple(
        (entry.KIND, record) for entry in KINDS if (record := entry.read_record(live)) is not None
    )


def needs(desired: DesiredState) -> dict[Address, tuple[Address, ...]]:
    """Declared address -> what it needs to exist first or to be linked, as the kinds say:
    several may say it of one address (the tools an agent lists are the agent kind's to name,
    the folders it lists the folder kind's)."""
    found: dict[Address, dict[Address, None]] = {}
    for entry in KINDS:
        for address, needed in entry.needs(desired):
            found.setdefault(address, {}).update(dict.fromkeys(needed))
    return {address: tuple(needed) for address, needed in found.items()}
