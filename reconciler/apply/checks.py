"""What is checked before a plan is applied: the deletion guards, and that every resource a
saved plan names is still the stack's, at the address the plan gives it.

A saved plan is a file anyone with access to a CI artifact could edit, and its digest can be
recomputed by whoever edits it; so the ids in it are trusted only once the live state read
under the lock confirms them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import assert_never

from reconciler.address import Address
from reconciler.errors import UnsafePlanError
from reconciler.kinds.registry import (
    deleted_with,
    detach_claimed_on_agent,
    linked_agents,
    owned_ids,
)
from reconciler.live.state import LiveState
from reconciler.plan.deletions import deletions
from reconciler.plan.model import Adopt, Attach, Change, Create, Delete, Detach, Plan, Update


def check_guards(plan: Plan, *, allow_destructive: bool, allow_mass_delete: bool) -> None:
    """Refuse plans the options do not allow: any delete, or deleting more than the stack's
    share (`max_delete_percent` of what it owns; an agent's own blocks count with it), counted
    as the plan's summary counts them (`reconciler.plan.deletions`)."""
    deleted = deletions(plan)
    if deleted.total and not allow_destructive:
        raise UnsafePlanError(
            f"the plan deletes {deleted.phrase()}; pass --allow-delete to apply deletions"
        )
    if deleted.over_share and not allow_mass_delete:
        raise UnsafePlanError(
            f"the plan deletes {deleted.phrase()}: {deleted.share()}; if that is intended, "
            "pass --allow-mass-delete"
        )


def check_not_redacted(plan: Plan) -> None:
    """A plan rendered with its memory block values redacted is for reading only."""
    if plan.redacted:
        raise UnsafePlanError(
            "this plan's memory block values are redacted (--redact-values): it is for "
            "reading, not applying; apply the plan saved with `plan --out`"
        )


def check_owned(plan: Plan, live: LiveState) -> None:
    """Every id the plan updates, detaches or deletes is owned by the stack at that address
    (or, for a detach its kind claims on the agent, the agent is the stack's), and every block
    deleted with an agent is that agent's own; otherwise nothing is applied."""
    owned = owned_ids(live)
    children = deleted_with(live)
    wrong = [
        f"{address} ({resource_id})"
        for change in plan.changes
        for resource_id, address in _claims(change)
        if owned.get(resource_id) != address
    ]
    agents = linked_agents(live)
    wrong += [
        f"{change.agent} (detaching {change.address})"
        for change in plan.changes
        if isinstance(change, Detach)
        and detach_claimed_on_agent(change.address.kind)
        and change.agent not in agents
    ]
    wrong += [
        f"{change.address} (block {child})"
        for change in plan.changes
        if isinstance(change, Delete)
        for child in change.owned_children
        if child not in children.get(change.resource_id, frozenset())
    ]
    if wrong:
        raise UnsafePlanError(
            f"the plan names {len(wrong)} resource(s) this stack does not own there: "
            f"{', '.join(sorted(wrong))}; nothing was applied. Make a new plan and review it."
        )


def _claims(change: Change) -> Iterator[tuple[str, Address]]:
    """The (id, address) pairs a change asserts about the server. A detach its kind claims on
    the agent (`Linker.DETACH_CLAIMED_ON_AGENT`: the resource may be the server's) changes
    only the agent, so that claim is checked on the agent."""
    match change:
        case Detach() if detach_claimed_on_agent(change.address.kind):
            return
        case Update() | Delete() | Detach():
            yield change.resource_id, change.address
        case Adopt() | Create() | Attach():
            return  # an adoption is checked when it marks: not another stack's
        case _:
            assert_never(change)
