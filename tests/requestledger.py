"""The request ledger: every write an apply sends belongs to a change of the plan it applies.

Server tests run the command through this module (`python -m tests.requestledger ARGS`, see
`command`): it runs letta-apply with its HTTP requests recorded and, when `LETTA_APPLY_TEST_LEDGER`
names a file, appends one JSON line per write to it saying which change sent it and whether it
may. The fixture in tests/conftest.py fails a server test whose runs sent a write that may not.

The rule knows no kind, so a new kind is checked as it is added:
- a write sent while a change runs names (in its path, query and body) only ids the change
  names: its resource id and owned children, the ids of the addresses it names (its own, the
  agent of a link, what it links, the agent it belongs to, the MCP server providing a tool),
  and ids first seen in answers to its own requests (what it made: the server's answer to a
  create, the sleep-time agent the server made with an agent). An id the run had already seen
  (in the live state it read, say) is never one a change made.
- a write sent for creates sent together in one request (an archive's passages) names only
  ids one of them names.
- a write sent while pending changes end together (a folder's record written for the uploads
  finishing at once) names only ids one of them may: each change keeps what it may name.
- a write sent while no change runs is the lock's: creating a lock record or deleting one.

`letta-apply adopt --address A --id I` applies no plan: the one change its options name is
its plan.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from reconciler.address import Address
from reconciler.errors import LettaApplyError
from reconciler.kinds.common import Resolve
from reconciler.ownership import LOCK_KEY_PREFIX, is_lock_record
from reconciler.plan.model import Attach, Change, Create, Delete, Detach, Plan

LEDGER_ENV = "LETTA_APPLY_TEST_LEDGER"
WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
SEARCHES = frozenset({"/v1/passages/search"})
"""Routes the server answers a POST on without writing anything (its searches)."""
SERVER_ID = re.compile(
    r"\b[a-z][a-z_]*-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"
)
"""A Letta server id (`agent-<uuid>`, `block-<uuid>`, ...), wherever it appears in a request."""
LOCK_COLLECTIONS = ("/v1/identities/", "/v1/blocks/")


def command(*args: str) -> list[str]:
    """The command line running `letta-apply ARGS` with its requests recorded."""
    return [sys.executable, "-m", "tests.requestledger", *args]


def environment() -> dict[str, str]:
    """What the recorded command needs besides the caller's environment: this checkout on
    the import path (the tests run from anywhere)."""
    root = str(Path(__file__).resolve().parents[1])
    paths = [root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {"PYTHONPATH": os.pathsep.join(paths)}


@dataclass
class _Running:
    """Changes being carried out (one, or pending ones ending together), and the ids their
    requests may name."""

    changes: tuple[Change, ...]
    allowed: set[str]


@dataclass
class Ledger:
    """Judges each request of one run as it is sent and as it is answered."""

    plan: Plan | None = None
    planned: set[int] = field(default_factory=set)
    """The identities of the applied plan's change objects (the executor runs those)."""
    seen: set[str] = field(default_factory=set)
    lock_ids: set[str] = field(default_factory=set)
    allowed: dict[int, set[str]] = field(default_factory=dict)
    """The ids each change that ran may name (by the change's identity), kept for the requests
    that end it when it was left pending."""

    def __post_init__(self) -> None:
        self._local = threading.local()
        self._guard = threading.Lock()

    def applying(self, plan: Plan) -> None:
        self.plan = plan
        self.planned = {id(change) for change in plan.changes}

    @contextmanager
    def running(self, change: Change | Sequence[Change], named: set[str]) -> Iterator[None]:
        """Requests sent in this thread meanwhile are the change's (or those of the changes
        sent together in one request)."""
        changes = tuple(change) if isinstance(change, list | tuple) else (change,)
        running = _Running(changes, set(named))
        with self._in(running):
            yield
        with self._guard:
            self.allowed.update((id(c), running.allowed) for c in changes)

    @contextmanager
    def finishing(self, changes: Sequence[Change]) -> Iterator[None]:
        """Requests sent in this thread meanwhile end these pending changes together: they
        may name what any of them may."""
        with self._guard:
            allowed = set().union(*(self.allowed.get(id(c), set()) for c in changes))
        with self._in(_Running(tuple(changes), allowed)):
            yield

    @contextmanager
    def _in(self, running: _Running) -> Iterator[None]:
        self._local.running = running
        try:
            yield
        finally:
            self._local.running = None

    def sent(self, method: str, target: str, body: str) -> dict[str, Any] | None:
        """The verdict on a write (None for a read), before the server sees it."""
        if method not in WRITES or (method == "POST" and target.split("?")[0] in SEARCHES):
            return None
        running = self._current()
        verdict: dict[str, Any] = {"method": method, "path": target.split("?")[0]}
        if running is None:
            verdict.update(change=None, why=self._lock_problem(method, target, body))
        else:
            verdict.update(
                change=", ".join(str(c.address) for c in running.changes),
                why=self._problem(running, target, body),
            )
        verdict["ok"] = verdict["why"] is None
        return verdict

    def answered(self, target: str, answer: str, *, refused: bool = False) -> None:
        """Take note of the ids in an answer: those first seen, answering a request of a change
        naming only its own ids, are what the change made."""
        found = set(SERVER_ID.findall(answer))
        locks = set(_lock_record_ids(answer))
        with self._guard:
            new = found - self.seen
            self.seen |= found
            self.lock_ids |= locks
        running = self._current()
        if (
            running is not None
            and not refused
            and set(SERVER_ID.findall(target)) <= running.allowed
        ):
            running.allowed |= new

    def _current(self) -> _Running | None:
        running: _Running | None = getattr(self._local, "running", None)
        return running

    def _problem(self, running: _Running, target: str, body: str) -> str | None:
        if any(id(change) not in self.planned for change in running.changes):
            return "sent for a change the applied plan does not hold"
        stray = sorted(set(SERVER_ID.findall(target + " " + body)) - running.allowed)
        if stray:
            return f"names {', '.join(stray)}, which the change does not"
        return None

    def _lock_problem(self, method: str, target: str, body: str) -> str | None:
        path = target.split("?")[0]
        if method == "POST" and path in LOCK_COLLECTIONS and LOCK_KEY_PREFIX in body:
            return None
        ids = set(SERVER_ID.findall(target))
        if (
            method == "DELETE"
            and path.startswith(LOCK_COLLECTIONS)
            and ids
            and ids <= self.lock_ids
        ):
            return None
        return "sent while no change of the plan runs, and not to a lock record"


def _lock_record_ids(answer: str) -> Iterator[str]:
    """The ids of the lock records in an answer."""
    try:
        value = json.loads(answer)
    except ValueError:
        return
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("id"), str) and is_lock_record(item):
                yield item["id"]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def named_ids(change: Change, resolve: Resolve) -> set[str]:
    """The ids a change names: its own, and those of the addresses it names as they resolve
    when it starts (what it links, the agent of a link or that it belongs to)."""
    ids = {str(getattr(change, "resource_id", "") or "")} - {""}
    addresses: list[Address] = [change.address]
    match change:
        case Delete():
            ids.update(change.owned_children)
        case Attach() | Detach():
            addresses.append(change.agent)
        case Create():
            addresses.extend(change.links)
    addresses += [a.owner for a in addresses if a.owner is not None]
    addresses += [a.provider for a in addresses]
    for address in addresses:
        # One not made yet has no id: it comes in the answers to the change's own requests.
        with suppress(LettaApplyError):
            ids.add(resolve(address))
    return ids


def install(ledger: Ledger, record: Callable[[dict[str, Any]], None]) -> None:
    """Record this process's requests into `ledger`: the plan the apply runs, the change each
    thread carries out, and every request the HTTP client sends."""
    from reconciler import adopt as adopting
    from reconciler import workflow
    from reconciler.apply import executor

    apply_plan, execute, send = workflow.apply_plan, executor.execute, httpx.Client.send
    together, finish, carry_out = executor.execute_together, executor.finish, adopting.carry_out

    def recorded_apply(api: Any, plan: Plan, *args: Any, **kwargs: Any) -> Any:
        ledger.applying(plan)
        return apply_plan(api, plan, *args, **kwargs)

    def recorded_execute(api: Any, stack: str, change: Change, resolve: Resolve) -> Any:
        with ledger.running(change, named_ids(change, resolve)):
            return execute(api, stack, change, resolve)

    def recorded_together(api: Any, stack: str, changes: list[Any], resolve: Resolve) -> Any:
        named = set().union(*(named_ids(change, resolve) for change in changes))
        with ledger.running(changes, named):
            return together(api, stack, changes, resolve)

    def recorded_finish(api: Any, waiting: Sequence[tuple[Change, Any]]) -> Any:
        with ledger.finishing([change for change, _pending in waiting]):
            return finish(api, waiting)

    def recorded_send(client: httpx.Client, request: httpx.Request, **kwargs: Any) -> Any:
        target = request.url.raw_path.decode("ascii", "replace")
        request.read()  # a file upload's multipart body is a stream until read
        verdict = ledger.sent(request.method, target, request.content.decode("utf-8", "replace"))
        if verdict is not None:
            record(verdict)
        response = send(client, request, **kwargs)
        try:
            answer = response.read().decode("utf-8", "replace")
        except httpx.HTTPError:
            answer = ""
        ledger.answered(target, answer, refused=verdict is not None and not verdict["ok"])
        return response

    def adopt_carry_out(api: Any, stack: str, change: Change, resolve: Resolve) -> Any:
        ledger.applying(Plan(stack, "", changes=(change,)))
        return carry_out(api, stack, change, resolve)

    workflow.apply_plan = recorded_apply  # type: ignore[assignment]
    executor.execute = recorded_execute
    executor.execute_together = recorded_together
    executor.finish = recorded_finish
    adopting.carry_out = adopt_carry_out
    httpx.Client.send = recorded_send  # type: ignore[method-assign]


def appender(path: Path) -> Callable[[dict[str, Any]], None]:
    """Append each verdict to `path` as a line of JSON (several runs may share the file)."""
    guard = threading.Lock()

    def append(verdict: dict[str, Any]) -> None:
        line = json.dumps(verdict, sort_keys=True) + "\n"
        with guard, path.open("a", encoding="utf-8") as sink:
            sink.write(line)

    return append


def verdicts(path: Path) -> list[dict[str, Any]]:
    """The verdicts a test's runs appended to `path` (none if no run wrote)."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def main() -> None:
    where = os.environ.get(LEDGER_ENV)
    if where:
        install(Ledger(), appender(Path(where)))
    from reconciler.cli import main as letta_apply

    letta_apply()


if __name__ == "__main__":
    main()
