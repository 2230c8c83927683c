"""What the planner's parts share: collecting changes and notices, the duplicate rule's
report, the rule for what is no longer declared, and field comparison by table."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from reconciler.address import Address, Pattern
from reconciler.live.state import Resource, Tagged
from reconciler.plan.diff import field_changes
from reconciler.plan.model import Change, Delete, FieldChange, Notice, NoticeKind, Update
from reconciler.values import JSON, freeze

R = TypeVar("R", bound=Resource)


@dataclass
class Builder:
    """Collects changes and notices while the planner walks the resources."""

    prune: bool
    users: Mapping[str, Pattern] = field(default_factory=dict)
    """User id -> the pattern it is declared with now (names moves between patterns)."""
    gone_reason: str = "no longer declared"
    """Why an owned resource that nothing declares goes (the stack destroyed, say)."""
    changes: list[Change] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)

    def change(self, change: Change) -> None:
        self.changes.append(change)

    def notice(self, kind: NoticeKind, address: Address | None, message: str, **extra: Any) -> None:
        self.notices.append(Notice(kind, address, message, **extra))

    def update(
        self,
        address: Address,
        resource_id: str,
        current: Mapping[str, JSON],
        desired: Mapping[str, JSON],
        send: Callable[[Mapping[str, JSON]], Mapping[str, JSON]] = lambda body: body,
        unordered: Collection[str] = (),
    ) -> None:
        """An update of the fields `desired` declares that differ from `current`, if any.

        `send` turns the changed fields into the request body where the server wants more
        than the changed fields (e.g. the whole property list of an identity); the lists of
        the fields in `unordered` are sets (tags), compared without regard to order.
        """
        fields = field_changes(current, desired, unordered)
        if fields:
            top = sorted({f.path.split(".", 1)[0] for f in fields})
            body = send({key: desired[key] for key in top})
            self.change(Update(address, resource_id, fields, freeze(body)))

    def keep_survivors(
        self,
        groups: Mapping[Address, Sequence[R]],
        nouns: str,
        protected: Callable[[R], bool] = lambda _r: False,
        children: Callable[[R], Sequence[str]] = lambda _r: (),
    ) -> dict[Address, R]:
        """The resource kept at each address (see `survivor_first`); the others reported as
        duplicates, and deleted with their own children when prune is on, unless protected."""
        kept: dict[Address, R] = {}
        for address, group in groups.items():
            kept[address] = group[0]
            if len(group) == 1:
                continue
            action = (
                "deleting the others unless protected"
                if self.prune
                else "enable prune to delete the others"
            )
            self.notice(
                NoticeKind.DUPLICATE,
                address,
                f"{len(group)} owned {nouns} claim this address; keeping {group[0].id} "
                f"(the oldest, then the lowest id); {action}",
                resource_ids=tuple(r.id for r in group),
            )
            for extra in group[1:] if self.prune else ():
                if protected(extra):
                    self.notice(
                        NoticeKind.PROTECTED,
                        address,
                        "a duplicate; protected, so it is not deleted",
                        resource_ids=(extra.id,),
                    )
                else:
                    self._delete(address, extra, "duplicate", children)
        return kept

    def undeclared(
        self,
        kept: Mapping[Address, R],
        declared: Iterable[Address],
        protected: Callable[[R], bool] = lambda _r: False,
        children: Callable[[R], Sequence[str]] = lambda _r: (),
    ) -> None:
        """Every kept resource no declared address claims: reported, or deleted with prune;
        a protected one is never deleted."""
        wanted = set(declared)
        for address, resource in kept.items():
            if address in wanted:
                continue
            reason = self._reason(address)
            ids = (resource.id,)
            if protected(resource):
                self.notice(
                    NoticeKind.PROTECTED,
                    address,
                    f"{reason}; protected, so it is not deleted",
                    resource_ids=ids,
                )
            elif not self.prune:
                self.notice(
                    NoticeKind.UNDECLARED,
                    address,
                    f"{reason}; kept (enable prune to delete it)",
                    resource_ids=ids,
                )
            else:
                self._delete(address, resource, reason, children)

    def _delete(
        self, address: Address, resource: R, reason: str, children: Callable[[R], Sequence[str]]
    ) -> None:
        """A delete of `resource` and its own children, carrying its tags where it has them."""
        tags = tuple(resource.tags) if isinstance(resource, Tagged) else ()
        self.change(Delete(address, resource.id, reason, tuple(children(resource)), tags))

    def _reason(self, address: Address) -> str:
        user = address.user
        if user is not None and user in self.users:
            return f"user {user} is now declared with pattern {self.users[user].value}"
        return self.gone_reason


def drift(out: Builder, address: Address, resource_id: str, field: FieldChange, why: str) -> None:
    """A value the server holds that differs from the manifest and is kept on purpose."""
    out.notice(NoticeKind.DRIFT, address, why, fields=(field,), resource_ids=(resource_id,))


def optional(**values: JSON) -> dict[str, JSON]:
    """Only the fields the manifest sets: a None field is not managed."""
    return {k: v for k, v in values.items() if v is not None}
