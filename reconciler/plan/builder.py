"""Building blocks the planner's parts share: collecting changes, grouping live resources by
address, keeping the oldest of duplicates, and the rule for what is no longer declared."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from reconciler.desired import DesiredState
from reconciler.live import LiveAgent
from reconciler.plan.model import Action, Change, FieldChange, Kind, Notice, NoticeKind

JSON = Any


@dataclass
class Builder:
    """Collects changes and notices while the planner walks the resources."""

    changes: list[Change] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)

    def change(self, change: Change) -> None:
        self.changes.append(change)

    def notice(self, kind: NoticeKind, address: str, message: str, **extra: Any) -> None:
        self.notices.append(Notice(kind, address, message, **extra))


def link(action: Action, agent: str, other: str, role: str, other_id: str | None) -> Change:
    refs = {"agent": agent, role: other}
    return Change(
        action,
        Kind.BLOCK if role == "block" else Kind.IDENTITY,
        f"{agent}/{other}",
        other_id,
        refs=refs,
    )


def group(items: Iterable[Any], address_of: Any) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = defaultdict(list)
    for item in items:
        address = address_of(item)
        if address is not None:
            groups[address].append(item)
    return groups


def dedupe(
    groups: Mapping[str, Sequence[Any]], kind: Kind, out: Builder, prune: bool
) -> dict[str, Any]:
    """Keep the oldest resource per address; report the rest (deleted only with prune)."""
    kept: dict[str, Any] = {}
    for address, items in sorted(groups.items()):
        ordered = sorted(
            items, key=lambda r: (r.created_at if hasattr(r, "created_at") else "", r.id)
        )
        kept[address] = ordered[0]
        extra = ordered[1:]
        if not extra:
            continue
        ids = tuple(r.id for r in ordered)
        out.notice(
            NoticeKind.DUPLICATE,
            address,
            f"{len(ordered)} owned {kind.value}s claim this address; keeping the oldest "
            f"({ordered[0].id}); "
            + ("deleting the others" if prune else "enable prune to delete the others"),
            resource_ids=ids,
        )
        if prune:
            for item in extra:
                out.change(
                    Change(
                        Action.DELETE,
                        kind,
                        address,
                        item.id,
                        reason="duplicate",
                        body=_duplicate_body(item),
                    )
                )
    return kept


def _duplicate_body(item: Any) -> dict[str, JSON]:
    return {"block_ids": []} if isinstance(item, LiveAgent) else {}


def undeclared(
    out: Builder,
    prune: bool,
    kind: Kind,
    address: str,
    resource_id: str,
    protected: bool,
    reason: str,
    block_ids: Sequence[str] = (),
) -> None:
    if protected:
        out.notice(
            NoticeKind.PROTECTED,
            address,
            f"{reason}; protected, so it is not deleted",
            resource_ids=(resource_id,),
        )
    elif not prune:
        out.notice(
            NoticeKind.UNDECLARED,
            address,
            f"{reason}; kept (enable prune to delete it)",
            resource_ids=(resource_id,),
        )
    else:
        body = {"block_ids": list(block_ids)} if kind is Kind.AGENT else {}
        out.change(Change(Action.DELETE, kind, address, resource_id, reason=reason, body=body))


class _Owned(Protocol):
    @property
    def id(self) -> str: ...


R = TypeVar("R", bound=_Owned)


def prune_undeclared(
    out: Builder,
    prune: bool,
    kind: Kind,
    kept: Mapping[str, R],
    declared: Iterable[str],
    users: Mapping[str, str],
    protected: Callable[[R], bool] = lambda _item: False,
    owned_blocks: Callable[[R], Sequence[str]] = lambda _item: (),
) -> None:
    """Every kept resource no declared address claims: reported, or deleted with prune."""
    wanted = set(declared)
    for address, item in kept.items():
        if address not in wanted:
            reason = moved_reason(address, users)
            blocks = owned_blocks(item)
            undeclared(out, prune, kind, address, item.id, protected(item), reason, blocks)


def declared_users(desired: DesiredState) -> dict[str, str]:
    """User id -> the pattern it is declared with now."""
    users: dict[str, str] = {}
    for agent in desired.agents:
        if agent.user_id is not None:
            users[agent.user_id] = "dedicated"
    for conversation in desired.conversations:
        users[conversation.user_id] = "shared"
    for identity in desired.identities:
        users[identity.identifier_key] = "identity"
    return users


def moved_reason(address: str, users: Mapping[str, str]) -> str:
    user_id = _user_of(address)
    if user_id is not None and user_id in users:
        return f"user {user_id} is now declared with pattern {users[user_id]}"
    return "no longer declared"


def _user_of(address: str) -> str | None:
    kind, _, rest = address.partition("/")
    if kind == "agent" and rest.startswith("user:"):
        return rest.removeprefix("user:")
    if kind == "conversation":
        return rest.rpartition("/")[2]
    return rest if kind == "identity" else None


def optional(**values: JSON) -> dict[str, JSON]:
    """Only the fields the manifest sets: a None field is not managed."""
    return {k: v for k, v in values.items() if v is not None}


def changed_body(desired: Mapping[str, JSON], fields: Sequence[FieldChange]) -> dict[str, JSON]:
    top = {f.path.split(".", 1)[0] for f in fields}
    return {k: desired[k] for k in sorted(top)}
