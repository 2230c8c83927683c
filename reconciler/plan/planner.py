"""The planner: desired state + live state (plain values) in, a `Plan` out. No I/O.

Rules it applies: only owned resources are updated or deleted; a seeded block's value is never
overwritten (an agent's edit is reported as drift); undeclared resources are deleted only with
prune and never when protected; of duplicates the oldest is kept (`survivor_first`). Each
kind's own rules are in its module under `reconciler.kinds`.
"""

from __future__ import annotations

from reconciler.address import Address, Kind
from reconciler.desired import DesiredState
from reconciler.kinds import KINDS
from reconciler.live.state import LiveState
from reconciler.plan.builder import Builder
from reconciler.plan.model import Attach, Change, Create, Notice, Plan, Update
from reconciler.plan.order import in_order


def build_plan(
    desired: DesiredState, live: LiveState, *, target: str, prune: bool | None = None
) -> Plan:
    """Compare desired and live state and return the changes that make the server match."""
    prune_on = desired.prune.enabled if prune is None else prune
    out = Builder(prune=prune_on, users=desired.patterns())
    for kind in KINDS:
        kind.plan(desired, live, out)
    changes = tuple(in_order(out.changes))
    return Plan(
        stack=desired.stack,
        target=target,
        changes=changes,
        notices=tuple(sorted(out.notices, key=_notice_order)),
        live_fingerprint=live.fingerprint(),
        prune=prune_on,
        owned_resources=live.owned_count(),
        max_delete_percent=desired.prune.max_delete_percent,
        block_policies=_block_policies(desired, changes),
    )


def _block_policies(
    desired: DesiredState, changes: tuple[Change, ...]
) -> tuple[tuple[Address, str], ...]:
    """The declared policy of every memory block a change creates (an agent's own blocks
    come with it), updates or attaches, sorted by address."""
    declared = {
        Address.agent_block(agent.address, block.label): block.policy
        for agent in desired.agents
        for block in agent.blocks
    } | {shared.address: shared.block.policy for shared in desired.blocks}
    touched: set[Address] = set()
    for change in changes:
        match change:
            case Create(address=address) if address.kind is Kind.AGENT:
                touched.update(a for a in declared if a.owner == address)
            case Create() | Update() | Attach() if change.address.kind is Kind.BLOCK:
                touched.add(change.address)
    found = (address for address in touched if address in declared)
    return tuple((address, declared[address].value) for address in sorted(found, key=str))


def _notice_order(notice: Notice) -> tuple[str, str, str, tuple[str, ...]]:
    address = str(notice.address) if notice.address else ""
    return (address, notice.kind.value, notice.message, notice.resource_ids)
