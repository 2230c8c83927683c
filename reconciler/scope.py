"""Scoped runs: plan and apply only some of a stack (`--target ADDRESS`, `--users IDS`) and
what those resources need, so one new tenant does not touch, or even read, the whole fleet.

A scope selects declared addresses: those matching a target (a glob such as
`agent/user:team-a-*`), and every resource serving a listed user. A selected agent brings its
own memory blocks. What the selected resources need (the agent of a conversation or an
identity, the shared blocks and tools an agent uses, the MCP server of a tool) is read and
created when missing, but not otherwise changed. A scoped plan never deletes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase

from reconciler.address import Address, Kind
from reconciler.desired import DesiredState, PruneSettings
from reconciler.errors import LettaApplyError


@dataclass(frozen=True)
class Scope:
    """The targets and users a run is limited to; empty means the whole stack."""

    targets: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    origins: Mapping[str, str] = field(default_factory=dict, compare=False)
    """Where a user id read from a file is (`FILE:LINE`): errors name that, never the line's
    text, since a file named by mistake may hold anything."""

    def __bool__(self) -> bool:
        return bool(self.targets or self.users)

    def describe(self) -> tuple[str, ...]:
        """What the scope was given, as a plan records it: `target:<glob>`, `user:<id>`."""
        return (*(f"target:{t}" for t in self.targets), *(f"user:{u}" for u in self.users))

    def selects(self, address: Address) -> bool:
        """Whether `address` is one of the resources the run is about."""
        text = str(address)
        if any(fnmatchcase(text, target) for target in self.targets):
            return True
        if address.user is not None and address.user in self.users:
            return True
        owner = address.owner
        return address.kind is Kind.BLOCK and owner is not None and self.selects(owner)


@dataclass(frozen=True)
class Scoped:
    """A stack cut to a scope: the declared resources to read and plan (`desired`), and of
    those the ones the run may change (`selected`); the rest are only needed."""

    scope: Scope
    desired: DesiredState
    selected: frozenset[Address]
    needed: frozenset[Address]
    """The selected resources and what they need: what the run reads."""


def cut(desired: DesiredState, scope: Scope) -> Scoped:
    """The part of `desired` a scoped run plans: the selected resources and what they need.

    Raises LettaApplyError when a user is not declared or nothing is selected: a typo must not
    plan nothing and succeed.
    """
    # Every kind's code, loaded only once a scope is cut: `Scope` alone loads none, so a
    # whole stack's plan can ask for its first pages first (`reconciler.kinds.first_pages`).
    from reconciler.kinds.registry import declared, needs

    declared_users = set(desired.patterns())
    unknown = [scope.origins.get(u, u) for u in scope.users if u not in declared_users]
    if unknown:
        raise LettaApplyError(
            f"not declared in stack {desired.stack}: user(s) {', '.join(unknown)}"
        )
    selected = frozenset(a for a in declared(desired) if scope.selects(a))
    if not selected:
        given = ", ".join(scope.describe())
        raise LettaApplyError(f"{given}: selects nothing declared in stack {desired.stack}")
    needed = _with_needs(needs(desired), selected)
    subset = replace(
        desired.only(needed),
        prune=PruneSettings(enabled=False, max_delete_percent=desired.prune.max_delete_percent),
    )
    return Scoped(scope, subset, selected, frozenset(declared(subset)))


def _with_needs(
    needed: Mapping[Address, Iterable[Address]], selected: frozenset[Address]
) -> frozenset[Address]:
    """`selected` and, transitively, what each of them needs to exist (`needed`: what each
    declared resource needs)."""
    found = set(selected)
    pending = list(selected)
    while pending:
        for need in needed.get(pending.pop(), ()):
            if need not in found:
                found.add(need)
                pending.append(need)
    return frozenset(found)
