"""The planner: desired state + live state (plain values) in, a `Plan` out. No I/O.

Rules it applies: only owned resources are updated or deleted; a seeded block's value is never
overwritten (an agent's edit is reported as drift); undeclared resources are deleted only with
prune and never when protected; a duplicate keeps the oldest resource.
"""

from __future__ import annotations

from reconciler import ownership
from reconciler.desired import DesiredState
from reconciler.live import LiveState
from reconciler.plan.agents import plan_agents, plan_shared_blocks
from reconciler.plan.builder import Builder
from reconciler.plan.model import Action, Change, Kind, Plan
from reconciler.plan.users import plan_conversations, plan_identities


def build_plan(
    desired: DesiredState, live: LiveState, *, target: str, prune: bool | None = None
) -> Plan:
    """Compare desired and live state and return the changes that make the server match."""
    prune_on = desired.prune.enabled if prune is None else prune
    out = Builder()
    agents = plan_agents(desired, live, out, prune_on)
    plan_shared_blocks(desired, live, out, prune_on)
    plan_conversations(desired, live, agents, out, prune_on)
    plan_identities(desired, live, agents, out, prune_on)
    return Plan(
        stack=desired.stack,
        target=target,
        changes=tuple(sorted(out.changes, key=_change_order)),
        notices=tuple(sorted(out.notices, key=lambda n: (n.address, n.kind.value, n.message))),
        live_fingerprint=live.fingerprint(),
        prune=prune_on,
        owned_resources=live.owned_count(),
        max_delete_percent=desired.prune.max_delete_percent,
    )


def kept_ids(stack: str, live: LiveState) -> dict[str, str]:
    """Address -> id of the live resource a plan refers to (the oldest, for duplicates)."""
    ids: dict[str, str] = {}
    oldest_first = sorted(live.agents, key=lambda a: (a.created_at, a.id), reverse=True)
    ids.update((a.address, a.id) for a in oldest_first if a.address)
    for block in live.blocks:
        address = ownership.metadata_address(block.metadata, stack)
        if address:
            ids.setdefault(address, block.id)
    owned = sorted((i for i in live.identities if i.owned), key=lambda i: (i.created_at, i.id))
    for identity in reversed(owned):
        ids[f"identity/{identity.identifier_key}"] = identity.id
    return ids


_PHASE = {
    (Action.CREATE, Kind.BLOCK): 0,
    (Action.CREATE, Kind.IDENTITY): 0,
    (Action.CREATE, Kind.AGENT): 1,
}


def _change_order(change: Change) -> tuple[int, str, str, str]:
    """Apply order: Action order first (the enum's), creates of dependencies before agents."""
    action_rank = list(Action).index(change.action)
    phase = _PHASE.get((change.action, change.kind), 2)
    return (
        action_rank * 10 + phase,
        change.kind.value,
        change.address,
        change.refs.get("agent", ""),
    )
