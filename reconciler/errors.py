"""The exception tree: one root, structured subclasses the CLI maps to messages and exit codes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class LettaApplyError(Exception):
    """Root of every error letta-apply reports to a user (exit code 1 unless stated).

    Messages hold values from manifests, saved plans and the server as they are; whoever
    prints one escapes each of its `lines` (`reconciler.text.shown`).
    """

    def lines(self) -> tuple[str, ...]:
        """The message as printed, one entry per line: a newline inside an entry came from
        a value and is escaped, not printed."""
        return (str(self),)


@dataclass(frozen=True, slots=True)
class Location:
    """Where in a manifest file something is: 1-based line and column."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the manifests, with the place a person should look."""

    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class ManifestError(LettaApplyError):
    """The manifests are invalid; carries every problem found, not just the first."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(sorted(problems, key=problem_order))
        super().__init__("\n".join(self.lines()))

    def lines(self) -> tuple[str, ...]:
        """One `file:line:col: message` per problem."""
        return tuple(str(p) for p in self.problems)


def problem_order(problem: Problem) -> tuple[str, int, int, str]:
    loc = problem.location
    return (loc.file, loc.line, loc.column, problem.message)


class ServerError(LettaApplyError):
    """The Letta server refused or failed a request; names the resource and the server's answer."""

    def __init__(self, address: str, message: str, status: int | None = None) -> None:
        self.address = address
        self.status = status
        self.server_message = message
        where = f" (HTTP {status})" if status is not None else ""
        super().__init__(f"{address}: {message}{where}")


class UnexpectedAnswer(ServerError):
    """The target answered, but not as a Letta server does (not JSON, or not its shape)."""


class ConnectionFailed(LettaApplyError):
    """The server could not be reached at all."""


class Cancelled(LettaApplyError):
    """A request not sent because the client was cancelled: its answer is no longer wanted
    (reads started early, for a run that stopped before using them). Never shown: whoever
    cancels reports why."""


class PreflightError(LettaApplyError):
    """The target server cannot take this stack (bad key, unknown model handles, ...)."""


class StalePlanError(LettaApplyError):
    """A saved plan no longer matches the server it was computed against."""


class LockError(LettaApplyError):
    """Another apply holds the stack's lock on the server."""


class UnsafePlanError(LettaApplyError):
    """The plan does something the current options do not allow (mass delete, destroy in CI)."""


class ApplyFailed(LettaApplyError):
    """Some changes failed; the rest were applied. Carries the per-resource failures."""

    def __init__(
        self,
        failures: Sequence[ServerError],
        applied: int,
        not_attempted: Sequence[str] = (),
        why_not: str = "",
    ) -> None:
        self.failures = tuple(failures)
        self.applied = applied
        self.not_attempted = tuple(not_attempted)
        head = f"{len(self.failures)} change(s) failed, {applied} applied"
        if self.not_attempted:
            head += f", {len(self.not_attempted)} not attempted ({why_not})"
        self._lines = (head + ":", *(f"  {f}" for f in self.failures))
        super().__init__("\n".join(self._lines))

    def lines(self) -> tuple[str, ...]:
        """The count, then one indented line per failed change with the server's answer."""
        return self._lines


class Interrupted(LettaApplyError):
    """The person running an apply asked it to stop (Ctrl-C): no change was started after
    that; `in_flight` changes were abandoned while running (asked twice), so they may or may
    not have been applied. Exit code 130, as for any program stopped by Ctrl-C."""

    def __init__(
        self,
        done: int,
        failures: Sequence[ServerError],
        in_flight: int,
        not_started: int,
        advice: str = "Run the same command again to converge.",
    ) -> None:
        self.done = done
        self.failures = tuple(failures)
        self.in_flight = in_flight
        self.not_started = not_started
        parts = [f"{done} change(s) done"]
        if self.failures:
            parts.append(f"{len(self.failures)} failed")
        if in_flight:
            parts.append(f"{in_flight} interrupted in flight (they may have been applied)")
        parts.append(f"{not_started} not started")
        head = f"Interrupted: {', '.join(parts)}. {advice}"
        self._lines = (head, *(f"  failed {f}" for f in self.failures))
        super().__init__("\n".join(self._lines))

    def advising(self, advice: str) -> Interrupted:
        """The same tally with other advice (e.g. for a saved plan, which is now stale)."""
        return Interrupted(self.done, self.failures, self.in_flight, self.not_started, advice)

    def lines(self) -> tuple[str, ...]:
        """The tally and the advice, then one indented line per failed change."""
        return self._lines


class Declined(LettaApplyError):
    """The person asked at the terminal did not approve the plan; nothing was applied."""


class NotConverged(LettaApplyError):
    """Everything possible was applied, but declared resources remain blocked (exit code 3)."""


class DevServerError(LettaApplyError):
    """The local development server could not be installed, started or stopped; `details`
    are lines shown after the message (e.g. the end of the server's log)."""

    def __init__(self, message: str, details: Sequence[str] = ()) -> None:
        self._lines = (message, *details)
        super().__init__("\n".join(self._lines))

    def lines(self) -> tuple[str, ...]:
        return self._lines
