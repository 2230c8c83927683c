"""The planner: desired state + live state (plain values) in, a `Plan` out. No I/O.

Rules it applies: only owned resources are updated or deleted; a seeded block's value is never
overwritten (an agent's edit is reported as drift); undeclared resources are deleted only with
prune and never when protected; of duplicates the oldest is kept (`survivor_first`). Each
kind's own rules are in its module under `reconciler.kinds`.
"""

from __future__ import annotations

from reconciler.desired import DesiredState
from reconciler.kinds import KINDS
from reconciler.live.state import LiveState
from reconciler.plan.builder import Builder
from reconciler.plan.model import Notice, Plan
from reconciler.plan.order import in_order


def build_plan(
    desired: DesiredState, live: LiveState, *, target: str, prune: bool | None = None
) -> Plan:
    """Compare desired and live state and return the changes that make the server match."""
    prune_on = desired.prune.enabled if prune is None else prune
    out = Builder(prune=prune_on, users=desired.patterns())
    for kind in KINDS:
        kind.plan(desired, live, out)
    return Plan(
        stack=desired.stack,
        target=target,
        changes=tuple(in_order(out.changes)),
        notices=tuple(sorted(out.notices, key=_notice_order)),
        live_fingerprint=live.fingerprint(),
        prune=prune_on,
        owned_resources=live.owned_count(),
        max_delete_percent=desired.prune.max_delete_percent,
    )


def _notice_order(notice: Notice) -> tuple[str, str, str, tuple[str, ...]]:
    address = str(notice.address) if notice.address else ""
    return (address, notice.kind.value, notice.message, notice.resource_ids)
