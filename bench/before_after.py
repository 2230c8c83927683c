"""Loading and start-up of two checkouts in alternating rounds: `python -m bench.before_after
--before DIR [--after DIR] [--rounds N] [--url URL --plan STACK_DIR ...]`.

Each round runs, for each checkout (the order alternating from round to round), in a fresh
interpreter with the checkout first on PYTHONPATH: reading and checking 100,000 users from a
CSV and from JSON Lines (`collect_users`, CPU time), `load_desired` of the CSV stack (CPU),
`letta-apply validate examples/mixed` against `python -c 'import click, yaml'` (3 pairs, the
median ratio), and the wall-clock import of the plan path. With `--url` and `--plan` (a stack
already applied on that server, repeatable), also a whole no-op `letta-apply plan` process of
each stack beside `bench/listing.py` of the same pages, one right after the other (the order
alternating), and the plan's ratio to that listing. Prints the medians over rounds. Both
checkouts must have `reconciler.manifest._read` and `merge.collect_users` (e2929a2 on).
"""

from __future__ import annotations

import argparse
import compileall
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench import goals, startup
from reconciler.kinds.agent import INCLUDES as AGENT_INCLUDES

REPO = Path(__file__).resolve().parents[1]
USERS = 100_000
LOAD = r"""
import gc, sys, time
from pathlib import Path
from reconciler.manifest import _read, load_desired
from reconciler.manifest.files import find_root
from reconciler.manifest.merge import merge, collect_users
from reconciler.manifest.problems import Problems
p = Problems(); paths = [Path(sys.argv[1])]
root = find_root(paths, None, p); docs, _ = _read(paths, root, p); stack = merge(docs, root, p)
gc.collect(); began = time.process_time(); users = collect_users(stack, p)
users_s = time.process_time() - began
assert not p.items and len(users) == int(sys.argv[2])
del users, stack, docs; gc.collect()
began = time.process_time(); load_desired(paths); print(users_s, time.process_time() - began)
"""
IMPORTS = (
    "import time; t = time.perf_counter(); import reconciler.cli, reconciler.manifest, "
    "reconciler.workflow, reconciler.render; print(time.perf_counter() - t)"
)


def _run(argv: list[str], tree: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = {"PYTHONPATH": tree, "PATH": "/usr/bin:/bin"}
    began = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd="/", check=True)
    return time.perf_counter() - began, done


def _plan(tree: str, url: str, folder: Path) -> float:
    """Seconds of a no-op `letta-apply plan` of `folder` run from `tree`."""
    env = {"PYTHONPATH": tree, "PATH": "/usr/bin:/bin", "LETTA_BASE_URL": url}
    command = [sys.executable, "-m", "reconciler", "plan", str(folder), "--detailed-exitcode"]
    began = time.perf_counter()
    subprocess.run(command, env=env, capture_output=True, text=True, cwd="/", check=True)
    return time.perf_counter() - began


def _listing(url: str, folder: Path) -> float:
    """Seconds of `bench/listing.py` reading the pages a plan of the stack in `folder` reads."""
    stack = yaml.safe_load((folder / "stack.yaml").read_text())["stack"]
    tag, marker = f"letta-apply:{stack}", f"[letta-apply:{stack}/"
    command = [sys.executable, str(startup.LISTING), url, tag, marker, *AGENT_INCLUDES]
    began = time.perf_counter()
    subprocess.run(command, capture_output=True, text=True, check=True)
    return time.perf_counter() - began


def _paired(tree: str, url: str, folder: Path, plan_first: bool) -> dict[str, float]:
    """The plan from `tree` and the listing, one right after the other."""
    if plan_first:
        seconds, listing = _plan(tree, url, folder), _listing(url, folder)
    else:
        listing, seconds = _listing(url, folder), _plan(tree, url, folder)
    return {
        f"plan {folder.name} s": seconds,
        f"listing {folder.name} s": listing,
        f"plan {folder.name} / listing": seconds / listing,
    }


def round_of(tree: str, stacks: dict[str, Path]) -> dict[str, float]:
    figures: dict[str, float] = {}
    for fmt, folder in stacks.items():
        _, done = _run([sys.executable, "-c", LOAD, str(folder), str(USERS)], tree)
        users_s, desired_s = map(float, done.stdout.split())
        figures[f"{fmt} us/user"] = users_s / USERS * 1e6
        if fmt == "csv":
            figures["load_desired csv us/user"] = desired_s / USERS * 1e6
    ratios = []
    for _ in range(3):
        validate = [sys.executable, "-m", "reconciler", "validate", f"{tree}/examples/mixed"]
        ours, _ = _run(validate, tree)
        bare, _ = _run([sys.executable, "-c", "import click, yaml"], tree)
        ratios.append(ours / bare)
    figures["validate ratio"] = statistics.median(ratios)
    _, done = _run([sys.executable, "-c", IMPORTS], tree)
    figures["plan-path imports s"] = float(done.stdout)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.before_after", description=__doc__)
    parser.add_argument("--before", required=True, help="a checkout of the earlier commit")
    parser.add_argument("--after", default=str(REPO), help="default: this checkout")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--url", help="a Letta server holding the --plan stacks")
    parser.add_argument(
        "--plan", action="append", default=[], type=Path, help="an applied stack's folder"
    )
    parser.add_argument(
        "--plans-only", action="store_true", help="only the plans (no loading, no start-up)"
    )
    args = parser.parse_args(argv)
    trees = {"before": args.before, "after": args.after}
    for tree in trees.values():
        compileall.compile_dir(Path(tree) / "reconciler", quiet=1)
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory(prefix="bench-before-after-") as tmp:
        stacks = (
            {}
            if args.plans_only
            else {fmt: goals.users_stack(Path(tmp) / fmt, USERS, fmt) for fmt in ("csv", "jsonl")}
        )
        for number in range(args.rounds):
            for name in list(trees) if number % 2 == 0 else list(reversed(trees)):
                figures = round_of(trees[name], stacks) if stacks else {}
                for folder in args.plan:
                    figures.update(_paired(trees[name], args.url, folder, number % 2 == 0))
                rounds[name].append(figures)
    medians = {
        name: {key: round(statistics.median(r[key] for r in rows), 3) for key in rows[0]}
        for name, rows in rounds.items()
    }
    print(json.dumps(medians, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
