"""The exit codes of `letta-apply`, one name per meaning (see README and docs/design.md)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What a finished command tells the shell or the CI job that ran it."""

    OK = 0
    """Success; with `plan --detailed-exitcode`, the server matches the manifests."""
    ERROR = 1
    """Bad input or options, a saved plan refused or unreadable, a server unreachable or not
    Letta, an unsafe plan not allowed, the lock held, a declined prompt, an unforeseen failure."""
    CHANGES = 2
    """`plan --detailed-exitcode` only: there are changes to apply, or blocked resources."""
    VIOLATIONS = 2
    """`audit` only: the server breaks one of the isolation rules."""
    NOT_CONVERGED = 3
    """Applied, but some changes failed or declared resources remain blocked."""
    INTERRUPTED = 130
    """Stopped by Ctrl-C (128 + SIGINT, as shells report it); during an apply, what was done
    and what was not is printed, and a re-run converges."""
