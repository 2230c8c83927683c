"""The planner: desired state + live state (plain values) in, a `Plan` out. No I/O.

Rules it applies: only owned resources are updated or deleted; a seeded block's value is never
overwritten (an agent's edit is reported as drift); undeclared resources are deleted only with
prune and never when protected; of duplicates the oldest is kept (`survivor_first`). Each
kind's own rules are in its module under `reconciler.kinds`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import assert_never

from reconciler.address import Address, Kind, Pattern
from reconciler.desired import BlockSpec, DesiredState, Policy
from reconciler.kinds.registry import KINDS, fingerprint, owned_count, read_records
from reconciler.live.state import LiveState
from reconciler.plan.builder import Builder
from reconciler.plan.model import (
    Adopt,
    Attach,
    Change,
    Create,
    Delete,
    Detach,
    Notice,
    Plan,
    Update,
)
from reconciler.planner.adoption import adopting
from reconciler.planner.order import in_order
from reconciler.scope import Scoped


def build_plan(
    desired: DesiredState,
    live: LiveState,
    *,
    target: str,
    prune: bool | None = None,
    scoped: Scoped | None = None,
    adopt: bool = False,
    summarized: bool = True,
) -> Plan:
    """Compare desired and live state and return the changes that make the server match.

    `scoped`: `desired` and `live` hold only a scope's resources and what they need; the plan
    changes the selected ones, creates what they need when it is missing, and deletes nothing.
    `adopt`: unowned resources holding declared keys are adopted (`reconciler.planner.adoption`)
    rather than reported as in the way; the rest is planned as if they were the stack's.
    `summarized=False`: the plan is only shown as text, never saved, applied or written as
    JSON, so the digest of the live state a saved plan is checked against is left empty
    (applying such a plan is refused as stale), and what the stack owns is counted only when
    the plan deletes something (the base of the deletion guard the plan shows).
    """
    prune_on = False if scoped else desired.prune.enabled if prune is None else prune
    why = "the stack is destroyed" if desired.destroyed else "no longer declared"
    out = Builder(prune=prune_on, users=_Patterns(desired), gone_reason=why)
    planned, adoptions = adopting(desired, live) if adopt else (live, [])
    out.changes.extend(adoptions)
    for kind in KINDS:
        kind.plan(desired, planned, out)
    if scoped is not None:
        out.changes = [c for c in out.changes if _in_scope(c, scoped.selected)]
        out.notices = [n for n in out.notices if n.address is None or n.address in scoped.needed]
    changes = tuple(in_order(out.changes))
    deletes = any(isinstance(change, Delete) for change in changes)
    return Plan(
        stack=desired.stack,
        target=target,
        changes=changes,
        notices=tuple(sorted(out.notices, key=_notice_order)),
        live_fingerprint=fingerprint(live) if summarized else "",
        prune=prune_on,
        owned_resources=owned_count(live) if summarized or deletes else 0,
        max_delete_percent=desired.prune.max_delete_percent,
        block_policies=_block_policies(desired, changes),
        scope=scoped.scope.describe() if scoped else (),
        reads=read_records(live),
    )


class _Patterns(Mapping[str, Pattern]):
    """`desired.patterns()`, worked out when a plan first asks (for a resource no longer
    declared): a plan where everything is still declared never pays for it."""

    def __init__(self, desired: DesiredState) -> None:
        self._desired = desired
        self._found: dict[str, Pattern] | None = None

    def _patterns(self) -> dict[str, Pattern]:
        if self._found is None:
            self._found = self._desired.patterns()
        return self._found

    def __getitem__(self, user: str) -> Pattern:
        return self._patterns()[user]

    def __iter__(self) -> Iterator[str]:
        return iter(self._patterns())

    def __len__(self) -> int:
        return len(self._patterns())


def _in_scope(change: Change, selected: frozenset[Address]) -> bool:
    """What a scoped plan keeps: changes to the selected resources and their links, and the
    creation of anything they need (only needed resources are planned at all)."""
    match change:
        case Adopt() | Create():
            return True
        case Update():
            return change.address in selected
        case Attach() | Detach():
            return change.address in selected or change.agent in selected
        case Delete():
            return False
        case _:
            assert_never(change)


def _block_policies(
    desired: DesiredState, changes: tuple[Change, ...]
) -> tuple[tuple[Address, str], ...]:
    """The declared policy of every memory block a change creates (an agent's own blocks
    come with it), updates or attaches, sorted by address."""
    own = {agent.address: agent.blocks for agent in desired.agents}
    shared = {spec.address: spec.block.policy for spec in desired.blocks}
    touched: dict[Address, str] = {}
    for change in changes:
        match change:
            case Create(address=address) if address.kind is Kind.AGENT:
                for block in own.get(address, ()):
                    touched[Address.agent_block(address, block.label)] = block.policy.value
            case Create() | Update() | Attach() if change.address.kind is Kind.BLOCK:
                policy = _declared_policy(change.address, own, shared)
                if policy is not None:
                    touched[change.address] = policy
    return tuple(sorted(touched.items(), key=lambda item: str(item[0])))


def _declared_policy(
    block: Address,
    own: dict[Address, tuple[BlockSpec, ...]],
    shared: dict[Address, Policy],
) -> str | None:
    """The policy the manifests declare for `block`, None for a block they do not declare."""
    if block in shared:
        return shared[block].value
    owner = block.owner
    for spec in own.get(owner, ()) if owner else ():
        if spec.label == block.name:
            return spec.policy.value
    return None


def _notice_order(notice: Notice) -> tuple[str, str, str, tuple[str, ...]]:
    address = str(notice.address) if notice.address else ""
    return (address, notice.kind.value, notice.message, notice.resource_ids)
