"""Command-line options of `python -m bench`, with `BENCH_SIZES` as the environment default."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

DEFAULT_SIZES = (100, 1000)
FULL_SIZE = 10_000
PARTS = ("writes", "reads", "startup", "process", "goals", "foreign", "datasources")
DEFAULT_PARTS = ("writes", "reads", "startup", "process", "goals", "datasources")
PROCESS_SIZES = (5500,)
PROCESS_FULL_SIZE = 20_000


@dataclass(frozen=True)
class Options:
    """What to run. `sizes` are dedicated-user counts for the no-op plan.

    `parts`: writes (apply from empty, update), reads (no-op plans in process), startup
    (whole `letta-apply` processes beside their references, see `bench.startup`), process
    (a whole no-op `letta-apply plan` of shared users from a CSV beside a plain listing,
    `process_sizes` users, see `bench.process`), goals
    (loading 100,000 users, the planner at 1,000,000, plan memory at 100,000 on the replay
    server; no seeded server needed, see `bench.goals`) and, only
    when asked for, foreign (a plan before and after the server fills up with other
    people's identities and agents, see `bench.foreign`), datasources (a folder of files
    and an archive of passages, see `bench.datasources`).
    """

    parts: tuple[str, ...]
    sizes: tuple[int, ...]
    apply_size: int
    mixed_size: int
    tools_size: int
    parallelism: int
    reps: int
    lookup_all_up_to: int
    lookup_sample: int
    startup_reps: int
    keep: bool
    foreign_users: int = 1000
    foreign_identities: int = 20_000
    foreign_agents: int = 5000
    ds_files: int = 1000
    ds_passages: int = 5000
    ds_rounds: int = 1
    process_sizes: tuple[int, ...] = PROCESS_SIZES
    process_rounds: int = 15
    prefix: str | None = None


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark letta-apply against a real Letta server (LETTA_BASE_URL, "
        "or a throwaway local one).",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=PARTS,
        help="run only this part (repeatable; default: writes, reads, startup, process, goals, "
        "datasources): writes, reads, startup, process, goals, foreign, datasources",
    )
    parser.add_argument(
        "--sizes",
        default=os.environ.get("BENCH_SIZES", ""),
        help="comma-separated dedicated-user counts for the no-op plan "
        "(default: BENCH_SIZES, else 100,1000)",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help=f"also {FULL_SIZE:,} dedicated users, and {PROCESS_FULL_SIZE:,} shared users in the "
        "process part (slow: seeding)",
    )
    parser.add_argument("--apply-size", type=int, default=1000, help="users for apply figures")
    parser.add_argument("--mixed-size", type=int, default=1000, help="users in the mixed stack")
    parser.add_argument(
        "--tools-size",
        type=int,
        default=1000,
        help="users in the stack whose agents have three tools each (0: none)",
    )
    parser.add_argument("--parallelism", type=int, default=8, help="requests in flight")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each read (median)")
    parser.add_argument(
        "--lookup-all-up-to",
        type=int,
        default=1000,
        help="per-user lookups are timed for every user up to this many users ...",
    )
    parser.add_argument(
        "--lookup-sample", type=int, default=200, help="... and for a sample this big beyond"
    )
    parser.add_argument(
        "--startup-reps",
        type=int,
        default=15,
        help="interleaved pairs of each whole-process start-up figure (median)",
    )
    parser.add_argument(
        "--foreign-users",
        type=int,
        default=1000,
        help="foreign: shared users of the stack (and a tenth as many identity users)",
    )
    parser.add_argument(
        "--foreign-identities", type=int, default=20_000, help="foreign: identities of others"
    )
    parser.add_argument(
        "--foreign-agents", type=int, default=5000, help="foreign: agents of others"
    )
    parser.add_argument(
        "--ds-files", type=int, default=1000, help="datasources: files in the folder"
    )
    parser.add_argument(
        "--ds-passages", type=int, default=5000, help="datasources: passages in the archive"
    )
    parser.add_argument(
        "--ds-rounds",
        type=int,
        default=1,
        help="datasources: rounds of raw uploads and letta-apply's (the order alternating; "
        "the ratio is their median)",
    )
    parser.add_argument(
        "--process-sizes",
        default="",
        help="process: comma-separated users of the shared stacks planned as whole processes "
        f"(default: {','.join(map(str, PROCESS_SIZES))}; --full adds {PROCESS_FULL_SIZE})",
    )
    parser.add_argument(
        "--process-rounds",
        type=int,
        default=15,
        help="process: alternating rounds of the plan and the listing (median ratio)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="leave the benchmark's stacks on the server"
    )
    parser.add_argument(
        "--prefix",
        help="name the run's stacks with this prefix (with --keep, a later run given the same "
        "prefix reuses the process part's stacks instead of seeding them again)",
    )
    args = parser.parse_args(argv)
    return Options(
        parts=tuple(part for part in PARTS if part in (args.only or DEFAULT_PARTS)),
        sizes=_sizes(args.sizes, DEFAULT_SIZES, FULL_SIZE if args.full else None),
        apply_size=args.apply_size,
        mixed_size=args.mixed_size,
        tools_size=args.tools_size,
        parallelism=args.parallelism,
        reps=args.reps,
        lookup_all_up_to=args.lookup_all_up_to,
        lookup_sample=args.lookup_sample,
        startup_reps=args.startup_reps,
        keep=args.keep,
        foreign_users=args.foreign_users,
        foreign_identities=args.foreign_identities,
        foreign_agents=args.foreign_agents,
        ds_files=args.ds_files,
        ds_passages=args.ds_passages,
        ds_rounds=max(1, args.ds_rounds),
        process_sizes=_sizes(
            args.process_sizes, PROCESS_SIZES, PROCESS_FULL_SIZE if args.full else None
        ),
        process_rounds=args.process_rounds,
        prefix=args.prefix,
    )


def _sizes(text: str, default: tuple[int, ...], full: int | None) -> tuple[int, ...]:
    """The sizes listed in `text` (else `default`), and `full` if given."""
    sizes = {int(part) for part in text.replace(" ", "").split(",") if part} or set(default)
    if full is not None:
        sizes.add(full)
    return tuple(sorted(sizes))
