"""What the kinds' server calls share: id resolution, updates and links by path, reading back
a create by its ownership record, and adopting a resource marked with tags and a metadata
record; and what planned adoptions (`--adopt`) share: the adoptions found so far."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

from reconciler import ownership
from reconciler.address import Address, Kind
from reconciler.desired import DesiredState, Outline
from reconciler.errors import LettaApplyError
from reconciler.live.state import Found, LiveState, Part, Resource
from reconciler.paging import PAGE
from reconciler.plan.model import Adopt, Attach, Change, Create, Detach, Update
from reconciler.shape import Shape
from reconciler.values import JSON, Frozen, thaw

if TYPE_CHECKING:
    from reconciler.client import LettaApi

F = TypeVar("F", bound=Found[Any])
P = TypeVar("P")
M = TypeVar("M", bound=Mapping[str, object])
T = TypeVar("T")
S = TypeVar("S", bound=Resource)


@dataclass(frozen=True)
class Reading:
    """One read of the live state, as each kind's `read` gets it: what it is for (a whole
    plan, a scoped one, a saved plan's apply) and the parts of the other kinds, each awaited
    as it is read (kinds read at once; one that needs another's part waits for it)."""

    api: LettaApi
    stack: str
    declared: Future[DesiredState | None]
    """The desired state, which a read started before the users are loaded waits for only
    where it needs it (`desired`)."""
    parts: Mapping[Kind, Future[object]]
    scoped: bool = False
    """Only what `desired` (a stack cut to a scope) declares, looked up one by one."""
    adopt: bool = False
    """Also what the stack could adopt (`reconciler.planner.adoption`)."""
    prune: bool | None = None
    """Whether the plan may delete undeclared resources (None: as `desired` says)."""
    records: Mapping[Kind, Frozen] | None = None
    """A saved plan's apply: how the plan read the server, each kind's record (`read_record`)
    by kind, so that each kind reads its part the same way (None: not a saved plan's apply)."""
    changes: tuple[Change, ...] = ()
    """A saved plan's apply: the plan's changes, from which a kind learns what more it reads
    than the stack's own (the server's tools the plan links, looked up by name)."""
    outline: Outline | None = None
    """What the manifests declare before their users: given when the read starts before the
    users are loaded."""
    parallelism: int = 8
    page_size: int = PAGE
    """Records a page of the listings a read makes (agents, blocks, identities, tools);
    conversations have their own (`conversation.PAGE`)."""
    progress: Callable[[str], None] | None = None

    @property
    def desired(self) -> DesiredState | None:
        """The desired state (None: a saved plan's apply), once the users are loaded."""
        return self.declared.result()

    def part(self, key: Part[P]) -> P:
        """Another kind's part, once it is read (its empty part when it is not read)."""
        future = self.parts.get(key.kind)
        found = key.empty if future is None else future.result()
        if not isinstance(found, type(key.empty)):
            raise TypeError(f"the live {key.kind.value} part is a {type(found).__name__}")
        return found

    @property
    def prunes(self) -> bool:
        """Whether the plan may delete undeclared resources (the option, else the manifests)."""
        if self.prune is not None:
            return self.prune
        return self.desired is not None and self.desired.prune.enabled


@dataclass
class Adoption:
    """The adoptions `--adopt` plans (`reconciler.planner.adoption`), as each kind's
    `adopting` finds them in `KINDS` order: the stack taking them over and its changes."""

    stack: str
    changes: list[Adopt] = field(default_factory=list)

    def take(self, address: Address, resource_id: str) -> None:
        self.changes.append(Adopt(address, resource_id))

    def taken(self, kind: Kind) -> dict[Address, str]:
        """Address -> id of what is adopted of `kind` so far (a folder, for its files)."""
        return {c.address: c.resource_id for c in self.changes if c.address.kind is kind}


def nothing_adopted(_desired: DesiredState, live: LiveState, _found: Adoption) -> LiveState:
    """A kind `--adopt` takes nothing of."""
    return live


def only(candidates: Sequence[T]) -> T | None:
    """The one candidate; None when there are none or several (never guess between them)."""
    return candidates[0] if len(candidates) == 1 else None


def swapped(found: Sequence[S], adopted: Mapping[str, S]) -> tuple[S, ...]:
    """`found` with the adopted ones (by id) in their place."""
    return tuple(adopted.get(item.id, item) for item in found)


Resolve = Callable[[Address], str]
"""Address -> server id of a resource that exists or was created earlier in the run."""


@dataclass(eq=False)
class Pending:
    """What a change left to finish once its request was answered: the server goes on in the
    background (a file it parses and embeds), or a record shared with other changes is still
    to be written (a folder's record of its files). The executor frees the change's place
    among the requests in flight and has the kind's `finish` end the pending changes of one
    `group` together (one call at a time per group); the change ends when `finish` says so.
    A kind subclasses it with what its `finish` needs."""

    group: str
    """Changes finished together (a folder's id)."""
    resource_id: str
    """The id the change made or changed, once it has ended well."""


def no_named_ids(_live: LiveState) -> Mapping[Address, str]:
    """A kind whose plans name only the stack's own resources."""
    return {}


def nothing_needed(_desired: DesiredState) -> Iterable[tuple[Address, Iterable[Address]]]:
    """A kind whose resources need nothing else to exist."""
    return ()


def nothing_recorded(_live: LiveState) -> Frozen | None:
    """A kind whose part is read the same way whatever the run: a saved plan records nothing
    of it."""
    return None


def shown_as_sent(change: Create) -> Mapping[str, JSON]:
    """A kind whose creates a plan shows as they are sent."""
    return change.body


def nothing_deleted_with(_live: LiveState) -> Mapping[str, frozenset[str]]:
    """A kind whose resources are deleted alone."""
    return {}


def owned_in(key: Part[F]) -> Callable[[LiveState], Mapping[Address, Sequence[Resource]]]:
    """`owned` of a kind whose part is a `Found` list: its owned resources by address."""
    return lambda live: key.of(live).by_address


def fingerprinted_in(key: Part[F]) -> Callable[[LiveState], Iterable[object]]:
    """`fingerprinted` of a kind whose part is a `Found` list: its owned resources."""
    return lambda live: key.of(live).owned


def update_at(api: LettaApi, route: str, change: Update) -> None:
    """Send an update's changed fields to `<route><id>` (the kind's `ROUTE`)."""
    path = f"{route}{change.resource_id}"
    api.patch(path, thaw(change.body), address=str(change.address))


def attach_at(api: LettaApi, route: str, change: Attach, resolve: Resolve) -> None:
    """Link the resource to the agent: `/v1/agents/<agent>/<route>/attach/<resource>`."""
    link(api, route, "attach", resolve(change.agent), resolve(change.address), change.address)


def detach_at(api: LettaApi, route: str, change: Detach, resolve: Resolve) -> None:
    """Unlink the resource from the agent: `/v1/agents/<agent>/<route>/detach/<resource>`."""
    link(api, route, "detach", resolve(change.agent), change.resource_id, change.address)


def link(
    api: LettaApi, route: str, verb: str, agent_id: str, resource_id: str, address: Address
) -> None:
    api.patch(f"/v1/agents/{agent_id}/{route}/{verb}/{resource_id}", address=str(address))


class Created(TypedDict):
    """What letta-apply reads of the answer to a create: the new resource's id."""

    id: str


CREATED = Shape(Created)


def created_id(answer: object, route: str, address: Address) -> str:
    """The id of the resource a create at `route` made, from the server's answer."""
    return CREATED.parse(answer, f"POST {route}", str(address))["id"]


def first_owned(found: Iterable[M], stack: str, address: Address) -> M | None:
    """The first of `found` whose ownership record names this stack and address."""
    return next(
        (r for r in found if ownership.metadata_address(r.get("metadata"), stack) == address),
        None,
    )


def delete_if_present(api: LettaApi, path: str, address: Address) -> None:
    """Delete, taking "not found" as done (e.g. a block the server already removed)."""
    try:
        api.delete(path, address=str(address))
    except LettaApplyError as exc:
        if getattr(exc, "status", None) != 404:
            raise


def adopt_tagged(
    api: LettaApi,
    stack: str,
    path: str,
    address: Address,
    current: Mapping[str, object],
    tags: Iterable[str],
) -> None:
    """Write the stack tag and ownership record on a tagged resource (agent or block) the
    server holds as `current` (its record, parsed by its kind), with `tags`."""
    if ownership.is_lock_record(current):
        raise LettaApplyError(f"{address}: the resource is an apply lock, not adopted")
    metadata = current.get("metadata")
    refuse_other_owner(address, ownership.recorded_stack(metadata), stack)
    held = metadata if isinstance(metadata, Mapping) else {}
    foreign = {k: v for k, v in held.items() if k != ownership.METADATA_KEY}
    record = ownership.agent_metadata(stack, address, foreign)
    marked = sorted({*tags, ownership.stack_tag(stack)})
    api.patch(path, {"tags": marked, "metadata": record}, address=str(address))


def refuse_other_owner(address: Address, owner: str | None, stack: str) -> None:
    """Two stacks must never both own one resource."""
    if owner is not None and owner != stack:
        raise LettaApplyError(f"{address}: the resource belongs to stack {owner!r}; not adopted")


def held_by(owners: Sequence[str | None], noun: str) -> str:
    """Who already holds a key the stack declares, by owner: `an agent of stack 'web'`,
    `2 agents no stack owns`, `an agent of stack 'web' and an agent no stack owns`."""
    by_stack = sorted({o for o in owners if o is not None})
    parts = []
    if by_stack:
        count = sum(1 for o in owners if o is not None)
        stacks = ", ".join(repr(s) for s in by_stack)
        parts.append(f"{_some(count, noun)} of stack{'s' if len(by_stack) > 1 else ''} {stacks}")
    if unowned := sum(1 for o in owners if o is None):
        parts.append(f"{_some(unowned, noun)} no stack owns")
    return " and ".join(parts)


def _some(count: int, noun: str) -> str:
    if count > 1:
        return f"{count} {noun}s"
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"


def adoptable(owners: Sequence[str | None]) -> bool:
    """Whether `--adopt` can take the key over: one holder, and no stack owns it (a stack
    never adopts another stack's resource, nor one of several holding one key)."""
    return len(owners) == 1 and owners[0] is None
