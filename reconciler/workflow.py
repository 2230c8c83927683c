"""The steps the commands are made of past planning (`reconciler.planning`): plan and apply
under the stack's lock, apply a saved plan, the outputs.

Each step is a function of explicit values; what a flow reports and whom it asks are
callbacks (`Hooks`), so the CLI only parses options, prints and maps errors to exit codes.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

from reconciler.apply import (
    StackLock,
    apply_plan,
    check_guards,
    check_not_redacted,
    check_owned,
)
from reconciler.apply.results import ApplyResult, Progress
from reconciler.client import LettaApi, Target
from reconciler.desired import DesiredState
from reconciler.errors import (
    Declined,
    Interrupted,
    LettaApplyError,
    NotConverged,
    StalePlanError,
)
from reconciler.kinds.read import read_live
from reconciler.kinds.registry import claimed_twice, fingerprint, kept_ids
from reconciler.live.state import LiveState
from reconciler.plan.model import Plan
from reconciler.planning import make_plan, preflight
from reconciler.scope import Scoped
from reconciler.text import clean, redact_url, without_credentials
from reconciler.values import JSON


@dataclass(frozen=True)
class ApplyOptions:
    """What an apply is allowed to do and how."""

    allow_delete: bool = False
    allow_mass_delete: bool = False
    parallelism: int = 8
    lock_timeout: float = 0.0


StopRequested = Callable[[], bool]
"""Whether the person running an apply asked it to stop starting changes."""


@contextlib.contextmanager
def never_stopping() -> Iterator[StopRequested]:
    """Nobody can ask to stop: every change is applied."""
    yield lambda: False


@dataclass(frozen=True)
class Hooks:
    """What a flow tells the person or job running it, and whom it asks; silent by default.

    `confirm` is None when nobody is there to ask: the plan is applied as the options allow.
    When someone is asked, their answer also covers the plan's deletions.
    """

    status: Callable[[str], None] = lambda _line: None
    """A transient line while reading the server."""
    notify: Callable[[str], None] = lambda _message: None
    """Messages worth keeping, such as waiting for or taking over the stack's lock."""
    show: Callable[[Plan], None] = lambda _plan: None
    """The plan about to be applied, before anything is."""
    confirm: Callable[[Plan], bool] | None = None
    progress: Progress | None = None
    """After each change."""
    finished: Callable[[Sequence[ApplyResult]], None] = lambda _results: None
    """Once every change ran, when there were any."""
    stopping: Callable[[], AbstractContextManager[StopRequested]] = never_stopping
    """Entered while the changes are applied: what it gives says when the person running the
    apply asked to stop (Ctrl-C); no change is started after that."""


def plan_and_apply(
    api: LettaApi,
    desired: DesiredState,
    options: ApplyOptions,
    hooks: Hooks,
    *,
    prune: bool | None = None,
    scoped: Scoped | None = None,
    adopt: bool = False,
) -> list[ApplyResult]:
    """Plan and apply under the stack lock, so nothing changes between the two.

    `scoped`: only the scope's resources (see `reconciler.scope`); nothing is deleted.

    Raises NotConverged when declared resources stay blocked by resources the stack does not
    own, ApplyFailed when changes failed, Declined when the person asked said no.
    """
    preflight(api, scoped.desired if scoped else desired, models=scoped is None)
    with _lock(api, desired.stack, options, hooks):
        plan, live = make_plan(
            api,
            desired,
            prune=prune,
            parallelism=options.parallelism,
            progress=hooks.status,
            scoped=scoped,
            adopt=adopt,
        )
        hooks.show(plan)
        _check_guards(plan, options, hooks)
        results = _apply_reviewed(api, plan, live, options, hooks)
    return _finish(plan, results, hooks)


def apply_saved_plan(
    api: LettaApi, plan: Plan, options: ApplyOptions, hooks: Hooks
) -> list[ApplyResult]:
    """Apply exactly `plan`, under the stack lock, if the server still matches it.

    A plan made for another server, or one the options do not allow, is refused before any
    request is sent; the API key goes only to the server `api` was opened for.
    """
    check_not_redacted(plan)
    check_whole(plan)
    check_target(plan, api.target)
    _check_guards(plan, options, hooks)
    with _lock(api, plan.stack, options, hooks):
        live = read_live(
            api,
            plan.stack,
            parallelism=options.parallelism,
            progress=hooks.status,
            changes=plan.changes,
            records=dict(plan.reads),
        )
        if fingerprint(live) != plan.live_fingerprint:
            raise StalePlanError(
                f"the server changed since this plan was made (stack {plan.stack!r}); "
                "the plan was not applied. Make a new plan and review it."
            )
        check_owned(plan, live)
        hooks.show(plan)
        try:
            results = _apply_reviewed(api, plan, live, options, hooks)
        except Interrupted as exc:
            # Part of it was applied: the saved plan no longer matches the server.
            raise exc.advising("Make a new plan and apply it to converge.") from None
    return _finish(plan, results, hooks)


def check_whole(plan: Plan) -> None:
    """A partial plan read only its scope: whether the rest of the stack changed since cannot
    be checked, so it is not applied from a file (a scoped run plans and applies at once)."""
    if plan.partial:
        raise LettaApplyError(
            "this plan is partial (" + ", ".join(plan.scope) + "): apply it with "
            "`letta-apply PATHS --target ... / --users ...`, which plans and applies under "
            "the stack's lock, not from a saved plan"
        )


def _lock(api: LettaApi, stack: str, options: ApplyOptions, hooks: Hooks) -> StackLock:
    return StackLock(api, stack, timeout=options.lock_timeout, notify=hooks.notify)


def _check_guards(plan: Plan, options: ApplyOptions, hooks: Hooks) -> None:
    check_guards(
        plan,
        allow_destructive=options.allow_delete or hooks.confirm is not None,
        allow_mass_delete=options.allow_mass_delete,
    )


def _apply_reviewed(
    api: LettaApi, plan: Plan, live: LiveState, options: ApplyOptions, hooks: Hooks
) -> list[ApplyResult]:
    """Ask if someone can be asked, then apply the plan's changes."""
    if not plan.has_changes:
        return []
    if hooks.confirm is not None and not hooks.confirm(plan):
        raise Declined("the plan was not applied: it was declined at the prompt")
    with hooks.stopping() as stop:
        return apply_plan(
            api,
            plan,
            live,
            parallelism=options.parallelism,
            progress=hooks.progress,
            stop=stop,
            notify=hooks.notify,
        )


def _finish(plan: Plan, results: list[ApplyResult], hooks: Hooks) -> list[ApplyResult]:
    if plan.has_changes:
        hooks.finished(results)
    check_converged(plan)
    return results


def check_converged(plan: Plan) -> None:
    """A plan that leaves declared resources uncreated cannot converge: NotConverged says so."""
    if plan.blocked:
        addresses = ", ".join(str(n.address) for n in plan.blocked)
        raise NotConverged(
            f"{len(plan.blocked)} declared resource(s) blocked by resources this stack does "
            f"not own: {addresses}; adopt them (`letta-apply adopt`) or remove them"
        )


def check_target(plan: Plan, target: Target) -> None:
    """A saved plan is applied only to the server it was made against.

    Plans hold the target without its credentials, so the servers are compared without them:
    a plan applies to the server it was made for whatever user and password the URL carries.
    """
    if without_credentials(plan.target) != without_credentials(target.base_url):
        raise LettaApplyError(
            f"this plan was made for {redact_url(plan.target)}, not {target.label}; "
            "make a new plan for this server, or point --base-url / LETTA_BASE_URL at it"
        )


# Outputs ------------------------------------------------------------------------------------

OUTPUT_COLUMNS = ("user_id", "pattern", "agent_id", "conversation_id", "identity_id")


def outputs(desired: DesiredState, live: LiveState) -> list[dict[str, str | None]]:
    """Per declared user: the ids an app stores (agent, conversation, identity), of the
    resources the stack keeps (the survivors, for duplicates)."""
    ids = kept_ids(live)
    rows: list[dict[str, str | None]] = []
    for agent in desired.agents:
        if agent.user_id is not None:
            rows.append(_row(agent.user_id, "dedicated", ids.get(agent.address)))
    for conv in desired.conversations:
        row = _row(conv.user_id, "shared", ids.get(conv.agent))
        row["conversation_id"] = ids.get(conv.address)
        rows.append(row)
    for identity in desired.identities:
        agent_id = ids.get(identity.agents[0]) if identity.agents else None
        row = _row(identity.identifier_key, "identity", agent_id)
        row["identity_id"] = ids.get(identity.address)
        rows.append(row)
    return sorted(rows, key=lambda r: str(r["user_id"]))


def _row(user_id: str, pattern: str, agent_id: str | None) -> dict[str, str | None]:
    return {
        "user_id": user_id,
        "pattern": pattern,
        "agent_id": agent_id,
        "conversation_id": None,
        "identity_id": None,
    }


def claimed_twice_lines(live: LiveState) -> list[str]:
    """Warnings for the addresses two resources claim with the stack's record: outputs name
    the one plans keep, which a copied record can make the wrong one."""
    return [
        f"Warning: {address}: {len(ids)} resources carry this stack's ownership record "
        f"({', '.join(ids)}); the outputs name {ids[0]}, the one plans keep (the oldest): check "
        "which is genuine (`letta-apply audit`)"
        for address, ids in claimed_twice(live).items()
    ]


_NEEDED_IDS = {
    "dedicated": ("agent_id",),
    "shared": ("agent_id", "conversation_id"),
    "identity": ("identity_id",),
}
"""The ids a user of each pattern has once the stack is applied."""


def not_created(rows: list[dict[str, str | None]]) -> list[str]:
    """The users whose resources are not on the server yet (rows with empty ids)."""
    return [
        str(row["user_id"])
        for row in rows
        if any(row.get(column) is None for column in _NEEDED_IDS[str(row["pattern"])])
    ]


def render_outputs(stack: str, rows: list[dict[str, str | None]], fmt: str) -> str:
    """Outputs as JSON (`{"stack", "users": {id: {...}}}`) or CSV with a header."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=OUTPUT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: clean(v) if v else v for k, v in row.items()} for row in rows)
        return buffer.getvalue()
    users: Mapping[str, JSON] = {
        str(r["user_id"]): {k: v for k, v in r.items() if k != "user_id"} for r in rows
    }
    return json.dumps({"stack": stack, "users": users}, indent=2) + "\n"
