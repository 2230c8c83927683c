"""The plan: typed, frozen data shared by the renderers, the applier and saved plan files."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

JSON = Any

PLAN_FORMAT_VERSION = 1
"""Version of the saved-plan and `--format json` document; bumped on incompatible changes."""


class Action(StrEnum):
    """What a change does, in the order the applier runs them.

    CREATE makes a resource; UPDATE changes fields of one in place (its id is kept);
    ATTACH / DETACH link a block or identity to an agent; DELETE removes a resource the stack
    owns (only with prune). Deletes run last, after everything that could still need them.
    """

    CREATE = "create"
    UPDATE = "update"
    ATTACH = "attach"
    DETACH = "detach"
    DELETE = "delete"

    @property
    def symbol(self) -> str:
        """The one-character mark a person reads in a plan: + ~ > < -."""
        return _SYMBOLS[self]

    @property
    def is_destructive(self) -> bool:
        """True when the change can lose data that cannot be recreated from the manifest."""
        return self is Action.DELETE


_SYMBOLS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.ATTACH: ">",
    Action.DETACH: "<",
    Action.DELETE: "-",
}


class Kind(StrEnum):
    """The kinds of resource a stack manages."""

    AGENT = "agent"
    BLOCK = "block"
    CONVERSATION = "conversation"
    IDENTITY = "identity"


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
    """One field's old and new value; `path` is dotted, e.g. `tags` or `blocks.human.value`."""

    path: str
    before: JSON
    after: JSON


@dataclass(frozen=True)
class Change:
    """One step of a plan.

    `resource_id` is the live id when the resource exists. `body` is what is sent to the
    server (for creates, the full resource; for updates, only changed fields). `refs` maps a
    role to another resource's address whose id is needed (e.g. `agent` for a conversation),
    resolved at apply time so a plan can refer to resources it creates.
    """

    action: Action
    kind: Kind
    address: str
    resource_id: str | None = None
    fields: tuple[FieldChange, ...] = ()
    body: dict[str, JSON] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    pattern: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Notice:
    """Information in a plan that changes nothing on the server."""

    kind: NoticeKind
    address: str
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
    format_version: int = PLAN_FORMAT_VERSION

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    @property
    def blocked(self) -> tuple[Notice, ...]:
        """Declared resources that cannot be created until something in the way is resolved."""
        return tuple(n for n in self.notices if n.kind is NoticeKind.BLOCKED)

    @property
    def destructive(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action.is_destructive)

    def counts(self) -> Counter[Action]:
        """How many changes of each action the plan holds."""
        return Counter(c.action for c in self.changes)
