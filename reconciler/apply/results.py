"""What applying a change came to: its result, and a change left pending (its request
answered, the server still at work) until its kind's `finish` ends it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reconciler.address import Address
from reconciler.errors import LettaApplyError, ServerError
from reconciler.kinds.common import Pending
from reconciler.plan.model import Change


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
        return None if self.failure is None else describe(self.failure, self.change.address)


Progress = Callable[[int, int, ApplyResult], None]


@dataclass(frozen=True)
class Left:
    """A change whose request was answered, left pending."""

    change: Change
    pending: Pending


def describe(exc: LettaApplyError, address: Address) -> str:
    """The error without the address (results are reported next to their address)."""
    if isinstance(exc, ServerError):
        where = f" (HTTP {exc.status})" if exc.status is not None else ""
        return f"{exc.server_message}{where}"
    return str(exc).removeprefix(f"{address}: ")
