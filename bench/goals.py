"""The figures of the whole process at the seeds' scale that need no seeded server, each
beside its target: loading a users file of 100,000 users (CSV and JSON Lines), the planner
at 1,000,000 users, and the peak memory of a whole `letta-apply plan` of 100,000 users
against the replay server (all dedicated, and the shared-agent fleet).

The start-up ratios (`validate`, a no-op `plan` beside a plain listing) are in `bench.startup`.
"""

from __future__ import annotations

import gc
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import fleet, memory, planner_scale
from reconciler.manifest.files import discover, find_root, read_manifest
from reconciler.manifest.merge import collect_users, merge
from reconciler.manifest.problems import Problems
from reconciler.manifest.yaml_loader import load_documents
from reconciler.planner import build_plan

LOAD_USERS = 100_000
LOAD_TARGET_US = 10.0
PLANNER_USERS = 1_000_000
PLANNER_TARGET_US = 25.0
MEMORY_USERS = 100_000
MEMORY_TARGETS_MB = {"dedicated": 500, "fleet": 300}


def run(reps: int = 3, planner_users: int = PLANNER_USERS) -> dict[str, Any]:
    """Every figure, each with its target. Memory first, while this process is small: Linux
    starts a child's peak RSS at its parent's size."""
    results: dict[str, Any] = {}
    for shape, target in MEMORY_TARGETS_MB.items():
        megabytes, seconds = plan_peak(MEMORY_USERS, shape)
        results[f"memory_{shape}"] = {
            "users": MEMORY_USERS,
            "plan_mb": megabytes,
            "plan_s": seconds,
            "target": target,
        }
    with tempfile.TemporaryDirectory(prefix="bench-goals-") as tmp:
        for fmt in ("csv", "jsonl"):
            folder = users_stack(Path(tmp) / fmt, LOAD_USERS, fmt)
            results[f"load_{fmt}"] = {
                "users": LOAD_USERS,
                "us_per_user": users_loading(folder, LOAD_USERS, reps),
                "target": LOAD_TARGET_US,
                "error_location": error_location(folder, fmt),
            }
    results["planner"] = {
        "users": planner_users,
        "us_per_user": planner_noop(planner_users),
        "target": PLANNER_TARGET_US,
    }
    return results


def plan_peak(size: int, shape: str) -> tuple[float, float]:
    """Peak RSS (MB) and seconds of a no-op `letta-apply plan` of `size` users of `shape`
    against the replay server."""
    with tempfile.TemporaryDirectory(prefix="bench-goals-memory-") as tmp:
        folder = fleet.write_manifests(Path(tmp) / "stack", size, shape)
        with memory.replay_server(size, shape) as url:
            megabytes, seconds, _code = memory.peak_of(["plan", str(folder)], url)
    return megabytes, seconds


def users_stack(folder: Path, size: int, fmt: str) -> Path:
    """The fleet stack of `size` users, its users in a CSV or a JSON Lines file."""
    fleet.write_manifests(folder, size)
    if fmt == "jsonl":
        header, *rows = (folder / "users.csv").read_text().splitlines()
        columns = header.split(",")
        lines = [json.dumps(_user(columns, row.split(","))) for row in rows]
        (folder / "users.jsonl").write_text("\n".join(lines) + "\n")
        stack = (folder / "stack.yaml").read_text().replace("users.csv", "users.jsonl")
        (folder / "stack.yaml").write_text(stack)
        (folder / "users.csv").unlink()
    return folder


def _user(columns: list[str], cells: list[str]) -> dict[str, Any]:
    user: dict[str, Any] = {}
    for column, cell in zip(columns, cells, strict=True):
        if cell and column.startswith("properties."):
            user.setdefault("properties", {})[column.removeprefix("properties.")] = cell
        elif cell:
            user[column] = cell
    return user


def users_loading(folder: Path, size: int, reps: int) -> float:
    """Microseconds of CPU a user to read and check the stack's users file (median of
    `reps`), on its own: the manifests are read and merged before the clock starts."""
    times = []
    for _ in range(max(1, reps)):
        stack, problems = _merged(folder)
        gc.collect()
        began = time.process_time()
        users = collect_users(stack, problems)
        times.append(time.process_time() - began)
        assert not problems and len(users) == size, (problems.items[:3], len(users))
    return statistics.median(times) / size * 1e6


def _merged(folder: Path) -> tuple[Any, Problems]:
    problems = Problems()
    root = find_root([folder], None, problems)
    assert root is not None
    documents = []
    for path in discover([folder], root, problems):
        file = read_manifest(path, root, problems)
        if file is not None:
            documents.extend(load_documents(file, problems))
    stack = merge(documents, root, problems)
    assert stack is not None and not problems
    return stack, problems


def error_location(folder: Path, fmt: str) -> str:
    """The problem reported for a bad user added as the file's last line: its location must
    still be file:line:col."""
    users = folder / f"users.{fmt}"
    good = users.read_text()
    bad = "bad/id,,shared,,support,\n" if fmt == "csv" else '{"id": "x", "pattern": "solo"}\n'
    users.write_text(good + bad)
    try:
        stack, problems = _merged(folder)
        collect_users(stack, problems)
    finally:
        users.write_text(good)
    line = good.count("\n") + 1
    found = [str(p) for p in problems.items]
    assert any(f"users.{fmt}:{line}:" in p for p in found), found
    return found[0]


def planner_noop(size: int) -> float:
    """Microseconds of CPU a user of a no-op plan of the large-fleet stack (one run)."""
    desired = planner_scale.desired_state(size)
    live = planner_scale.live_state(desired)
    gc.collect()
    gc.freeze()
    began = time.process_time()
    plan = build_plan(desired, live, target="t")
    seconds = time.process_time() - began
    gc.unfreeze()
    assert not plan.changes
    return seconds / size * 1e6


def render(goals: dict[str, Any]) -> list[str]:
    """The goals table: each figure beside its target."""
    head = f"{'GOALS AT SCALE':<58}{'measured':>14}  target"
    lines = [head, "-" * len(head)]
    for fmt in ("csv", "jsonl"):
        row = goals[f"load_{fmt}"]
        name = f"loading {row['users']:,} users from {fmt.upper()} (CPU)"
        lines.append(_line(name, f"{row['us_per_user']:.1f} µs/user", row["us_per_user"], row))
        lines.append(f"  a bad last row is reported at {row['error_location'].split(': ')[0]}")
    row = goals["planner"]
    name = f"planner, no-op plan of {row['users']:,} users (CPU)"
    lines.append(_line(name, f"{row['us_per_user']:.1f} µs/user", row["us_per_user"], row))
    for shape in MEMORY_TARGETS_MB:
        row = goals[f"memory_{shape}"]
        name = f"`letta-apply plan` peak RSS, {row['users']:,} users, {shape} (replay)"
        lines.append(_line(name, f"{row['plan_mb']:.0f} MB", row["plan_mb"], row))
    return lines


def _line(name: str, shown: str, value: float, row: dict[str, Any]) -> str:
    unit = "MB" if "plan_mb" in row else "µs/user"
    status = "met" if value <= row["target"] else "NOT met"
    below = "<" if unit == "MB" else "<="
    return f"{name:<58}{shown:>14}  {below} {row['target']:g} {unit} {status}"
