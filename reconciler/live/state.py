"""The live state's value types: what the server holds for a stack, as plain frozen values,
one part per kind.

No network code here: the planner depends on these types only. Each kind's module says what
its part holds and how it is read (`reconciler.kinds`).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, ItemsView, Iterable, Iterator, Mapping, ValuesView
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Generic, Protocol, TypeVar, cast, runtime_checkable

from reconciler.address import Address, AddressError, Kind, in_order
from reconciler.values import EMPTY, Frozen


class Resource(Protocol):
    """What every live resource has: its server id and, where the server says, its birth."""

    @property
    def id(self) -> str: ...

    @property
    def created_at(self) -> str: ...


@runtime_checkable
class Tagged(Protocol):
    """A live resource the server keeps tags on: agents, blocks and tools."""

    @property
    def tags(self) -> tuple[str, ...]: ...


R = TypeVar("R", bound=Resource)


class Addressed(Resource, Protocol):
    """A live resource that names its address when the stack owns it."""

    @property
    def address(self) -> Address | None: ...


A = TypeVar("A", bound=Addressed)


def survivor_first(resources: Iterable[R]) -> list[R]:
    """The rule for which of several resources claiming one address is kept: the oldest
    (`created_at`), and where the server gives no creation time (blocks), the lowest id, so
    every run and every reader keeps the same one. The kept one comes first."""
    return sorted(resources, key=lambda r: (r.created_at, r.id))


def by_address(
    resources: Iterable[R], address_of: Callable[[R], Address | None]
) -> dict[Address, list[R]]:
    """Resources grouped by the address they claim (survivor first); unaddressed ones left out."""
    groups: dict[Address, list[R]] = defaultdict(list)
    for resource in resources:
        address = address_of(resource)
        if address is not None:
            groups[address].append(resource)
    return {
        address: group if len(group) == 1 else survivor_first(group)
        for address in sorted(groups, key=in_order)
        for group in (groups[address],)
    }


K = TypeVar("K")
V = TypeVar("V")


class Walked(Mapping[K, V]):
    """A mapping made as it is walked: `pairs()` gives its items, in order and each key once,
    every time it is called. For mappings as large as the stack that their users walk once (a
    kind's owned resources by address: an address for each of 100,000 agents' own blocks), so
    that none is ever held whole; a lookup by key makes and keeps the whole dictionary."""

    __slots__ = ("_made", "_pairs")

    def __init__(self, pairs: Callable[[], Iterable[tuple[K, V]]]) -> None:
        self._pairs = pairs
        self._made: dict[K, V] | None = None

    def __getitem__(self, key: K) -> V:
        if self._made is None:
            self._made = dict(self._pairs())
        return self._made[key]

    def __iter__(self) -> Iterator[K]:
        return (key for key, _ in self._pairs())

    def __len__(self) -> int:
        return sum(1 for _ in self._pairs())

    def items(self) -> ItemsView[K, V]:
        return _WalkedItems(self)

    def values(self) -> ValuesView[V]:
        return _WalkedValues(self)


class _WalkedItems(ItemsView[K, V]):
    _mapping: Walked[K, V]

    def __iter__(self) -> Iterator[tuple[K, V]]:
        return iter(self._mapping._pairs())


class _WalkedValues(ValuesView[V]):
    _mapping: Walked[object, V]

    def __iter__(self) -> Iterator[V]:
        return (value for _, value in self._mapping._pairs())


@dataclass(frozen=True, slots=True)
class LiveBlock:
    """A memory block; `address` is set when the stack's ownership record names one."""

    id: str
    label: str
    value: str
    limit: int | None = None
    description: str | None = None
    read_only: bool = False
    tags: tuple[str, ...] = ()
    metadata: Frozen = EMPTY
    address: Address | None = None
    protected: bool = False
    created_at: str = ""


@dataclass(frozen=True, slots=True)
class ToolRef:
    """A tool attached to an agent, as the agent listing names it."""

    id: str
    name: str
    tool_type: str

    @property
    def is_base(self) -> bool:
        """A tool the server attaches itself (memory, search, messaging), not a built-in one
        an agent opts into (`letta_builtin`: web_search, run_code, ...) or a custom one."""
        return self.tool_type.startswith("letta_") and self.tool_type != "letta_builtin"


@dataclass(frozen=True, slots=True)
class LiveTool:
    """A tool on the server: one of the stack's (`address` from its ownership record) or one
    of the server's or another app's that the stack's manifests name.

    `settings` holds the fields the tool kind compares, by server name.
    """

    id: str
    name: str
    tool_type: str
    address: Address | None
    settings: Frozen = EMPTY
    tags: tuple[str, ...] = ()
    tagged: bool = False
    """Carries the stack's tag (with or without an ownership record)."""
    protected: bool = False
    created_at: str = ""
    mcp_server: str | None = None
    """The MCP server providing the tool, by name (the server records it)."""
    owner: str | None = None
    """The stack named by its ownership record, this one or another; None when unrecorded."""


@dataclass(frozen=True, slots=True)
class LiveMcpServer:
    """An MCP server; `address` is set when it carries the stack's mark. `settings` holds
    what the kind compares, credentials and environment values only as keyed digests."""

    id: str
    name: str
    address: Address | None
    settings: Frozen = EMPTY
    created_at: str = ""


@dataclass(frozen=True, slots=True)
class LiveAgent:
    """An agent on the server. `address` is set when the stack's ownership record names one.

    `settings` holds the fields of the agent kind's settings table, by server name.
    """

    id: str
    name: str
    address: Address | None
    created_at: str
    settings: Frozen = EMPTY
    tags: tuple[str, ...] = ()
    metadata: Frozen = EMPTY
    blocks: tuple[LiveBlock, ...] = ()
    identity_ids: tuple[str, ...] = ()
    protected: bool = False
    tools: tuple[ToolRef, ...] = ()
    secret_names: tuple[str, ...] = ()
    """The names of the agent's secrets (their values are never kept)."""
    companions: tuple[str, ...] = ()
    """Ids of the sleep-time agents the server made for it (they share its blocks)."""


@dataclass(frozen=True, slots=True)
class LiveConversation:
    """A conversation marked as the stack's, on one of the stack's shared agents."""

    id: str
    agent_id: str
    user_id: str
    summary: str
    created_at: str


class Basis(StrEnum):
    """What a user's last activity date is."""

    LAST_RUN = "last-run"
    """The dedicated agent's last completed run."""
    LAST_MESSAGE = "last-message"
    """The conversation's last message request."""
    CREATED = "created"
    """Never used: the agent or conversation's creation."""


@dataclass(frozen=True, slots=True)
class Activity:
    """When one of the stack's per-user resources was last used, as the server records it:
    a dedicated agent's last completed run, a conversation's last message request (None
    when never used), with what that date is (`basis`, as the kind read it). Read apart from
    `LiveState`: it changes with every message, so it is no part of what a saved plan
    checks."""

    address: Address
    id: str
    created_at: str
    last_used: str | None
    basis: Basis


@dataclass(frozen=True, slots=True)
class LiveIdentity:
    """An identity; `owned` when it carries this stack's marker property. `properties`
    leaves out the ownership properties."""

    id: str
    identifier_key: str
    name: str
    identity_type: str
    properties: Frozen
    owned: bool
    created_at: str = ""
    protected: bool = False
    marked_by: str | None = None
    """The stack whose marker it carries, this one or another; None when unmarked."""

    @property
    def address(self) -> Address | None:
        try:
            return Address.identity(self.identifier_key)
        except AddressError:
            return None


@dataclass(frozen=True)
class IdentityReads:
    """How a live state's identities were read, so that applying a saved plan reads them the
    same way (and finds the same ones, or the server changed).

    Either every identity on the server was listed (`listed`), or only those attached to the
    stack's agents (they come with the agent listing) and those looked up by key
    (`looked_up`: declared keys attached to none of the stack's agents). The first finds
    owned identities attached nowhere, which prune needs; the second costs requests in
    proportion to the stack, not to the server.
    """

    listed: bool = True
    looked_up: tuple[str, ...] = ()


P = TypeVar("P")
T = TypeVar("T")


@dataclass(frozen=True)
class Part(Generic[P]):
    """The key of one kind's part of a live state (what that kind read from the server), and
    the part when nothing of the kind was read."""

    kind: Kind
    empty: P

    def of(self, live: LiveState) -> P:
        """This kind's part of `live`."""
        return live.part(self)


@dataclass(frozen=True)
class Found(Generic[A]):
    """A kind's part that is a list of resources, the stack's among them: those naming an
    address (`owns` says otherwise where ownership is not the address)."""

    found: tuple[A, ...] = ()

    def owns(self, resource: A) -> bool:
        return resource.address is not None

    @cached_property
    def owned(self) -> tuple[A, ...]:
        return tuple(r for r in self.found if self.owns(r))

    @cached_property
    def by_address(self) -> dict[Address, list[A]]:
        return by_address(self.owned, lambda r: r.address)


class LiveState:
    """What the server holds that matters to one stack: one part per kind, keyed by kind
    (`reconciler.kinds` says what each kind reads, owns and fingerprints).

    Immutable once made; what is derived from it (resources by address) is computed once.
    """

    __slots__ = ("_derived", "_lock", "_parts", "stack")

    def __init__(self, stack: str, parts: Mapping[Kind, object] | None = None) -> None:
        self.stack = stack
        self._parts: dict[Kind, object] = dict(parts or {})
        self._derived: dict[object, object] = {}
        self._lock = threading.Lock()

    def part(self, key: Part[P]) -> P:
        """The part of `key`'s kind (its empty part when that kind was not read)."""
        found = self._parts.get(key.kind, key.empty)
        if not isinstance(found, type(key.empty)):
            raise TypeError(f"the live {key.kind.value} part is a {type(found).__name__}")
        return found

    def with_part(self, key: Part[P], value: P) -> LiveState:
        """The same state with `key`'s part replaced."""
        return LiveState(self.stack, {**self._parts, key.kind: value})

    @property
    def kinds(self) -> frozenset[Kind]:
        """The kinds read into this state."""
        return frozenset(self._parts)

    def derived(self, key: object, compute: Callable[[], T]) -> T:
        """`compute()`, made once per state and key (e.g. a kind's resources by address)."""
        with self._lock:
            if key in self._derived:
                return cast(T, self._derived[key])
        value = compute()
        with self._lock:
            return cast(T, self._derived.setdefault(key, value))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LiveState):
            return NotImplemented
        return self.stack == other.stack and self._parts == other._parts

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LiveState({self.stack!r}, {self._parts!r})"
