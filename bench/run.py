"""The benchmark run: seed stacks, measure each figure next to its reference, clean up."""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import datasources, foreign, goals, process, reads, startup, writes
from bench.measure import new_api
from bench.options import Options
from bench.server import BenchServer
from bench.stacks import StackShape, user_ids
from reconciler import ownership
from reconciler.address import Kind
from reconciler.kinds.registry import declared

STARTUP_SHAPE = StackShape("dedicated", 1000)
"""The stack of the whole-process plan figure."""


@dataclass
class Run:
    """One benchmark run's stacks and results (a JSON-ready dict)."""

    options: Options
    server: BenchServer
    prefix: str = ""
    """The stacks' names start with it: `--prefix`, else a new one."""
    stacks: list[str] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.prefix = self.prefix or self.options.prefix or f"bench-{uuid.uuid4().hex[:6]}"

    def stack(self, label: str) -> str:
        name = f"{self.prefix}-{label}"
        self.stacks.append(name)
        return name


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def execute(run: Run) -> dict[str, Any]:
    """Every part asked for, in order; writes first (fresh stacks), then reads of settled stacks."""
    opts = run.options
    try:
        seeded: dict[str, StackShape] = {}
        if "writes" in opts.parts and opts.apply_size:
            seeded.update(_apply_benchmarks(run))
        if "reads" in opts.parts:
            seeded.update(_seed_for_reads(run, seeded))
            run.results["noop_plan"] = [
                _read_benchmarks(run, stack, shape) for stack, shape in seeded.items()
            ]
        if "startup" in opts.parts:
            run.results["startup"] = _startup_benchmarks(run, seeded)
        if "process" in opts.parts:
            run.results["process"] = [_process_benchmark(run, size) for size in opts.process_sizes]
        if "goals" in opts.parts:
            say("goals: loading 100,000 users, the planner at 1,000,000, plan memory at 100,000")
            run.results["goals"] = goals.run()
        if "foreign" in opts.parts:
            run.results["foreign"] = _foreign_benchmark(run)
        if "datasources" in opts.parts:
            run.results["datasources"] = _datasources_benchmark(run)
    finally:
        if not opts.keep:
            _clean_up(run)
    return run.results


def _seed_for_reads(run: Run, seeded: dict[str, StackShape]) -> dict[str, StackShape]:
    """The dedicated stacks of every size not seeded yet, and the mixed stack."""
    opts = run.options
    have = set(seeded.values())
    more = {
        _seed_dedicated(run, size): StackShape("dedicated", size)
        for size in opts.sizes
        if StackShape("dedicated", size) not in have
    }
    if opts.mixed_size:
        more[_seed_mixed(run)] = StackShape("mixed", opts.mixed_size)
    if opts.tools_size:
        more[_seed_tools(run)] = StackShape("tools", opts.tools_size)
    return more


def _startup_benchmarks(run: Run, seeded: dict[str, StackShape]) -> dict[str, Any]:
    """Whole processes; the plan runs on the run's 1,000-user dedicated stack, seeded if need be."""
    shape = STARTUP_SHAPE
    stack = next((s for s, seen in seeded.items() if seen == shape), None)
    if stack is None:
        stack = _seed_dedicated(run, shape.size)
    say(f"start-up: --help, validate, and plan of {shape.kind} {shape.size}, as processes ...")
    return startup.startup_benchmarks(run.server.url, stack, shape, run.options.startup_reps)


def _process_benchmark(run: Run, size: int) -> dict[str, Any]:
    """A stack of `size` shared users from a CSV, seeded (or reused), then the whole no-op
    plan and the plain listing in alternating rounds."""
    opts = run.options
    spec = process.shape(run.stack(f"p{size}"), size)
    with tempfile.TemporaryDirectory(prefix="letta-apply-bench-") as folder:
        stack_dir = Path(folder) / "stack"
        say(f"seeding {size:,} shared users from a CSV with letta-apply (or reusing them) ...")
        began = time.monotonic()
        left = process.seed(run.server.url, stack_dir, spec, opts.parallelism)
        seed_seconds = round(time.monotonic() - began, 1)
        say(f"  {seed_seconds} s; whole-process plan and listing, {opts.process_rounds} rounds ...")
        figures = process.measure(run.server.url, stack_dir, spec, opts.process_rounds)
    return {**figures, "seed_seconds": seed_seconds, "seed_left": left}


def _apply_benchmarks(run: Run) -> dict[str, StackShape]:
    """Raw creates, then apply from empty, then a 10% update, each on a fresh stack."""
    opts, url = run.options, run.server.url
    size = opts.apply_size
    raw_stack = run.stack(f"d{size}")
    shape = StackShape("dedicated", size)
    say(f"raw agents.create x{size} (parallelism {opts.parallelism}) ...")
    raw, raw_failed = writes.raw_creates(url, shape.build(raw_stack), opts.parallelism)
    _fill_up(url, shape.build(raw_stack), opts.parallelism)
    applied_stack = run.stack(f"a{size}")
    say(f"plan + apply from empty, {size} users ...")
    applied = writes.plan_and_apply(url, shape.build(applied_stack), opts.parallelism)
    run.results["apply"] = {
        "users": size,
        "parallelism": opts.parallelism,
        "letta_apply": applied.to_json(),
        "raw_create": {**raw.to_json(), "failed": raw_failed},
    }
    run.results["update"] = _update_tenth(run, applied_stack, shape)
    seeded = {raw_stack: shape} if size in opts.sizes else {}
    return seeded


def _update_tenth(run: Run, stack: str, shape: StackShape) -> dict[str, Any]:
    ids = user_ids(stack, shape.size)
    chosen = set(ids[::10])
    say(f"update: a tag on {len(chosen)} of {shape.size} users ...")
    figures = writes.update_some(
        run.server.url, shape.build(stack), chosen, run.options.parallelism
    )
    return {"users": shape.size, "changed_users": len(chosen), **figures.to_json()}


def _seed_dedicated(run: Run, size: int) -> str:
    """A stack of `size` dedicated users, made by raw creates; a stack of that name on the
    server already (`--prefix` of an earlier `--keep` run) is reused, not made again beside
    itself (raw creates would make each agent a second time)."""
    stack = run.stack(f"d{size}")
    desired = StackShape("dedicated", size).build(stack)
    if _has_agents(run.server.url, stack):
        say(f"reusing the {size} dedicated users of {stack} ...")
    else:
        say(f"seeding {size} dedicated users with raw creates ...")
        writes.raw_creates(run.server.url, desired, run.options.parallelism)
    _fill_up(run.server.url, desired, run.options.parallelism)
    return stack


def _has_agents(url: str, stack: str) -> bool:
    """Whether the server holds any agent of the stack (one listing of one agent)."""
    with new_api(url) as api:
        page = api.get("/v1/agents/", {"tags": [ownership.stack_tag(stack)], "limit": 1})
    return isinstance(page, list) and bool(page)


def _seed_mixed(run: Run) -> str:
    size = run.options.mixed_size
    stack = run.stack(f"m{size}")
    say(f"seeding a mixed stack of {size} users with letta-apply ...")
    left = writes.converge(
        run.server.url, StackShape("mixed", size).build(stack), run.options.parallelism
    )
    if left:
        say(f"  warning: {left} change(s) still planned after seeding")
    return stack


def _seed_tools(run: Run) -> str:
    size = run.options.tools_size
    stack = run.stack(f"t{size}")
    say(f"seeding {size} dedicated users with three tools each, with letta-apply ...")
    desired = StackShape("tools", size).build(stack)
    _fill_up(run.server.url, desired, run.options.parallelism)
    return stack


def _fill_up(url: str, desired: Any, parallelism: int) -> None:
    """Apply whatever a seed's failed creates left out, so the no-op plan is really no-op."""
    left = writes.converge(url, desired, parallelism)
    if left:
        say(f"  warning: {left} change(s) still planned after seeding {desired.stack}")


def _read_benchmarks(run: Run, stack: str, shape: StackShape) -> dict[str, Any]:
    opts, url = run.options, run.server.url
    desired = shape.build(stack)
    say(f"no-op plan of {shape.kind} {shape.size} ...")
    plan, changes = reads.noop_plan(url, desired, opts.parallelism, opts.reps)
    say("  scoped plan of one user ...")
    scoped = reads.scoped_plan(url, desired, opts.parallelism, opts.reps)
    floor = reads.raw_listing(url, desired, opts.reps)
    plain = reads.json_listing(url, desired, opts.reps)
    cap = shape.size if shape.size <= opts.lookup_all_up_to else opts.lookup_sample
    say(f"  per-user lookups ({min(cap, shape.size)} users) ...")
    lookups = reads.per_user_lookups(url, desired, cap)
    memory = reads.plan_memory(url, stack, shape, opts.parallelism)
    return {
        "stack": shape.kind,
        "users": shape.size,
        "resources": sum(
            1 for a in declared(desired) if a.owner is None or a.kind is Kind.CONVERSATION
        ),
        "plan": {**plan.to_json(), "changes": changes, **memory},
        "raw_listing": floor.to_json(),
        "json_listing": plain.to_json(),
        "per_user_lookups": lookups.to_json(),
        "scoped_plan": scoped.to_json(),
    }


def _foreign_benchmark(run: Run) -> dict[str, Any]:
    """The stack's no-op plan, then other people's identities and agents put on the server,
    then the same plan again."""
    opts, url = run.options, run.server.url
    shape = StackShape("shared", opts.foreign_users)
    stack = run.stack(f"f{shape.size}")
    desired = shape.build(stack)
    say(f"seeding {shape.size} shared and {len(desired.identities)} identity users ...")
    _fill_up(url, desired, opts.parallelism)
    say("  no-op plans before ...")
    before = foreign.measure_plans(url, desired, opts.parallelism, opts.reps)
    say(
        f"  creating {opts.foreign_identities:,} identities and {opts.foreign_agents:,} "
        "agents of others ..."
    )
    began = time.monotonic()
    made = foreign.seed(url, run.prefix, opts.foreign_identities, opts.foreign_agents)
    seed_seconds = time.monotonic() - began
    say("  no-op plans after ...")
    after = foreign.measure_plans(url, desired, opts.parallelism, opts.reps)
    if not opts.keep and not run.server.throwaway:
        say("  deleting the identities and agents of others ...")
        if failed := foreign.remove(url, made):
            say(f"  warning: {failed} delete(s) failed")
    return {
        "shared_users": shape.size,
        "identity_users": len(desired.identities),
        "foreign_identities": len(made.identities),
        "foreign_agents": len(made.agents),
        "foreign_failed": made.failed,
        "seed_seconds": round(seed_seconds, 1),
        "before": before,
        "after": after,
    }


def _datasources_benchmark(run: Run) -> dict[str, Any]:
    """A folder of files and an archive of passages: uploads, no-op plan, one file edited."""
    opts = run.options
    shape = datasources.Shape(opts.ds_files, opts.ds_passages, opts.ds_rounds)
    stack = run.stack(f"s{shape.files}")
    with tempfile.TemporaryDirectory(prefix="letta-apply-bench-") as folder:
        return datasources.benchmarks(
            run.server.url, Path(folder), stack, shape, opts.parallelism, opts.reps, say
        )


def _clean_up(run: Run) -> None:
    if run.server.throwaway:
        return  # the whole server goes away
    say(f"deleting the benchmark's stacks ({len(run.stacks)}) ...")
    failed = writes.clean_up(run.server.url, run.stacks, run.options.parallelism)
    if failed:
        say(f"  warning: {failed} delete(s) failed; stacks: {', '.join(run.stacks)}")
