"""Runs a plan's changes against the server in dependency order, in parallel within a phase.

The order is `reconciler.planner.order.phases`, the rule the planner sorts plans by: creates in
waves by dependency, then updates, attaches, detaches, and deletes last. Each change is carried
out by its kind's module (`reconciler.kinds`). At most `parallelism` requests are in flight; a
change whose request was answered while the server works on in the background (a file it
parses and embeds) is left pending outside that bound, and its kind's `finish` ends the
pending changes of one group together (one look per group at a time, before any change not
started yet). A change whose dependency failed is skipped and reported; everything else still
runs, so a re-run converges. Once the server stops answering, the changes not started yet are
reported as not attempted. Once the person running it asks to stop (`stop`, Ctrl-C at the
command line), no change is started any more, the ones in flight (pending ones included) are
waited for, and `Interrupted` says what was done; asked again, it stops waiting too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import assert_never

from reconciler.address import Address
from reconciler.apply.phase import Phase
from reconciler.apply.results import ApplyResult, Left, Progress
from reconciler.client import LettaApi
from reconciler.errors import (
    ApplyFailed,
    ConnectionFailed,
    Interrupted,
    LettaApplyError,
    ServerError,
)
from reconciler.kinds.common import Pending, Resolve
from reconciler.kinds.registry import batcher, finisher, handler, kept_ids, linker
from reconciler.live.state import LiveState
from reconciler.plan.model import Adopt, Attach, Change, Create, Delete, Detach, Plan, Update
from reconciler.planner.order import phases


def apply_plan(
    api: LettaApi,
    plan: Plan,
    live: LiveState,
    *,
    parallelism: int = 8,
    progress: Progress | None = None,
    stop: Callable[[], bool] = lambda: False,
    notify: Callable[[str], None] = lambda _message: None,
) -> list[ApplyResult]:
    """Apply every change; raise ApplyFailed (after finishing what it can) if any failed.

    `stop` is asked before each change starts and while changes run: once it says so, no
    change starts any more, `notify` is told once, and Interrupted is raised when the changes
    in flight have finished; a KeyboardInterrupt while waiting for them (a second Ctrl-C)
    stops waiting.
    """
    ids = _IdTable(kept_ids(live))
    outage = _Outage()
    report = _Reporter(len(plan.changes), progress)
    run = _Runner(api, plan.stack, ids, outage, stop, report)
    results: list[ApplyResult] = []
    slots = max(1, parallelism)
    pool = ThreadPoolExecutor(max_workers=slots)
    try:
        for batch in phases(plan.changes):
            results.extend(Phase(pool, slots, run, notify).run(batch))
    except KeyboardInterrupt:
        report.mute()  # what the abandoned changes report once the client is closed is noise
        pool.shutdown(wait=False, cancel_futures=True)
        raise run.interrupted(len(plan.changes)) from None
    pool.shutdown()
    if run.stopped:
        raise run.interrupted(len(plan.changes))
    failures = [r for r in results if not r.ok and r.attempted]
    skipped = [str(r.change.address) for r in results if not r.attempted]
    if failures or skipped:
        errors = [_server_error(r) for r in failures]
        applied = sum(r.ok for r in results)
        raise ApplyFailed(errors, applied, skipped, outage.reason or "")
    return results


def execute(api: LettaApi, stack: str, change: Change, resolve: Resolve) -> str | Pending | None:
    """Carry out one change through its kind's module; return the id it created or changed, or
    what it left pending (see `finish`)."""
    kind = change.address.kind
    match change:
        case Adopt():
            return handler(kind).adopt(api, stack, change, resolve)
        case Create():
            return handler(kind).create(api, stack, change, resolve)
        case Update():
            left = handler(kind).update(api, change)
            return change.resource_id if left is None else left
        case Attach():
            linker(kind).attach(api, change, resolve)
            return None
        case Detach():
            linker(kind).detach(api, change, resolve)
            return None
        case Delete():
            left = handler(kind).delete(api, change)
            return change.resource_id if left is None else left
        case _:
            assert_never(change)


def execute_together(
    api: LettaApi, stack: str, changes: Sequence[Create], resolve: Resolve
) -> list[str]:
    """Carry out several creates of one kind in one request (`kinds.Batcher`); the ids they
    made, in their order. A failure is the failure of every one of them."""
    return batcher(changes[0].address.kind).create_together(api, stack, changes, resolve)


def finish(
    api: LettaApi, waiting: Sequence[tuple[Change, Pending]]
) -> Mapping[Pending, LettaApplyError | None]:
    """Look at pending changes of one group (one kind) through their kind's `finish`: those
    that ended, with their failure (None: done); the others are still pending."""
    kind = waiting[0][0].address.kind
    return finisher(kind).finish(api, [pending for _change, pending in waiting])


def carry_out(api: LettaApi, stack: str, change: Change, resolve: Resolve) -> str | None:
    """One change from its request to its end, outside an apply (the `adopt` command): what
    it leaves pending is looked at in this thread until it ends."""
    done = execute(api, stack, change, resolve)
    if not isinstance(done, Pending):
        return done
    while True:
        ended = finish(api, [(change, done)])
        if done in ended:
            failure = ended[done]
            if failure is not None:
                raise failure
            return done.resource_id
        time.sleep(finisher(change.address.kind).FINISH_EVERY)


class _Runner:
    """Runs one change, or a look at pending changes, in a worker thread; counts the changes
    started, and starts none once `stop` says so (they are then reported as not attempted)."""

    def __init__(
        self,
        api: LettaApi,
        stack: str,
        ids: _IdTable,
        outage: _Outage,
        stop: Callable[[], bool],
        report: _Reporter,
    ) -> None:
        self._api, self._stack, self._ids, self._outage = api, stack, ids, outage
        self._stop, self._report = stop, report
        self._lock = threading.Lock()
        self._started = 0
        self._finished: list[ApplyResult] = []
        self.stopped = False
        self._told = False

    def stop_requested(self) -> bool:
        """True the first time the apply is found asked to stop, False before and after."""
        if self._told or not self._stop():
            return False
        self._told = True
        return True

    def __call__(self, changes: tuple[Change, ...]) -> list[ApplyResult | Left]:
        """Start one change, or several sent together; the results of those that ended."""
        if self._stop():
            self.stopped = True
            not_started = LettaApplyError("not started: the apply was interrupted")
            return [
                self._report(ApplyResult(change, failure=not_started, attempted=False))
                for change in changes
            ]
        with self._lock:
            self._started += len(changes)
        outcomes = _run(self._api, self._stack, changes, self._ids, self._outage)
        return [o if isinstance(o, Left) else self._ended(o) for o in outcomes]

    def finish(self, waiting: Sequence[tuple[Change, Pending]]) -> list[ApplyResult]:
        """Look at pending changes of one group: the results of those that ended."""
        try:
            ended = finish(self._api, waiting)
        except LettaApplyError as exc:
            _note_outage(self._api, exc, self._outage)
            ended = {pending: exc for _change, pending in waiting}
        results = []
        for change, pending in waiting:
            if pending not in ended:
                continue
            failure = ended[pending]
            if failure is not None:
                results.append(self._ended(ApplyResult(change, failure=failure)))
                continue
            if isinstance(change, Adopt | Create):
                self._ids.set(change.address, pending.resource_id)
            results.append(self._ended(ApplyResult(change, resource_id=pending.resource_id)))
        return results

    def _ended(self, result: ApplyResult) -> ApplyResult:
        with self._lock:
            self._finished.append(result)
        return self._report(result)

    def interrupted(self, total: int) -> Interrupted:
        """What an interrupted apply did: the changes done and failed, those still in flight
        (none once they were waited for), and how many were never started."""
        with self._lock:
            finished = [r for r in self._finished if r.attempted]
            in_flight = self._started - len(self._finished)
        failed = [_server_error(r) for r in finished if not r.ok]
        done = len(finished) - len(failed)
        return Interrupted(done, failed, in_flight, total - len(finished) - in_flight)


def _run(
    api: LettaApi, stack: str, changes: tuple[Change, ...], ids: _IdTable, outage: _Outage
) -> list[ApplyResult | Left]:
    """Carry out one change, or several sent together (those whose dependency exists)."""
    if outage.reason is not None:
        not_attempted = LettaApplyError(f"not attempted: {outage.reason}")
        return [ApplyResult(c, failure=not_attempted, attempted=False) for c in changes]
    outcomes: dict[int, ApplyResult | Left] = {}
    ready = []
    for change in changes:
        missing = sorted(str(need) for need in change.needs if ids.get(need) is None)
        if missing:
            skipped = LettaApplyError(f"skipped: {', '.join(missing)} does not exist")
            outcomes[id(change)] = ApplyResult(change, failure=skipped)
        else:
            ready.append(change)
    try:
        done = _sent(api, stack, ready, ids)
    except LettaApplyError as exc:
        _note_outage(api, exc, outage)
        outcomes.update((id(c), ApplyResult(c, failure=exc)) for c in ready)
    else:
        outcomes.update(
            (id(c), _outcome(c, made, ids)) for c, made in zip(ready, done, strict=True)
        )
    return [outcomes[id(change)] for change in changes]


def _sent(
    api: LettaApi, stack: str, changes: list[Change], ids: _IdTable
) -> Sequence[str | Pending | None]:
    if len(changes) == 1:
        return [execute(api, stack, changes[0], ids.require)]
    creates = [c for c in changes if isinstance(c, Create)]
    assert len(creates) == len(changes), "only creates are sent together"
    return execute_together(api, stack, creates, ids.require) if creates else []


def _outcome(change: Change, done: str | Pending | None, ids: _IdTable) -> ApplyResult | Left:
    if isinstance(done, Pending):
        return Left(change, done)
    if isinstance(change, Adopt | Create):
        ids.set(change.address, done)
    return ApplyResult(change, resource_id=done)


def _note_outage(api: LettaApi, exc: LettaApplyError, outage: _Outage) -> None:
    """A failure for want of an answer, or the account's quota: nothing more is started."""
    if isinstance(exc, ConnectionFailed):
        outage.record(f"the server at {api.target.label} stopped answering")
    elif getattr(exc, "status", None) == QUOTA_EXCEEDED:
        outage.record(
            f"the server at {api.target.label} refused more for this account "
            "(HTTP 402: quota or plan limit)"
        )


def _server_error(result: ApplyResult) -> ServerError:
    """A failure as the server's answer for the change's address, its status kept (a request
    made for several changes, a folder's listing or a batch of passages, names them all)."""
    failure, address = result.failure, str(result.change.address)
    if isinstance(failure, ServerError):
        if failure.address == address:
            return failure
        return ServerError(address, failure.server_message, failure.status)
    return ServerError(address, result.error or "failed")


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

    def mute(self) -> None:
        """Report nothing more (changes abandoned by a forced stop)."""
        with self._lock:
            self._progress = None
