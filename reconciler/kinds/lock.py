"""The stack's apply lock (`lock/<stack>`): an identity whose identifier_key is
`letta-apply-lock:<stack>`, which the server refuses to create twice.

How the lock record looks and the calls that make, find and remove it; the acquiring and
waiting is `reconciler.apply.lock.StackLock`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from reconciler.address import Address, Kind
from reconciler.kinds.identity import properties
from reconciler.values import JSON

if TYPE_CHECKING:
    from reconciler.client import LettaApi

KIND = Kind.LOCK
KEY_PREFIX = "letta-apply-lock:"


def key(stack: str) -> str:
    """The identifier_key of the stack's lock record."""
    return f"{KEY_PREFIX}{stack}"


def body(stack: str, holder: dict[str, str]) -> dict[str, JSON]:
    """A lock record naming its holder (token, host:pid, start time)."""
    return {
        "identifier_key": key(stack),
        "name": f"letta-apply lock for stack {stack}",
        "identity_type": "other",
        "properties": [{"key": k, "value": v, "type": "string"} for k, v in sorted(holder.items())],
    }


def holder(record: JSON) -> dict[str, JSON]:
    """What a lock record says about its holder."""
    return properties(record) if record else {}


def create(
    api: LettaApi, stack: str, holder: dict[str, str], find: Callable[[], JSON | None]
) -> JSON:
    return api.create(
        "/v1/identities/", body(stack, holder), address=str(Address.lock(stack)), find_existing=find
    )


def records(api: LettaApi, stack: str) -> list[JSON]:
    """Every lock record of the stack (normally none or one)."""
    found: list[JSON] = api.get("/v1/identities/", {"identifier_key": key(stack)})
    return [r for r in found if r.get("identifier_key") == key(stack)]


def delete(api: LettaApi, stack: str, record_id: str) -> None:
    api.delete(f"/v1/identities/{record_id}", address=str(Address.lock(stack)))
