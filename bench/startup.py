"""Whole-process benchmarks: what a pre-commit hook or a CI step waits for, start-up included.

Each command is timed next to a reference in the same run:
- `letta-apply --help` and `letta-apply validate` of a small stack (examples/mixed, offline)
  against a bare `python -c 'import click, yaml'`, the least any click and YAML tool starts with;
- a no-op `letta-apply plan` of an applied dedicated stack against `bench/listing.py`, the best
  a plain script can do (httpx, the same pages, the independent listings at once), with
  `bench/listing_sdk.py` (what users write with the SDK) timed in the same rounds beside it.

The two sides of a pair run back to back, in alternating order, `reps` times; a pair's ratio
is taken within the pair, so load that comes and goes on the machine touches both sides.
Reported are the median times and the median of the pairs' ratios.
"""

from __future__ import annotations

import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import reconciler
from bench.stacks import StackShape, dedicated_manifests
from reconciler import ownership
from reconciler.exitcodes import ExitCode
from reconciler.kinds.agent import INCLUDES as AGENT_INCLUDES
from reconciler.manifest import load_desired

REPO = Path(__file__).resolve().parents[1]
SMALL_STACK = REPO / "examples" / "mixed"
LISTING = Path(__file__).with_name("listing.py")
LISTING_SDK = Path(__file__).with_name("listing_sdk.py")
BARE = (sys.executable, "-c", "import click, yaml")


@dataclass(frozen=True)
class Pair:
    """A command and its reference, timed in interleaved pairs."""

    seconds: float
    reference_seconds: float
    ratio: float
    rounds: tuple[tuple[float, float], ...] = ()
    """Each pair's times: the command's, the reference's."""

    @property
    def fastest_ratio(self) -> float:
        """The command's fastest round over the reference's: what each takes when the server
        does not pause (its own collector, another client), which a median of pairs on a
        noisy server only approaches with many rounds."""
        if not self.rounds:
            return self.ratio
        return min(a for a, _ in self.rounds) / min(b for _, b in self.rounds)

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 4),
            "reference_seconds": round(self.reference_seconds, 4),
            "ratio": round(self.ratio, 3),
            "fastest_ratio": round(self.fastest_ratio, 3),
            "rounds": [[round(a, 4), round(b, 4)] for a, b in self.rounds],
        }


def startup_benchmarks(url: str, stack: str, shape: StackShape, reps: int) -> dict[str, Any]:
    """`--help`, `validate` and a no-op `plan` of `stack`, each beside its reference."""
    compile_letta_apply()
    command = (str(Path(sys.executable).with_name("letta-apply")),)
    server = {**os.environ, "LETTA_BASE_URL": url}
    tag = ownership.stack_tag(stack)
    marker = ownership.conversation_marker_prefix(stack)
    listing = (sys.executable, str(LISTING), url, tag, marker, *AGENT_INCLUDES)
    listing_sdk = (sys.executable, str(LISTING_SDK), url, tag, *AGENT_INCLUDES)
    with tempfile.TemporaryDirectory(prefix="letta-apply-bench-") as folder:
        manifests = _manifests(Path(folder), stack, shape)
        plan = (*command, "plan", str(manifests), "--detailed-exitcode")
        return {
            "reps": reps,
            "help": paired((*command, "--help"), BARE, reps).to_json(),
            "validate": paired((*command, "validate", str(SMALL_STACK)), BARE, reps).to_json(),
            **planned(plan, listing, listing_sdk, shape.size, reps, server),
        }


def compile_letta_apply() -> None:
    """Bytecode for letta-apply, as an installed package has and the SDK it is compared with.

    With PYTHONDONTWRITEBYTECODE set, a source checkout would otherwise compile every module
    on every run and the figures would measure the compiler.
    """
    compileall.compile_dir(Path(reconciler.__file__).parent, quiet=1)


def _manifests(folder: Path, stack: str, shape: StackShape) -> Path:
    """The stack as manifests; checked to declare exactly what the benchmark seeded."""
    written = dedicated_manifests(folder, stack, shape.size)
    if load_desired([written]) != shape.build(stack):
        raise RuntimeError(f"the manifests written for {stack} do not declare the seeded stack")
    return written


def paired(
    command: Sequence[str],
    reference: Sequence[str],
    reps: int,
    env: Mapping[str, str] | None = None,
) -> Pair:
    """Time `command` and `reference` in `reps` interleaved pairs, after one warm-up each."""
    _timed(command, env)
    _timed(reference, env)
    ours: list[float] = []
    theirs: list[float] = []
    for rep in range(max(1, reps)):
        if rep % 2:
            theirs.append(_timed(reference, env))
            ours.append(_timed(command, env))
        else:
            ours.append(_timed(command, env))
            theirs.append(_timed(reference, env))
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    rounds = tuple(zip(ours, theirs, strict=True))
    return Pair(
        statistics.median(ours), statistics.median(theirs), statistics.median(ratios), rounds
    )


def planned(
    plan: Sequence[str],
    listing: Sequence[str],
    listing_sdk: Sequence[str],
    users: int,
    reps: int,
    env: Mapping[str, str],
) -> dict[str, Any]:
    """The plan beside both listings, the three timed in each round (the order rotating)."""
    commands = (plan, listing, listing_sdk)
    for command in commands:
        _timed(command, env)
    times: list[list[float]] = [[], [], []]
    for rep in range(max(1, reps)):
        for index in (rep % 3, (rep + 1) % 3, (rep + 2) % 3):
            times[index].append(_timed(commands[index], env))
    ours, json_, sdk = times

    def pair(theirs: list[float]) -> dict[str, Any]:
        ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
        rounds = tuple(zip(ours, theirs, strict=True))
        median = statistics.median
        return Pair(median(ours), median(theirs), median(ratios), rounds).to_json()

    return {"plan": {"users": users, **pair(json_)}, "plan_sdk": {"users": users, **pair(sdk)}}


def _timed(command: Sequence[str], env: Mapping[str, str] | None) -> float:
    """Wall-clock seconds of one run; a run that fails (or a plan with changes) stops it."""
    began = time.perf_counter()
    done = subprocess.run(
        command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600
    )
    seconds = time.perf_counter() - began
    if done.returncode != ExitCode.OK:
        raise RuntimeError(
            f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()[-500:]}"
        )
    return seconds
