"""A lock on the server, so two applies of one stack never run at once.

CI runners share no disk, so the lock lives on the server: an identity whose identifier_key is
`letta-apply-lock:<stack>`. The server refuses a second identity with the same key; if two
creates still race past that check, each side lists the lock identities after creating its own
and backs off unless it sees only its own, so at most one proceeds. A lock whose holder ran on
this host and is no longer alive (a killed run) is taken over; any other stale lock is removed
with `letta-apply unlock`.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType

from reconciler.client import LettaApi
from reconciler.errors import LettaApplyError, LockError, ServerError
from reconciler.kinds import lock
from reconciler.values import JSON

TAKEOVER_SETTLE_SECONDS = 10.0
"""After taking over a dead run's lock: longer than a create takes on the server."""


class StackLock:
    """Context manager holding the stack's lock; waits up to `timeout` seconds for it."""

    def __init__(
        self,
        api: LettaApi,
        stack: str,
        *,
        timeout: float = 0.0,
        notify: Callable[[str], None] = lambda _message: None,
        settle: float = TAKEOVER_SETTLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._api = api
        self._stack = stack
        self._timeout = timeout
        self._notify = notify
        self._settle = settle
        self._clock = clock
        self._sleep = sleep
        self._token = uuid.uuid4().hex
        self._id: str | None = None

    def __enter__(self) -> StackLock:
        deadline = self._clock() + self._timeout
        while True:
            holder = self._try_acquire()
            if holder is None:
                return self
            if self._clock() >= deadline:
                raise LockError(_held_message(self._stack, holder))
            self._sleep(2.0)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._id is None:
            return
        lock_id, self._id = self._id, None
        try:
            lock.delete(self._api, self._stack, lock_id)
        except LettaApplyError as failure:
            advice = (
                f"the stack's lock ({lock_id}) could not be released ({failure}); "
                "run `letta-apply unlock` once the server answers again"
            )
            if exc is None:
                raise LockError(advice) from failure
            # The run's own error says what was and was not done: keep it, add this to it.
            exc.add_note(advice)

    def _try_acquire(self) -> JSON | None:
        """Take the lock; return the current holder's identity if someone else has it."""
        try:
            created = lock.create(self._api, self._stack, self._holder(), self._find_mine)
        except ServerError as exc:
            if exc.status != 409:
                raise
            holders = self._holders()
            if holders and all(_abandoned(h) for h in holders):
                return self._take_over(holders)
            return holders[0] if holders else {}
        self._id = str(created["id"])
        holders = self._holders()
        if len(holders) > 1:
            lock.delete(self._api, self._stack, self._id)
            self._id = None
            return next(h for h in holders if _token(h) != self._token)
        return None

    def _holder(self) -> dict[str, str]:
        started = datetime.now(UTC).isoformat(timespec="seconds")
        holder = f"{socket.gethostname()}:{os.getpid()}"
        return {"token": self._token, "holder": holder, "started_at": started}

    def _holders(self) -> list[JSON]:
        return lock.records(self._api, self._stack)

    def _take_over(self, holders: list[JSON]) -> JSON | None:
        """Replace the lock of a run that died on this host, then let its last requests land.

        Creates the dead run had in flight still complete on the server after it was killed;
        planning before they land would miss them and make duplicates.
        """
        for holder in holders:
            lock.delete(self._api, self._stack, str(holder["id"]))
        outcome = self._try_acquire()
        if outcome is None:
            props = lock.holder(holders[0])
            self._notify(
                f"Took over the lock of {props.get('holder')} (since {props.get('started_at')}), "
                f"which is no longer running; waiting {self._settle:g} s for its last requests "
                "to reach the server."
            )
            self._sleep(self._settle)
        return outcome

    def _find_mine(self) -> JSON | None:
        return next((h for h in self._holders() if _token(h) == self._token), None)


def _abandoned(identity: JSON) -> bool:
    """True when the lock's holder ran on this host and that process is gone (e.g. killed)."""
    host, _, pid = str(lock.holder(identity).get("holder", "")).rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _token(identity: JSON) -> JSON:
    return lock.holder(identity).get("token")


def _held_message(stack: str, holder: JSON) -> str:
    props = lock.holder(holder)
    who = props.get("holder", "another apply")
    since = props.get("started_at", "an unknown time")
    return (
        f"stack {stack!r} is locked by {who} since {since}; another apply is running. "
        f"Wait for it (--lock-timeout SECONDS), or if it died, run `letta-apply unlock` "
        f"for this stack."
    )


def force_unlock(api: LettaApi, stack: str) -> int:
    """Remove the stack's lock whoever holds it; return how many lock records were removed."""
    records = lock.records(api, stack)
    for record in records:
        lock.delete(api, stack, str(record["id"]))
    return len(records)
