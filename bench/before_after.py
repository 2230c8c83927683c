"""Loading and start-up of two checkouts in alternating rounds: `python -m bench.before_after
--before DIR [--after DIR] [--rounds N]`.

Each round runs, for each checkout (the order alternating from round to round), in a fresh
interpreter with the checkout first on PYTHONPATH: reading and checking 100,000 users from a
CSV and from JSON Lines (`collect_users`, CPU time), `load_desired` of the CSV stack (CPU),
`letta-apply validate examples/mixed` against `python -c 'import click, yaml'` (3 pairs, the
median ratio), and the wall-clock import of the plan path. Prints the medians over rounds.
Both checkouts must have `reconciler.manifest._read` and `merge.collect_users` (e2929a2 on).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import goals

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
    args = parser.parse_args(argv)
    trees = {"before": args.before, "after": args.after}
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory(prefix="bench-before-after-") as tmp:
        stacks = {fmt: goals.users_stack(Path(tmp) / fmt, USERS, fmt) for fmt in ("csv", "jsonl")}
        for number in range(args.rounds):
            for name in list(trees) if number % 2 == 0 else list(reversed(trees)):
                rounds[name].append(round_of(trees[name], stacks))
    medians = {
        name: {key: round(statistics.median(r[key] for r in rows), 3) for key in rows[0]}
        for name, rows in rounds.items()
    }
    print(json.dumps(medians, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
