"""The plan: typed, frozen data shared by the renderers, the applier and saved plan files.

A change is one of six operations, each a frozen class holding exactly its own fields:
`Adopt`, `Create`, `Update`, `Attach`, `Detach`, `Delete`. Code that handles changes matches on the
`Change` union (the saved-plan reader on its `Action`) with `assert_never`, so the type checker
names every place a new operation must be handled.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from reconciler.address import Address, Kind, Pattern
from reconciler.values import EMPTY, JSON, Frozen

SECRET_FIELDS = ("secrets", "credentials")
"""Fields of a change's body naming the environment variables of the secrets it sends."""
PLAN_FORMAT_VERSION = 5
"""Version of the saved-plan and `--format json` document; bumped on incompatible changes."""


class Action(StrEnum):
    """What a change does, in the order the applier runs them.

    ADOPT takes an existing resource that holds a declared resource's key (a user's tag, an
    identity's key, a shared agent's name) under the stack's ownership, writing only the
    marks; only when asked (`--adopt`), and never one another stack owns. CREATE makes a
    resource (dependencies first: a shared block before the agent using it, an agent before
    its conversations); UPDATE changes fields of one in place (its id is kept); ATTACH /
    DETACH link a block or identity to an agent; DELETE removes a resource the stack owns
    (only with prune). Deletes run last, after everything that could still need them.
    """

    ADOPT = "adopt"
    CREATE = "create"
    UPDATE = "update"
    ATTACH = "attach"
    DETACH = "detach"
    DELETE = "delete"

    @property
    def symbol(self) -> str:
        """The one-character mark a person reads in a plan: = + ~ > < -."""
        return _SYMBOLS[self]

    @property
    def is_destructive(self) -> bool:
        """True when the change can lose data that cannot be recreated from the manifest."""
        return self is Action.DELETE


_SYMBOLS = {
    Action.ADOPT: "=",
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.ATTACH: ">",
    Action.DETACH: "<",
    Action.DELETE: "-",
}


class NoticeKind(StrEnum):
    """Things a plan reports that are not changes.

    DRIFT: a seeded value the agent (or a person) changed on the server; kept as is.
    CONFLICT: something not owned by the stack is in the way (e.g. a foreign `user:` tag).
    BLOCKED: a declared resource cannot be created because something not owned by the stack
    holds its key; the server cannot match the manifests until it is adopted or removed.
    DUPLICATE: two owned resources claim one address (e.g. from an interrupted create).
    PROTECTED: a deletion that protection prevented.
    UNDECLARED: an owned resource no longer declared, kept because prune is off.
    """

    DRIFT = "drift"
    CONFLICT = "conflict"
    BLOCKED = "blocked"
    DUPLICATE = "duplicate"
    PROTECTED = "protected"
    UNDECLARED = "undeclared"


@dataclass(frozen=True)
class FieldChange:
    """One field's old and new value; `path` is dotted, e.g. `tags` or `metadata.team`."""

    path: str
    before: JSON
    after: JSON


@dataclass(frozen=True)
class Adopt:
    """Mark the existing resource `resource_id` as the stack's at `address`. The plan's other
    changes to it are computed as if it were the stack's already."""

    action: ClassVar[Action] = Action.ADOPT
    address: Address
    resource_id: str

    @property
    def needs(self) -> tuple[Address, ...]:
        """The owner the adoption works through (`Address.adopted_through`), which may be
        adopted in the same plan."""
        through = self.address.adopted_through
        return (through,) if through is not None else ()


@dataclass(frozen=True)
class Create:
    """Make a resource. `body` is sent as is (ownership marks included); `links` are
    resources attached as it is made (an agent's shared blocks), resolved to ids at apply
    time so a plan can refer to resources it creates."""

    action: ClassVar[Action] = Action.CREATE
    address: Address
    body: Frozen = EMPTY
    links: tuple[Address, ...] = ()

    @property
    def needs(self) -> tuple[Address, ...]:
        """Resources that must exist first: the owning agent, then the linked ones."""
        owner = self.address.owner
        return (*((owner,) if owner else ()), *(link.provider for link in self.links))


@dataclass(frozen=True)
class Update:
    """Change fields of an existing resource in place; `body` holds only what changes."""

    action: ClassVar[Action] = Action.UPDATE
    address: Address
    resource_id: str
    fields: tuple[FieldChange, ...]
    body: Frozen = EMPTY

    @property
    def needs(self) -> tuple[Address, ...]:
        return ()


@dataclass(frozen=True)
class Attach:
    """Link the resource at `address` (a block or identity) to `agent`; both may be new."""

    action: ClassVar[Action] = Action.ATTACH
    address: Address
    agent: Address

    @property
    def needs(self) -> tuple[Address, ...]:
        return (self.agent, self.address.provider)


@dataclass(frozen=True)
class Detach:
    """Unlink the resource `resource_id` at `address` from `agent`."""

    action: ClassVar[Action] = Action.DETACH
    address: Address
    agent: Address
    resource_id: str

    @property
    def needs(self) -> tuple[Address, ...]:
        return (self.agent,)


@dataclass(frozen=True)
class Delete:
    """Remove an owned resource; `owned_children` are the ids of an agent's own memory
    blocks, removed with it (the server would leave them behind). `tags` are the resource's
    tags on the server (agents, blocks and tools have them), so a policy reading the plan can
    tell what it deletes."""

    action: ClassVar[Action] = Action.DELETE
    address: Address
    resource_id: str
    reason: str
    owned_children: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def needs(self) -> tuple[Address, ...]:
        return ()


Change = Adopt | Create | Update | Attach | Detach | Delete
"""One step of a plan."""


def kind_of(change: Change) -> Kind:
    """The kind of resource a change creates, changes, links or deletes."""
    return change.address.kind


def pattern_of(change: Change) -> Pattern | None:
    """The pattern of the user a change serves (a link: of either end); None for the stack's
    own resources."""
    match change:
        case Attach() | Detach():
            return change.address.pattern or change.agent.pattern
        case Adopt() | Create() | Update() | Delete():
            return change.address.pattern


@dataclass(frozen=True)
class Notice:
    """Information in a plan that changes nothing on the server.

    `address` is None when the resource has none (an agent carrying the stack's tag but no
    ownership record); `resource_ids` then say which one is meant.
    """

    kind: NoticeKind
    address: Address | None
    message: str
    fields: tuple[FieldChange, ...] = ()
    resource_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """A complete plan for one stack against one server.

    `live_fingerprint` digests the live state the plan was computed from; applying a saved plan
    re-reads the server and refuses when the digest differs. `owned_resources` counts what
    the stack owned then, for the mass-deletion guard.
    """

    stack: str
    target: str
    changes: tuple[Change, ...] = ()
    notices: tuple[Notice, ...] = ()
    live_fingerprint: str = ""
    prune: bool = False
    owned_resources: int = 0
    max_delete_percent: float = 25.0
    redacted: bool = False
    """Memory block values were replaced by their length: for reading, not applying."""
    block_policies: tuple[tuple[Address, str], ...] = ()
    """The declared policy (`seed`, `enforce`) of each memory block the plan creates, changes
    or attaches, by address: what a reviewer or a policy engine checks, not sent anywhere."""
    scope: tuple[str, ...] = ()
    """A partial plan's scope (`target:<glob>`, `user:<id>`): only those resources and what
    they need were read and planned; empty for the whole stack."""
    reads: tuple[tuple[Kind, Frozen], ...] = ()
    """How the kinds whose reads depend on the run read the server, each kind's record as it
    wrote it (the identities: every one listed, or through the stack's agents and by key):
    applying the saved plan reads them the same way before comparing fingerprints."""
    format_version: int = PLAN_FORMAT_VERSION

    @property
    def partial(self) -> bool:
        return bool(self.scope)

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def secrets_sent(self) -> list[tuple[Address, Mapping[str, JSON]]]:
        """The secrets each create or update sends, as planned (by variable): agents'
        `secrets`, MCP servers' `credentials`."""
        return [
            (change.address, sent)
            for change in self.changes
            if isinstance(change, Create | Update)
            for field in SECRET_FIELDS
            if isinstance(sent := change.body.get(field), Mapping)
        ]

    @property
    def blocked(self) -> tuple[Notice, ...]:
        """Declared resources that cannot be created until something in the way is resolved."""
        return tuple(n for n in self.notices if n.kind is NoticeKind.BLOCKED)

    @property
    def deleted_ids(self) -> tuple[str, ...]:
        """Every resource the plan deletes, those deleted with their parent included."""
        return tuple(
            resource_id
            for change in self.changes
            if isinstance(change, Delete)
            for resource_id in (change.resource_id, *change.owned_children)
        )

    def counts(self) -> Counter[Action]:
        """How many changes of each action the plan holds."""
        return Counter(c.action for c in self.changes)
