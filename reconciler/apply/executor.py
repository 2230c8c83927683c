"""Runs a plan's changes against the server in dependency order, in parallel within a phase.

Phases: creates of shared blocks and identities and every in-place update; agent creates;
blocks, conversations made on agents; attaches and detaches; deletes last. A change whose
dependency failed is skipped and reported; everything else still runs, so a re-run converges.
Once the server stops answering, the changes not started yet are reported as not attempted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import groupby

from reconciler.apply.operations import execute
from reconciler.client import LettaApi
from reconciler.errors import (
    ApplyFailed,
    ConnectionFailed,
    LettaApplyError,
    ServerError,
    UnsafePlanError,
)
from reconciler.live import LiveState
from reconciler.plan.model import Action, Change, Kind, Plan
from reconciler.plan.planner import kept_ids


@dataclass(frozen=True)
class ApplyResult:
    """What happened to one change: `error` is None on success."""

    change: Change
    resource_id: str | None = None
    error: str | None = None
    attempted: bool = True

    @property
    def ok(self) -> bool:
        return self.error is None


Progress = Callable[[int, int, ApplyResult], None]


def check_guards(plan: Plan, *, allow_destructive: bool, allow_mass_delete: bool) -> None:
    """Refuse plans the options do not allow: any delete, or deleting most of the stack."""
    deletes = len(plan.destructive)
    if deletes and not allow_destructive:
        raise UnsafePlanError(
            f"the plan deletes {deletes} resource(s); pass --allow-delete to apply deletions"
        )
    limit = plan.owned_resources * plan.max_delete_percent / 100
    if deletes > max(limit, 1) and not allow_mass_delete:
        raise UnsafePlanError(
            f"the plan deletes {deletes} of {plan.owned_resources} resources the stack owns, "
            f"more than {plan.max_delete_percent:g}%; if that is intended, pass --allow-mass-delete"
        )


def apply_plan(
    api: LettaApi,
    plan: Plan,
    live: LiveState,
    *,
    parallelism: int = 8,
    progress: Progress | None = None,
) -> list[ApplyResult]:
    """Apply every change; raise ApplyFailed (after finishing what it can) if any failed."""
    ids = _IdTable(kept_ids(plan.stack, live))
    outage = _Outage()
    results: list[ApplyResult] = []
    total = len(plan.changes)
    report = _Reporter(total, progress)
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        for _, batch in groupby(sorted(plan.changes, key=_phase), key=_phase):
            changes = list(batch)
            run = lambda c: report(_run_one(api, plan.stack, c, ids, outage))  # noqa: E731
            results.extend(pool.map(run, changes))
    failures = [r for r in results if not r.ok and r.attempted]
    skipped = [r.change.address for r in results if not r.attempted]
    if failures or skipped:
        errors = [ServerError(r.change.address, r.error or "failed") for r in failures]
        applied = sum(r.ok for r in results)
        raise ApplyFailed(errors, applied, skipped, outage.reason or "")
    return results


def _phase(change: Change) -> int:
    match change.action:
        case Action.CREATE if change.kind is Kind.AGENT:
            return 1
        case Action.CREATE if (
            change.kind in (Kind.BLOCK, Kind.IDENTITY) and "agent" not in change.refs
        ):
            return 0
        case Action.CREATE:
            return 2
        case Action.UPDATE:
            return 0
        case Action.ATTACH | Action.DETACH:
            return 3
        case Action.DELETE:
            return 4
    raise AssertionError(change.action)


def _run_one(
    api: LettaApi, stack: str, change: Change, ids: _IdTable, outage: _Outage
) -> ApplyResult:
    if outage.reason is not None:
        return ApplyResult(change, error=f"not attempted: {outage.reason}", attempted=False)
    missing = [ref for ref in change.refs.values() if ids.get(ref) is None]
    if missing and change.action is not Action.DETACH:
        return ApplyResult(change, error=f"skipped: {', '.join(sorted(missing))} does not exist")
    try:
        resource_id = execute(api, stack, change, ids.require)
    except ConnectionFailed as exc:
        outage.record(f"the server at {api.target.base_url} stopped answering")
        return ApplyResult(change, error=_describe(exc, change.address))
    except LettaApplyError as exc:
        return ApplyResult(change, error=_describe(exc, change.address))
    if change.action is Action.CREATE and resource_id is not None:
        ids.set(change.address, resource_id)
    return ApplyResult(change, resource_id=resource_id)


def _describe(exc: LettaApplyError, address: str) -> str:
    """The error without the address (results are reported next to their address)."""
    if isinstance(exc, ServerError):
        where = f" (HTTP {exc.status})" if exc.status is not None else ""
        return f"{exc.server_message}{where}"
    return str(exc).removeprefix(f"{address}: ")


class _Outage:
    """Set once a change failed for want of an answer even after the client's retries: the
    changes not started yet are reported as not attempted instead of each waiting out its own
    retries against a server that is gone."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._lock = threading.Lock()

    def record(self, reason: str) -> None:
        with self._lock:
            self.reason = self.reason or reason


class _IdTable:
    """Address -> id of what exists, filled in as creates succeed; shared across threads."""

    def __init__(self, initial: dict[str, str]) -> None:
        self._ids = dict(initial)
        self._lock = threading.Lock()

    def get(self, address: str) -> str | None:
        with self._lock:
            return self._ids.get(address)

    def set(self, address: str, resource_id: str) -> None:
        with self._lock:
            self._ids[address] = resource_id

    def require(self, address: str) -> str:
        found = self.get(address)
        if found is None:
            raise LettaApplyError(f"{address} has no id on the server")
        return found


class _Reporter:
    """Counts finished changes and hands each result to the progress callback."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self._total = total
        self._done = 0
        self._progress = progress
        self._lock = threading.Lock()

    def __call__(self, result: ApplyResult) -> ApplyResult:
        with self._lock:
            self._done += 1
            if self._progress is not None:
                self._progress(self._done, self._total, result)
        return result


def summarize(results: Iterable[ApplyResult]) -> dict[str, int]:
    """Counts of successful changes by action, for the final report line."""
    counts: dict[str, int] = {}
    for result in results:
        if result.ok:
            counts[result.change.action.value] = counts.get(result.change.action.value, 0) + 1
    return counts
