"""Peak memory of whole `letta-apply` processes on large fleets: `python -m bench.memory`.

For each size it writes the `bench.fleet` manifests, starts `bench.replay` serving that fleet
(or uses a real server holding it, `--server URL`), and runs the real command as a child
process: `validate` (the interpreter, the libraries and the manifests), `plan` and
`plan --out`, each a no-op plan of the whole stack. The figure is the child's peak resident
set, `ru_maxrss` from `os.wait4`. Linux starts a child's peak at its parent's size when it
forks, so this process stays small (the replay server runs in a process of its own) and a
child's figure is its own.

It prints the figures with the size, the growth per user between the smallest and the
largest size, and the 500 MB target for 100,000 users; `--json FILE` keeps them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import fleet

DEFAULT_SIZES = (10_000, 100_000)
TARGET_MB = 500
TARGET_USERS = 100_000
COMMANDS = {
    "validate": ["validate", "{dir}"],
    "plan": ["plan", "{dir}", "--detailed-exitcode"],
    "plan --out": ["plan", "{dir}", "--detailed-exitcode", "--out", "{dir}/plan.json"],
}


def letta_apply() -> str:
    return str(Path(sys.executable).with_name("letta-apply"))


@contextmanager
def replay_server(size: int, shape: str) -> Iterator[str]:
    """`bench.replay` serving a fleet of `size` users; its URL."""
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.replay", "serve", "--size", str(size), "--shape", shape],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None and server.stdin is not None and server.stderr is not None
    try:
        url = server.stdout.readline().strip()
        if not url:
            raise RuntimeError(f"the replay server did not start: {server.stderr.read()}")
        yield url
    finally:
        _out, summary = server.communicate(timeout=60)
        unknown = json.loads(summary.strip().splitlines()[-1])["unknown"] if summary else {}
        if unknown:
            raise RuntimeError(f"requests the replay server does not know: {unknown}")


def peak_of(argv: list[str], url: str) -> tuple[float, float, int]:
    """Run `letta-apply argv` against `url`; its peak RSS (MB), seconds and exit code."""
    env = {**os.environ, "LETTA_BASE_URL": url, "NO_COLOR": "1"}
    began = time.perf_counter()
    child = subprocess.Popen(
        [letta_apply(), *argv], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert child.stderr is not None
    errors = child.stderr.read()
    _pid, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - began
    if child.returncode not in (0,):
        raise RuntimeError(f"letta-apply {' '.join(argv)} exited {child.returncode}: {errors!r}")
    return usage.ru_maxrss / 1024, seconds, child.returncode


def measure(size: int, shape: str, server: str | None, reps: int) -> dict[str, object]:
    """The figures of one size: each command's peak RSS (the lowest of `reps` runs)."""
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        folder = fleet.write_manifests(Path(tmp) / "stack", size, shape)
        row: dict[str, object] = {"users": size}
        with _server(size, shape, server) as url:
            for name, template in COMMANDS.items():
                argv = [part.format(dir=folder) for part in template]
                runs = [peak_of(argv, url) for _ in range(reps)]
                row[name] = min(mb for mb, _s, _rc in runs)
                row[f"{name} s"] = min(s for _mb, s, _rc in runs)
            row["plan file bytes"] = (folder / "plan.json").stat().st_size
    return row


@contextmanager
def _server(size: int, shape: str, server: str | None) -> Iterator[str]:
    if server is not None:
        yield server
        return
    with replay_server(size, shape) as url:
        yield url


def render(rows: list[dict[str, object]], where: str, shape: str) -> str:
    shares = ", ".join(f"{share:.0%} {name}" for name, share in fleet.SHAPES[shape] if share)
    lines = [
        f"Whole-process peak RSS ({where}), `bench.fleet` {shape} stacks: {shares}",
        f"{'users':>9}  {'validate':>18}  {'plan':>18}  {'plan --out':>18}",
    ]
    for row in rows:
        cells = [f"{row[c]:7.0f} MB {row[f'{c} s']:5.1f} s" for c in COMMANDS]
        lines.append(f"{row['users']:>9,}  " + "  ".join(f"{c:>18}" for c in cells))
    if len(rows) > 1:
        low, high = rows[0], rows[-1]
        users = int(str(high["users"])) - int(str(low["users"]))
        for command in ("plan", "plan --out"):
            grown = float(str(high[command])) - float(str(low[command]))
            lines.append(
                f"{command}: {grown * 2**20 / users / 1024:.2f} KB per user "
                f"({low['users']:,} -> {high['users']:,} users)"
            )
    at_target = [r for r in rows if r["users"] == TARGET_USERS]
    for row in at_target:
        peak = max(float(str(row["plan"])), float(str(row["plan --out"])))
        verdict = "met" if peak < TARGET_MB else "NOT met"
        lines.append(
            f"target: under {TARGET_MB} MB at {TARGET_USERS:,} users: {peak:.0f} MB, {verdict}"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument(
        "--sizes", default=",".join(str(s) for s in DEFAULT_SIZES), help="user counts"
    )
    parser.add_argument(
        "--server",
        help="a real Letta server already holding the `bench.fleet` stack of the one size "
        "given (seed it with `letta-apply` on the manifests `bench.fleet` writes)",
    )
    parser.add_argument(
        "--shape", choices=sorted(fleet.SHAPES), default="fleet", help="users by pattern"
    )
    parser.add_argument("--reps", type=int, default=1, help="runs of each command (lowest)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    rows = []
    for size in sizes:
        rows.append(measure(size, args.shape, args.server, args.reps))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    where = f"real server {args.server}" if args.server else "replay server"
    sys.stdout.write(render(rows, where, args.shape))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
