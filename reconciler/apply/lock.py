"""A lock on the server, so two applies of one stack never run at once.

CI runners share no disk, so the lock lives on the server as a record of one of two kinds
(`reconciler.kinds.lock`): an identity, or a memory block on a server without identities. The
kind is chosen once per lock by probing the server, and one protocol serves both:

- create this run's record (the server refuses a second lock identity: that is a lost race);
- list the stack's records: proceed only if this run's is the only one, else withdraw it.
  Whichever of two racing creates lands last sees both, so at most one run proceeds. So
  that two runs started together do not both withdraw, the run whose record is listed first
  (the oldest) waits briefly for the others to withdraw theirs;
- a record whose holder ran on this host and is no longer alive (a killed run) is taken
  over; any other stale record is removed with `letta-apply unlock`.

An interrupted acquire (Ctrl-C) removes whatever record of this run it made, and leaving the
`with` block removes the lock, whatever ended it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from reconciler.client import LettaApi
from reconciler.errors import LettaApplyError, LockError, ServerError
from reconciler.kinds.lock import LockRecord, RecordKind, kinds_on

TAKEOVER_SETTLE_SECONDS = 10.0
"""After taking over a dead run's lock: longer than a create takes on the server."""
CONTEST_ROUNDS = 6
CONTEST_PAUSE = 0.5
"""How long the oldest of contending records waits for the others to be withdrawn: longer
than a create and a listing take, shorter than a person notices."""
RETRY_PAUSE = 2.0
"""Between attempts while waiting for a held lock (`--lock-timeout`)."""


class StackLock:
    """Context manager holding the stack's lock; waits up to `timeout` seconds for it.

    `kind` is the kind of record to keep; by default the server is asked once, on entry.
    """

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
        kind: RecordKind[Any] | None = None,
    ) -> None:
        self._api = api
        self._stack = stack
        self._timeout = timeout
        self._notify = notify
        self._settle = settle
        self._clock = clock
        self._sleep = sleep
        self._kind = kind
        self._token = uuid.uuid4().hex
        self._id: str | None = None

    @property
    def kind(self) -> RecordKind[Any]:
        """The kind of record this lock keeps, probed on first use and kept for the run."""
        if self._kind is None:
            self._kind = kinds_on(self._api, self._stack)[0]
        return self._kind

    def __enter__(self) -> StackLock:
        try:
            self._wait()
        except BaseException as exc:
            self._withdraw(exc)
            raise
        return self

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
            self.kind.delete(self._api, self._stack, lock_id)
        except LettaApplyError as failure:
            advice = (
                f"the stack's lock ({lock_id}) could not be released ({failure}); "
                "run `letta-apply unlock` once the server answers again"
            )
            if exc is None:
                raise LockError(advice) from failure
            # The run's own error says what was and was not done: keep it, add this to it.
            exc.add_note(advice)

    def _wait(self) -> None:
        deadline = self._clock() + self._timeout
        while True:
            holder = self._try_acquire()
            if holder is None:
                return
            if self._clock() >= deadline:
                raise LockError(_held_message(self._stack, holder))
            self._sleep(RETRY_PAUSE)

    def _withdraw(self, exc: BaseException) -> None:
        """Leave no record of this run behind when acquiring was cut short: the one it holds
        and, after an interrupt, one whose create was sent but never answered."""
        if self._id is None and isinstance(exc, LettaApplyError):
            return
        with contextlib.suppress(LettaApplyError):
            mine = {r.id for r in self._records() if self._is_mine(r)}
            for record_id in mine | ({self._id} if self._id else set()):
                self.kind.delete(self._api, self._stack, record_id)
        self._id = None

    def _try_acquire(self) -> LockRecord | None:
        """Take the lock; return the record of whoever else has it (None: taken)."""
        self._id = self._create()
        others = self._contest()
        if not others:
            return None if self._id is not None else LockRecord("")  # refused, then released
        if self._id is not None:
            mine, self._id = self._id, None
            self.kind.delete(self._api, self._stack, mine)
        if all(_abandoned(r) for r in others):
            return self._take_over(others)
        return others[0]

    def _create(self) -> str | None:
        """This run's record; None when the server refused it, holding one already (409)."""
        try:
            return self.kind.create(self._api, self._stack, self._holder()).id
        except ServerError as exc:
            if exc.status != 409:
                raise
            return None

    def _contest(self) -> list[LockRecord]:
        """The other runs' records, once the listing settled: it shows this run's record, and
        while that is listed first, the younger records' runs have had a moment to withdraw
        them (this run holds its own meanwhile)."""
        records: list[LockRecord] = []
        for round_ in range(CONTEST_ROUNDS):
            records = self._records()
            others = [r for r in records if not self._is_mine(r)]
            if not self._unsettled(records, others):
                return others
            if round_ + 1 < CONTEST_ROUNDS:
                self._sleep(CONTEST_PAUSE)
        if all(r.id != self._id for r in records):
            raise LockError(
                f"the server does not list the lock {self.kind.noun} just made ({self._id}), "
                "so the lock cannot be checked; nothing was applied"
            )
        return others

    def _is_mine(self, record: LockRecord) -> bool:
        return record.id == self._id or record.token == self._token

    def _unsettled(self, records: list[LockRecord], others: list[LockRecord]) -> bool:
        """Whether to list again: this run's record is not listed yet (a listing lagging
        behind the create), or it is listed first and live contenders may still withdraw."""
        if self._id is None:
            return False
        listed = [r.id for r in records]
        if self._id not in listed:
            return True
        return listed[0] == self._id and not all(_abandoned(r) for r in others)

    def _holder(self) -> dict[str, str]:
        started = datetime.now(UTC).isoformat(timespec="seconds")
        holder = f"{socket.gethostname()}:{os.getpid()}"
        return {"token": self._token, "holder": holder, "started_at": started}

    def _records(self) -> list[LockRecord]:
        return self.kind.records(self._api, self._stack)

    def _take_over(self, holders: list[LockRecord]) -> LockRecord | None:
        """Replace the lock of a run that died on this host, then let its last requests land.

        Creates the dead run had in flight still complete on the server after it was killed;
        planning before they land would miss them and make duplicates.
        """
        for holder in holders:
            self.kind.delete(self._api, self._stack, holder.id)
        outcome = self._try_acquire()
        if outcome is None:
            dead = holders[0].holder
            self._notify(
                f"Took over the lock of {dead.get('holder')} (since {dead.get('started_at')}), "
                f"which is no longer running; waiting {self._settle:g} s for its last requests "
                "to reach the server."
            )
            self._sleep(self._settle)
        return outcome


def _abandoned(record: LockRecord) -> bool:
    """True when the lock's holder ran on this host and that process is gone (e.g. killed)."""
    host, _, pid = str(record.holder.get("holder", "")).rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _held_message(stack: str, record: LockRecord) -> str:
    who = record.holder.get("holder", "another apply")
    since = record.holder.get("started_at", "an unknown time")
    return (
        f"stack {stack!r} is locked by {who} since {since}; another apply is running. "
        f"Wait for it (--lock-timeout SECONDS), or if it died, run `letta-apply unlock` "
        f"for this stack."
    )


def force_unlock(api: LettaApi, stack: str) -> int:
    """Remove the stack's lock whoever holds it, of every kind the server can keep; return
    how many lock records were removed."""
    removed = 0
    for kind in kinds_on(api, stack):
        for record in kind.records(api, stack):
            kind.delete(api, stack, record.id)
            removed += 1
    return removed
