"""Adopting: the explicit way to bring an existing resource under a stack's ownership.

Only the ownership marks are written (stack tag and metadata record, identity marker property,
conversation summary marker); the next apply converges the declared fields. A resource marked
by another stack is refused: two stacks must never both own one resource.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler import ownership
from reconciler.client import LettaApi
from reconciler.desired import DesiredState
from reconciler.errors import LettaApplyError
from reconciler.live import read_live

JSON = Any


def adopt(api: LettaApi, desired: DesiredState, address: str, resource_id: str) -> str:
    """Mark `resource_id` as the stack's resource at `address`; return what was done."""
    if address not in set(desired.addresses()):
        raise LettaApplyError(f"{address} is not declared in stack {desired.stack!r}")
    kind = address.split("/", 1)[0]
    match kind:
        case "agent" | "block":
            return _adopt_tagged(api, desired.stack, kind, address, resource_id)
        case "identity":
            return _adopt_identity(api, desired, address, resource_id)
        case "conversation":
            return _adopt_conversation(api, desired, address, resource_id)
    raise LettaApplyError(f"{address}: resources of kind {kind!r} cannot be adopted")


def _adopt_tagged(api: LettaApi, stack: str, kind: str, address: str, resource_id: str) -> str:
    path = f"/v1/{kind}s/{resource_id}"
    params = {"include": ["agent.tags"]} if kind == "agent" else None
    current = api.get(path, params, address=address)
    _refuse_other_owner(address, _recorded_stack(current.get("metadata")), stack)
    tags = sorted({*(current.get("tags") or ()), ownership.stack_tag(stack)})
    metadata = ownership.agent_metadata(stack, address, _foreign_metadata(current))
    api.patch(path, {"tags": tags, "metadata": metadata}, address=address)
    return f"{kind} {resource_id} now belongs to stack {stack} as {address}"


def _adopt_identity(api: LettaApi, desired: DesiredState, address: str, identity_id: str) -> str:
    current = api.get(f"/v1/identities/{identity_id}", address=address)
    spec = next(i for i in desired.identities if i.address == address)
    if current.get("identifier_key") != spec.identifier_key:
        raise LettaApplyError(
            f"{address}: identity {identity_id} has identifier_key "
            f"{current.get('identifier_key')!r}, not {spec.identifier_key!r}"
        )
    properties = [dict(p) for p in current.get("properties") or ()]
    owners = [p["value"] for p in properties if p["key"] == ownership.IDENTITY_MARKER_KEY]
    _refuse_other_owner(address, owners[0] if owners else None, desired.stack)
    marker = {"key": ownership.IDENTITY_MARKER_KEY, "value": desired.stack, "type": "string"}
    kept = [p for p in properties if p["key"] != ownership.IDENTITY_MARKER_KEY]
    api.patch(f"/v1/identities/{identity_id}", {"properties": [*kept, marker]}, address=address)
    return f"identity {identity_id} now belongs to stack {desired.stack} as {address}"


def _adopt_conversation(
    api: LettaApi, desired: DesiredState, address: str, conversation_id: str
) -> str:
    spec = next(c for c in desired.conversations if c.address == address)
    current = api.get(f"/v1/conversations/{conversation_id}", address=address)
    parsed = ownership.parse_conversation_summary(current.get("summary"))
    _refuse_other_owner(address, parsed[1] if parsed else None, desired.stack)
    live = read_live(api, desired.stack)
    agent_ids = {a.address: a.id for a in live.agents}
    expected = agent_ids.get(f"agent/{spec.agent_key}")
    if expected != current.get("agent_id"):
        raise LettaApplyError(
            f"{address}: conversation {conversation_id} is not on the stack's agent "
            f"agent/{spec.agent_key} (apply the agent first, or adopt it)"
        )
    summary = ownership.conversation_summary(
        parsed[0] if parsed else (current.get("summary") or spec.summary),
        desired.stack,
        spec.user_id,
    )
    api.patch(f"/v1/conversations/{conversation_id}", {"summary": summary}, address=address)
    return f"conversation {conversation_id} now belongs to stack {desired.stack} as {address}"


def _recorded_stack(metadata: Mapping[str, JSON] | None) -> str | None:
    record = (metadata or {}).get(ownership.METADATA_KEY)
    return record.get("stack") if isinstance(record, Mapping) else None


def _foreign_metadata(resource: Mapping[str, JSON]) -> dict[str, JSON]:
    return {
        k: v for k, v in (resource.get("metadata") or {}).items() if k != ownership.METADATA_KEY
    }


def _refuse_other_owner(address: str, owner: str | None, stack: str) -> None:
    if owner is not None and owner != stack:
        raise LettaApplyError(f"{address}: the resource belongs to stack {owner!r}; not adopted")
