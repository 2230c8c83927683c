"""The whole process at the seeds' scale: a no-op `letta-apply plan` of a stack of shared
users, its users in a CSV, beside the plain listing of the same pages.

The stack is shaped as the seeds' shared patterns at that size: one shared agent, a
conversation on it for ten users in eleven and an identity attached to it for the eleventh
(5,500 users: 5,000 conversations and 500 identities). It is written as manifests
(`stack.yaml` and `users.csv`) and seeded once by letta-apply itself (an apply until the plan
is empty, so a stack an earlier run kept with the same name is reused as it is). Then, in
alternating rounds, a `letta-apply plan --detailed-exitcode` process and `bench/listing.py`
(httpx, no SDK, the independent listings at once as the plan reads them) are timed; the
figure is the median of the rounds' ratios.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from bench import startup
from bench.scale_stacks import ScaleStack, write_stack
from bench.writes import converge
from reconciler import ownership
from reconciler.kinds.agent import INCLUDES as AGENT_INCLUDES
from reconciler.manifest import load_desired

IDENTITY_EVERY = 11
"""Every 11th user an identity: 500 identities and 5,000 conversations in 5,500 users."""
TARGET = 1.2
"""The plan's time over the listing's, at most."""


def shape(stack: str, users: int) -> ScaleStack:
    """The stack of `users` shared users on one agent (user ids start with the stack's name)."""
    return ScaleStack(stack, stack, users, agents=1, identity_every=IDENTITY_EVERY)


def seed(url: str, folder: Path, spec: ScaleStack, parallelism: int) -> int:
    """Write the stack's manifests into `folder` and apply them until nothing is left to do;
    the changes the last plan still had (0 when seeded)."""
    write_stack(folder, spec)
    return converge(url, load_desired([folder]), parallelism)


def measure(url: str, folder: Path, spec: ScaleStack, rounds: int) -> dict[str, Any]:
    """The plan process and the listing in `rounds` alternating rounds."""
    startup.compile_letta_apply()
    command = (str(Path(sys.executable).with_name("letta-apply")),)
    plan = (*command, "plan", str(folder), "--detailed-exitcode")
    listing = (
        sys.executable,
        str(startup.LISTING),
        url,
        ownership.stack_tag(spec.stack),
        ownership.conversation_marker_prefix(spec.stack),
        *AGENT_INCLUDES,
    )
    env = {**os.environ, "LETTA_BASE_URL": url}
    pair = startup.paired(plan, listing, rounds, env)
    conversations = sum(1 for n in range(spec.users) if not _identity(n))
    return {
        "users": spec.users,
        "conversations": conversations,
        "identities": spec.users - conversations,
        "target": TARGET,
        **pair.to_json(),
    }


def _identity(n: int) -> bool:
    return n % IDENTITY_EVERY == IDENTITY_EVERY - 1


def render(rows: list[dict[str, Any]]) -> list[str]:
    """Each size's plan beside its listing and the target."""
    head = (
        f"{'WHOLE PROCESS, SHARED USERS FROM A CSV':<46}{'plan':>9}  {'JSON listing':>12}"
        f"{'ratio':>8}  target"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        name = (
            f"{row['users']:,} users ({row['conversations']:,} conv., "
            f"{row['identities']:,} identities)"
        )
        status = "met" if within(row, row["target"]) else "NOT met"
        lines.append(
            f"{name:<46}{row['seconds']:>8.2f}s  {row['reference_seconds']:>11.2f}s"
            f"{row['ratio']:>7.2f}x  <= {row['target']:g}x {status}"
        )
        lines.extend(spread(row))
        if row.get("seed_left"):
            lines.append(f"  warning: {row['seed_left']} change(s) still planned after seeding")
    lines.append(f"  median of the ratios of {len(rows[0]['rounds'])} alternating rounds")
    return lines


def within(pair: dict[str, Any], target: float) -> bool:
    """Whether a plan meets its target: by the median of the rounds' ratios and by the
    fastest rounds' ratio both. The development server alternates between slow and fast
    answers from one process to the next, so each side of a pair is slow about half the
    time and the median of the ratios can land anywhere between the two modes; the fastest
    rounds compare the two in the fast mode."""
    return bool(pair["ratio"] <= target and pair.get("fastest_ratio", pair["ratio"]) <= target)


def spread(pair: dict[str, Any]) -> list[str]:
    """How far the rounds' ratios spread, and the fastest rounds' ratio (`Pair`)."""
    ratios = [ours / theirs for ours, theirs in pair.get("rounds", ())]
    if not ratios:
        return []
    fastest = pair.get("fastest_ratio")
    fastest = f"; the fastest rounds' {fastest:.2f}x" if fastest is not None else ""
    return [f"  the rounds' ratios: {min(ratios):.2f}x to {max(ratios):.2f}x{fastest}"]
