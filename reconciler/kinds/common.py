"""What the kinds' server calls share: id resolution, updates and links by path, reading back
a create by its ownership record, and adopting a resource marked with tags and a metadata
record."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from reconciler import ownership
from reconciler.address import Address, Kind
from reconciler.desired import DesiredState
from reconciler.errors import LettaApplyError
from reconciler.live.state import Found, IdentityReads, LiveState, Part, Resource
from reconciler.plan.model import Attach, Detach, Update
from reconciler.values import JSON, thaw

if TYPE_CHECKING:
    from reconciler.client import LettaApi

F = TypeVar("F", bound=Found[Any])
P = TypeVar("P")


@dataclass(frozen=True)
class Reading:
    """One read of the live state, as each kind's `read` gets it: what it is for (a whole
    plan, a scoped one, a saved plan's apply) and the parts of the other kinds, each awaited
    as it is read (kinds read at once; one that needs another's part waits for it)."""

    api: LettaApi
    stack: str
    desired: DesiredState | None
    parts: Mapping[Kind, Future[object]]
    scoped: bool = False
    """Only what `desired` (a stack cut to a scope) declares, looked up one by one."""
    adopt: bool = False
    """Also what the stack could adopt (`reconciler.planner.adoption`)."""
    prune: bool | None = None
    """Whether the plan may delete undeclared resources (None: as `desired` says)."""
    identity_reads: IdentityReads | None = None
    """Read the identities as a saved plan's live state was read."""
    tool_names: tuple[str, ...] = ()
    """More tools to look up by name (those a saved plan attaches)."""
    parallelism: int = 8
    page_size: int = 200
    progress: Callable[[str], None] | None = None

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


def first_owned(found: list[JSON], stack: str, address: Address) -> JSON | None:
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
    api: LettaApi, stack: str, path: str, address: Address, params: Mapping[str, JSON] | None
) -> None:
    """Write the stack tag and ownership record on a tagged resource (agent or block)."""
    current = api.get(path, params, address=str(address))
    if ownership.is_lock_record(current):
        raise LettaApplyError(f"{address}: the resource is an apply lock, not adopted")
    metadata = current.get("metadata") or {}
    refuse_other_owner(address, ownership.recorded_stack(metadata), stack)
    tags = sorted({*(current.get("tags") or ()), ownership.stack_tag(stack)})
    foreign = {k: v for k, v in metadata.items() if k != ownership.METADATA_KEY}
    record = ownership.agent_metadata(stack, address, foreign)
    api.patch(path, {"tags": tags, "metadata": record}, address=str(address))


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
