"""The stack's apply lock (`lock/<stack>`): the record a running apply keeps on the server.

A record is one of two kinds, with one shape for both (`LockRecord`):
- an identity whose identifier_key is `letta-apply-lock:<stack>`, which the server refuses to
  create twice (HTTP 409), so most races already end at the create;
- on a server without the identities API (Letta Cloud's answers 404), a memory block attached
  to no agent, labelled `letta-apply-lock` and tagged `letta-apply-lock:<stack>`: the server
  lists blocks by exact label and tag cheaply, but takes a second one, so only the listing
  after the create decides.

The holder (token, host:pid, start time) is in the identity's properties or the block's
metadata. How records are made, found and removed is here; acquiring, waiting and taking over
is `reconciler.apply.lock.StackLock`, the same for both kinds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypedDict, TypeVar

from reconciler.address import Address, Kind
from reconciler.errors import ServerError
from reconciler.kinds import block, identity
from reconciler.kinds.common import delete_if_present
from reconciler.kinds.identity import IdentityProperty
from reconciler.ownership import LOCK_BLOCK_LABEL, LOCK_METADATA_KEY, lock_key
from reconciler.shape import Shape
from reconciler.values import JSON

if TYPE_CHECKING:
    from reconciler.client import LettaApi

KIND = Kind.LOCK
LISTED = 50
"""Lock records read per listing: normally none or one, a few while applies contend."""


class LockIdentity(TypedDict):
    """A lock record kept as an identity: its key names the stack, its properties the holder."""

    id: str
    identifier_key: str
    properties: list[IdentityProperty] | None


class LockBlock(TypedDict):
    """A lock record kept as a memory block: its label and tag name the stack, its metadata
    the holder (anyone may write it: read whatever its shape)."""

    id: str
    label: str | None
    tags: list[str] | None
    metadata: object


R = TypeVar("R", LockIdentity, LockBlock)


@dataclass(frozen=True)
class LockRecord:
    """One lock record on the server, as its holder wrote it (server data: anyone may)."""

    id: str
    holder: Mapping[str, object] = field(default_factory=dict)
    """token, holder (host:pid) and started_at."""

    @property
    def token(self) -> object:
        return self.holder.get("token")


@dataclass(frozen=True)
class RecordKind(Generic[R]):
    """Where one kind of lock record lives, the server record it is (an identity's or a
    block's, parsed by that kind's `SHAPE`), and how it is written and read back."""

    noun: str
    path: str
    shape: Shape[R]
    body: Callable[[str, Mapping[str, str]], dict[str, JSON]]
    query: Callable[[str], dict[str, JSON]]
    is_stacks: Callable[[R, str], bool]
    holder_of: Callable[[R], dict[str, object]]

    def create(self, api: LettaApi, stack: str, holder: Mapping[str, str]) -> LockRecord:
        """Create this run's record; a lost answer is resolved by finding it by its token."""

        def find() -> R | None:
            raw = self._listed(api, stack)
            return next((r for r in raw if self.holder_of(r).get("token") == holder["token"]), None)

        address = Address.lock(stack)
        body = self.body(stack, holder)
        created = api.create(self.path, body, address=str(address), find_existing=find)
        return self._record(self.shape.parse(created, f"POST {self.path}", str(address)))

    def records(self, api: LettaApi, stack: str) -> list[LockRecord]:
        """The stack's lock records of this kind, oldest first (normally none or one)."""
        return [self._record(raw) for raw in self._listed(api, stack)]

    def delete(self, api: LettaApi, stack: str, record_id: str) -> None:
        """Remove a record; one already gone (another run removed it) is done."""
        delete_if_present(api, f"{self.path}{record_id}", Address.lock(stack))

    def _listed(self, api: LettaApi, stack: str) -> list[R]:
        params = {**self.query(stack), "order": "asc", "limit": LISTED}
        address = str(Address.lock(stack))
        found = api.get(self.path, params, address=address)
        listed = self.shape.parse_all(found or [], f"GET {self.path}", address)
        return [r for r in listed if self.is_stacks(r, stack)]

    def _record(self, raw: R) -> LockRecord:
        return LockRecord(raw["id"], self.holder_of(raw))


def _identity_body(stack: str, holder: Mapping[str, str]) -> dict[str, JSON]:
    return {
        "identifier_key": lock_key(stack),
        "name": f"letta-apply lock for stack {stack}",
        "identity_type": "other",
        "properties": [{"key": k, "value": v, "type": "string"} for k, v in sorted(holder.items())],
    }


def _block_body(stack: str, holder: Mapping[str, str]) -> dict[str, JSON]:
    return {
        "label": LOCK_BLOCK_LABEL,
        "tags": [lock_key(stack)],
        "value": (
            f"letta-apply is applying stack {stack} ({holder['holder']}, since "
            f"{holder['started_at']}). Not memory: attached to no agent, removed when the apply "
            "ends; `letta-apply unlock` removes one a vanished run left behind."
        ),
        "description": f"letta-apply's apply lock for stack {stack}",
        "metadata": {LOCK_METADATA_KEY: {"stack": stack, **holder}},
    }


def _block_holder(raw: LockBlock) -> dict[str, object]:
    metadata = raw["metadata"]
    record = metadata.get(LOCK_METADATA_KEY) if isinstance(metadata, Mapping) else None
    return dict(record) if isinstance(record, Mapping) else {}


IDENTITY = RecordKind(
    noun="identity",
    path=identity.ROUTE,
    shape=Shape(LockIdentity),
    body=_identity_body,
    query=lambda stack: {"identifier_key": lock_key(stack)},
    is_stacks=lambda raw, stack: raw["identifier_key"] == lock_key(stack),
    holder_of=lambda raw: identity.properties(raw["properties"]),
)
BLOCK = RecordKind(
    noun="memory block",
    path=block.ROUTE,
    shape=Shape(LockBlock),
    body=_block_body,
    # Labels the listing filters on are short and plain (no `:` or `.`), so the label is one
    # for every stack and the exact tag names the stack: both filters are exact matches.
    query=lambda stack: {"label": LOCK_BLOCK_LABEL, "tags": [lock_key(stack)]},
    is_stacks=lambda raw, stack: (
        raw["label"] == LOCK_BLOCK_LABEL and lock_key(stack) in (raw["tags"] or ())
    ),
    holder_of=_block_holder,
)


def kinds_on(api: LettaApi, stack: str) -> tuple[RecordKind[Any], ...]:
    """The kinds of lock record this server can keep, the one to use first: an identity, and a
    block where the identities listing answers 404 (Letta Cloud's current API)."""
    try:
        api.get("/v1/identities/", {"identifier_key": lock_key(stack), "limit": 1})
    except ServerError as exc:
        if exc.status != 404:
            raise
        return (BLOCK,)
    return (IDENTITY, BLOCK)
