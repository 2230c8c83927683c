"""Adopting: the explicit way to bring an existing resource under a stack's ownership.

Only the ownership marks are written (stack tag and metadata record, identity marker property,
conversation summary marker), by the resource's kind module through the executor: the one
`Adopt` change the command names is all it writes. The next apply converges the declared
fields. A resource marked by another stack is refused: two stacks must never both own
one resource.
"""

from __future__ import annotations

from reconciler.address import Address, AddressError
from reconciler.apply.executor import carry_out
from reconciler.client import LettaApi
from reconciler.desired import DesiredState
from reconciler.errors import LettaApplyError
from reconciler.kinds import conversation
from reconciler.kinds.registry import declared, handler
from reconciler.plan.model import Adopt


def adopt(api: LettaApi, desired: DesiredState, address: str, resource_id: str) -> str:
    """Mark `resource_id` as the stack's resource at `address`; return what was done."""
    try:
        parsed = Address.parse(address)
    except AddressError as exc:
        raise LettaApplyError(f"{address!r} is not an address (e.g. agent/user:alice)") from exc
    try:
        handler(parsed.kind)
    except LookupError as exc:
        raise LettaApplyError(f"{parsed}: {exc}") from exc
    if parsed not in declared(desired):
        raise LettaApplyError(f"{parsed} is not declared in stack {desired.stack!r}")

    def resolve(agent: Address) -> str:
        return conversation.agent_id(api, desired.stack, agent)

    carry_out(api, desired.stack, Adopt(parsed, resource_id), resolve)
    return f"{parsed.kind.value} {resource_id} now belongs to stack {desired.stack} as {parsed}"
