"""Runs a plan's changes against the server in dependency order, in parallel within a phase.

The order is `reconciler.plan.order.phases`, the rule the planner sorts plans by: creates in
waves by dependency, then updates, attaches, detaches, and deletes last. Each change is carried
out by its kind's module (`reconciler.kinds`). A change whose dependency failed is skipped and
reported; everything else still runs, so a re-run converges. Once the server stops answering,
the changes not started yet are reported as not attempted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import assert_never

from reconciler.address import Address
from reconciler.client import LettaApi
from reconciler.errors import (
    ApplyFailed,
    ConnectionFailed,
    LettaApplyError,
    ServerError,
)
from reconciler.kinds import handler, kept_ids, linker
from reconciler.kinds.common import Resolve
from reconciler.live.state import LiveState
from reconciler.plan.model import Adopt, Attach, Change, Create, Delete, Detach, Plan, Update
from reconciler.plan.order import phases


@dataclass(frozen=True)
class ApplyResult:
    """What happened to one change: `failure` is None on success."""

    change: Change
    resource_id: str | None = None
    failure: LettaApplyError | None = None
    attempted: bool = True

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def error(self) -> str | None:
        """The failure as shown next to the change's address (without repeating it)."""
        return None if self.failure is None else _describe(self.failure, self.change.address)


Progress = Callable[[int, int, ApplyResult], None]


def apply_plan(
    api: LettaApi,
    plan: Plan,
    live: LiveState,
    *,
    parallelism: int = 8,
    progress: Progress | None = None,
) -> list[ApplyResult]:
    """Apply every change; raise ApplyFailed (after finishing what it can) if any failed."""
    ids = _IdTable(kept_ids(live))
    outage = _Outage()
    results: list[ApplyResult] = []
    report = _Reporter(len(plan.changes), progress)
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        for batch in phases(plan.changes):
            run = lambda c: report(_run_one(api, plan.stack, c, ids, outage))  # noqa: E731
            results.extend(pool.map(run, batch))
    failures = [r for r in results if not r.ok and r.attempted]
    skipped = [str(r.change.address) for r in results if not r.attempted]
    if failures or skipped:
        errors = [_server_error(r) for r in failures]
        applied = sum(r.ok for r in results)
        raise ApplyFailed(errors, applied, skipped, outage.reason or "")
    return results


def execute(api: LettaApi, stack: str, change: Change, resolve: Resolve) -> str | None:
    """Carry out one change through its kind's module; return the id it created or changed."""
    kind = change.address.kind
    match change:
        case Adopt():
            return handler(kind).adopt(api, stack, change, resolve)
        case Create():
            return handler(kind).create(api, stack, change, resolve)
        case Update():
            handler(kind).update(api, change)
            return change.resource_id
        case Attach():
            linker(kind).attach(api, change, resolve)
            return None
        case Detach():
            linker(kind).detach(api, change, resolve)
            return None
        case Delete():
            handler(kind).delete(api, change)
            return change.resource_id
        case _:
            assert_never(change)


def _run_one(
    api: LettaApi, stack: str, change: Change, ids: _IdTable, outage: _Outage
) -> ApplyResult:
    if outage.reason is not None:
        not_attempted = LettaApplyError(f"not attempted: {outage.reason}")
        return ApplyResult(change, failure=not_attempted, attempted=False)
    missing = sorted(str(need) for need in change.needs if ids.get(need) is None)
    if missing:
        skipped = LettaApplyError(f"skipped: {', '.join(missing)} does not exist")
        return ApplyResult(change, failure=skipped)
    try:
        resource_id = execute(api, stack, change, ids.require)
    except ConnectionFailed as exc:
        outage.record(f"the server at {api.target.label} stopped answering")
        return ApplyResult(change, failure=exc)
    except LettaApplyError as exc:
        if getattr(exc, "status", None) == QUOTA_EXCEEDED:
            outage.record(
                f"the server at {api.target.label} refused more for this account "
                "(HTTP 402: quota or plan limit)"
            )
        return ApplyResult(change, failure=exc)
    if isinstance(change, Adopt | Create):
        ids.set(change.address, resource_id)
    return ApplyResult(change, resource_id=resource_id)


def _describe(exc: LettaApplyError, address: Address) -> str:
    """The error without the address (results are reported next to their address)."""
    if isinstance(exc, ServerError):
        where = f" (HTTP {exc.status})" if exc.status is not None else ""
        return f"{exc.server_message}{where}"
    return str(exc).removeprefix(f"{address}: ")


def _server_error(result: ApplyResult) -> ServerError:
    """A failure as the server's answer for the change's address, its status kept."""
    failure = result.failure
    if isinstance(failure, ServerError):
        return failure
    return ServerError(str(result.change.address), result.error or "failed")


QUOTA_EXCEEDED = 402
"""Letta Cloud's answer when the account's quota or plan allows no more: not retried, and
the changes not started yet are not attempted (one report, not one per change)."""


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

    def __init__(self, initial: dict[Address, str]) -> None:
        self._ids = dict(initial)
        self._lock = threading.Lock()

    def get(self, address: Address) -> str | None:
        with self._lock:
            return self._ids.get(address)

    def set(self, address: Address, resource_id: str | None) -> None:
        if resource_id is None:
            return
        with self._lock:
            self._ids[address] = resource_id

    def require(self, address: Address) -> str:
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
