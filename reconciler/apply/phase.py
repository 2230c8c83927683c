"""One phase of an apply: its changes started in parallel, at most a bound of tasks at once,
and the changes left pending looked at by group until every one has ended."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any, Protocol

from reconciler.apply.results import ApplyResult, Left
from reconciler.kinds.common import Pending
from reconciler.kinds.registry import BATCHERS, batcher, finisher
from reconciler.plan.model import Change


class Runner(Protocol):
    """What runs a phase's tasks in the worker threads (`reconciler.apply.executor`)."""

    def __call__(self, changes: tuple[Change, ...]) -> list[ApplyResult | Left]:
        """Start one change, or several sent together; the results of those that ended."""
        ...

    def finish(self, waiting: Sequence[tuple[Change, Pending]]) -> list[ApplyResult]:
        """Look at pending changes of one group: the results of those that ended."""
        ...

    def stop_requested(self) -> bool:
        """True the first time the apply is found asked to stop."""
        ...


STOP_CHECK_SECONDS = 0.2
"""How often the apply looks whether it was asked to stop while changes run."""


@dataclass
class Group:
    """Pending changes finished together, and when their kind may look at them again."""

    entries: list[tuple[Change, Pending]] = field(default_factory=list)
    due: float = 0.0
    looking: bool = False


class Phase:
    """One phase's changes in parallel: at most `slots` tasks at once, each a change to start
    or a look at one group of pending changes; a due look goes before a change not started
    yet, so pending changes end as the server finishes them. Waits in short steps, so that a
    request to stop is answered at once while changes run."""

    def __init__(
        self, pool: ThreadPoolExecutor, slots: int, run: Runner, notify: Callable[[str], None]
    ) -> None:
        self._pool, self._slots, self._run, self._notify = pool, slots, run, notify
        self._starting: dict[Future[list[ApplyResult | Left]], int] = {}
        """Each task starting changes, with how many it starts."""
        self._looking: dict[Future[list[ApplyResult]], str] = {}
        self._groups: dict[str, Group] = {}
        self._results: dict[int, ApplyResult] = {}

    def run(self, changes: Sequence[Change]) -> list[ApplyResult]:
        """The changes' results in their order, once every one has ended."""
        waiting = deque(units(changes))
        while waiting or self._starting or self._groups:
            self._start(waiting)
            tasks: list[Future[Any]] = [*self._starting, *self._looking]
            timeout = STOP_CHECK_SECONDS if self._full() else self._next_look()
            if tasks:
                wait(tasks, timeout=timeout, return_when=FIRST_COMPLETED)
            else:
                time.sleep(timeout)
            self._take_ended()
            if self._run.stop_requested():
                self._notify(
                    f"Stopping: no new change is started; waiting for the {self._in_flight()} "
                    "in flight (Ctrl-C again stops waiting)."
                )
        return [self._results[id(change)] for change in changes]

    def _full(self) -> bool:
        return len(self._starting) + len(self._looking) >= self._slots

    def _start(self, waiting: deque[tuple[Change, ...]]) -> None:
        now = time.monotonic()
        while not self._full():
            due = [k for k, g in self._groups.items() if not g.looking and g.due <= now]
            if due:
                group = self._groups[due[0]]
                group.looking = True
                self._looking[self._pool.submit(self._run.finish, list(group.entries))] = due[0]
            elif waiting:
                unit = waiting.popleft()
                self._starting[self._pool.submit(self._run, unit)] = len(unit)
            else:
                return

    def _take_ended(self) -> None:
        for started in [f for f in self._starting if f.done()]:
            del self._starting[started]
            for outcome in started.result():
                if isinstance(outcome, Left):
                    group = self._groups.setdefault(outcome.pending.group, Group())
                    group.entries.append((outcome.change, outcome.pending))
                else:
                    self._results[id(outcome.change)] = outcome
        for looked in [f for f in self._looking if f.done()]:
            self._looked(self._looking.pop(looked), looked.result())

    def _looked(self, key: str, ended: list[ApplyResult]) -> None:
        group = self._groups[key]
        for result in ended:
            self._results[id(result.change)] = result
        gone = {id(result.change) for result in ended}
        group.entries = [entry for entry in group.entries if id(entry[0]) not in gone]
        group.looking = False
        if not group.entries:
            del self._groups[key]
            return
        kind = group.entries[0][0].address.kind
        group.due = time.monotonic() + finisher(kind).FINISH_EVERY

    def _next_look(self) -> float:
        """Seconds until a group of pending changes may be looked at again (at most the stop
        check's step)."""
        now = time.monotonic()
        dues = [g.due - now for g in self._groups.values() if not g.looking]
        return max(0.0, min([STOP_CHECK_SECONDS, *dues]))

    def _in_flight(self) -> int:
        pending = sum(len(g.entries) for g in self._groups.values())
        return sum(self._starting.values()) + pending


def units(changes: Sequence[Change]) -> list[tuple[Change, ...]]:
    """The phase's changes as they are started: alone, or several in one request where their
    kind sends them together (`registry.BATCHERS`), in the phase's order."""
    units: list[tuple[Change, ...]] = []
    for kind, same in groupby(changes, key=lambda change: change.address.kind):
        listed = list(same)
        if kind in BATCHERS:
            units.extend(batcher(kind).batches(listed))
        else:
            units.extend((change,) for change in listed)
    return units
