"""Applying a plan: dependency order, bounded parallelism, per-resource results, a stack lock."""

from reconciler.apply.checks import check_guards, check_not_redacted, check_owned
from reconciler.apply.executor import apply_plan
from reconciler.apply.lock import StackLock
from reconciler.apply.results import ApplyResult

__all__ = [
    "ApplyResult",
    "StackLock",
    "apply_plan",
    "check_guards",
    "check_not_redacted",
    "check_owned",
]
