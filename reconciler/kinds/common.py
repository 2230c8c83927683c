"""What the kinds' server calls share: id resolution, reading back a create by its
ownership record, and adopting a resource marked with tags and a metadata record."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from reconciler import ownership
from reconciler.address import Address
from reconciler.errors import LettaApplyError
from reconciler.values import JSON

if TYPE_CHECKING:
    from reconciler.client import LettaApi

Resolve = Callable[[Address], str]
"""Address -> server id of a resource that exists or was created earlier in the run."""


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
