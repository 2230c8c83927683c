"""`make bench-scale` (`python -m bench.scale`): the seeds' largest row on a real server.

A stack of 20,000 users on four shared agents (a conversation each, an identity attached for
every 20th user) is seeded by `letta-apply` itself, then each figure is measured beside a
reference taken in the same run: the no-op and the 1% plan against the same pages listed as
plain JSON with httpx, the apply of 1,000 new users against the same creates sent raw at the
same parallelism, and four stacks of 5,000 applied (and planned) by four processes at once,
beside the one stack of 20,000 seeded (and planned) by one.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from bench import report
from bench.scale_stacks import ScaleStack, renamed, write_stack, write_users
from bench.server import bench_server
from reconciler import ownership
from reconciler.address import Kind
from reconciler.apply import apply_plan
from reconciler.client import LettaApi, Target
from reconciler.desired import DesiredState
from reconciler.errors import ApplyFailed
from reconciler.kinds import agent, conversation
from reconciler.kinds.agent import includes
from reconciler.manifest import load_desired
from reconciler.plan.model import Attach, Create
from reconciler.planning import make_plan
from reconciler.values import thaw

PAGE = 200
LETTA_APPLY = Path(sys.executable).with_name("letta-apply")


PARTS = ("seed", "reads", "new-users", "split")


@dataclass(frozen=True)
class Options:
    """What to run; `split_users` is the size of each split stack (0: `users / split`), and
    `prefix` names the run's stacks (a stack seeded by an earlier run is reused with it)."""

    users: int
    new_users: int
    split: int
    split_users: int
    rounds: int
    parallelism: int
    reps: int
    change_every: int
    parts: tuple[str, ...]
    prefix: str


def parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--users", type=int, default=20_000, help="users in the big stack")
    parser.add_argument("--new-users", type=int, default=1000, help="users added by the apply")
    parser.add_argument("--split", type=int, default=4, help="stacks applied at once")
    parser.add_argument("--parallelism", type=int, default=8, help="requests in flight")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each read")
    parser.add_argument("--split-users", type=int, default=0, help="users per split stack")
    parser.add_argument(
        "--rounds", type=int, default=4, help="rounds the new users are added in (alternating)"
    )
    parser.add_argument(
        "--change-every", type=int, default=100, help="rename every n-th user (1%% by default)"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=PARTS,
        help="run only this part (repeatable): seed, reads, new-users, split",
    )
    parser.add_argument(
        "--prefix",
        default=f"scale-{uuid.uuid4().hex[:6]}",
        help="the stacks' name prefix (an earlier run's, with LETTA_BASE_URL, to reuse its stack)",
    )
    args = parser.parse_args(argv)
    return Options(
        users=args.users,
        new_users=args.new_users,
        split=args.split,
        split_users=args.split_users or args.users // args.split,
        rounds=max(1, args.rounds),
        parallelism=args.parallelism,
        reps=args.reps,
        change_every=args.change_every,
        parts=tuple(part for part in PARTS if part in (args.only or PARTS)),
        prefix=args.prefix,
    )


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# Whole processes -----------------------------------------------------------------------------


def _run_cli(url: str, args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LETTA_BASE_URL": url, "CI": "true", "NO_COLOR": "1"}
    with log.open("ab") as out:
        return subprocess.Popen([str(LETTA_APPLY), *args], stdout=out, stderr=out, env=env)


def processes(url: str, commands: list[list[str]], log: Path) -> dict[str, Any]:
    """Start every command at once; the wall time and each one's time and exit code."""
    began = time.perf_counter()
    running = [(_run_cli(url, args, log), time.perf_counter()) for args in commands]
    each: list[float] = []
    codes: list[int] = []
    for process, started in running:
        codes.append(process.wait())
        each.append(time.perf_counter() - started)
    return {
        "seconds": round(time.perf_counter() - began, 2),
        "each": [round(s, 2) for s in each],
        "exit_codes": codes,
    }


# In-process plans and the raw listing --------------------------------------------------------


def timed(step: Any) -> tuple[float, Any]:
    began = time.perf_counter()
    value = step()
    return time.perf_counter() - began, value


def plan_once(url: str, desired: DesiredState, parallelism: int) -> dict[str, Any]:
    api = LettaApi(Target(base_url=url))
    try:
        seconds, (plan, _live) = timed(
            lambda: make_plan(api, desired, prune=None, parallelism=parallelism)
        )
        return {"seconds": seconds, "requests": api.requests, "changes": len(plan.changes)}
    finally:
        api.close()


def raw_listing(url: str, desired: DesiredState) -> dict[str, Any]:
    """The pages a plan of the stack reads, fetched one after another as plain JSON."""
    with httpx.Client(base_url=url, timeout=300) as http:
        count = [0]

        def pages(path: str, params: dict[str, Any], size: int = PAGE) -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = []
            after: dict[str, str] = {}
            while True:
                query = {**params, "limit": size, "order": "asc", **after}
                page = http.get(path, params=query).raise_for_status().json()
                count[0] += 1
                found += page
                if len(page) < size:
                    return found
                after = {"after": page[-1]["id"]}

        def step() -> int:
            tag = ownership.stack_tag(desired.stack)
            marker = ownership.conversation_marker_prefix(desired.stack)
            # Identities come with the agents; every declared one is attached once seeded.
            agents = pages("/v1/agents/", {"tags": [tag], "include": list(includes(desired))})
            items = len(agents) + len(pages("/v1/blocks/", {"tags": [tag]}))
            for agent in agents:
                if not any(t.startswith("user:") for t in agent.get("tags") or ()):
                    params = {"agent_id": agent["id"], "summary_search": marker}
                    items += len(pages("/v1/conversations/", params, conversation.PAGE))
            items += len(pages("/v1/tools/", {"tool_types": ["custom"]}))
            http.get("/v1/mcp-servers/").raise_for_status()
            count[0] += 1
            return items

        seconds, items = timed(step)
        return {"seconds": seconds, "requests": count[0], "items": items}


def paired(
    url: str, desired: DesiredState, opts: Options, plan: Callable[[], dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The plan (in this process, or `plan`) and the raw listing in interleaved pairs;
    medians and the median of the pairs' ratios."""
    plans, listings = [], []
    step = plan or (lambda: plan_once(url, desired, opts.parallelism))
    for rep in range(opts.reps):
        first_plan = rep % 2 == 0
        if first_plan:
            plans.append(step())
        listings.append(raw_listing(url, desired))
        if not first_plan:
            plans.append(step())
    ratios = [p["seconds"] / r["seconds"] for p, r in zip(plans, listings, strict=True)]
    return {
        "plan": _median(plans),
        "raw_listing": _median(listings),
        "ratio": round(statistics.median(ratios), 3),
    }


def _median(samples: list[dict[str, Any]]) -> dict[str, Any]:
    return {**samples[-1], "seconds": round(statistics.median(s["seconds"] for s in samples), 3)}


# Creates: raw against letta-apply ------------------------------------------------------------


def raw_creates(url: str, desired: DesiredState, parallelism: int) -> dict[str, Any]:
    """The creates and attaches a plan of `desired` makes, sent raw: conversations POSTed on
    their agents, identities POSTed then attached, `parallelism` at a time."""
    api = LettaApi(Target(base_url=url))
    try:
        plan, live = make_plan(api, desired, prune=None, parallelism=parallelism)
    finally:
        api.close()
    agent_ids = {a.address: a.id for a in agent.of(live).listed if a.address}
    attach = {c.address: agent_ids[c.agent] for c in plan.changes if isinstance(c, Attach)}
    creates = [c for c in plan.changes if isinstance(c, Create)]
    failures = [0]
    with httpx.Client(base_url=url, timeout=300, limits=httpx.Limits(max_connections=64)) as http:

        def send(change: Create) -> None:
            body = thaw(change.body)
            try:
                if change.address.kind is Kind.CONVERSATION:
                    assert change.address.owner is not None
                    params = {"agent_id": agent_ids[change.address.owner]}
                    http.post("/v1/conversations/", params=params, json=body).raise_for_status()
                    return
                made = http.post("/v1/identities/", json=body).raise_for_status().json()
                path = f"/v1/agents/{attach[change.address]}/identities/attach/{made['id']}"
                http.patch(path).raise_for_status()
            except httpx.HTTPError:
                failures[0] += 1

        def run() -> None:
            with ThreadPoolExecutor(max_workers=parallelism) as pool:
                list(pool.map(send, creates))

        seconds, _ = timed(run)
    requests = len(creates) + len(attach)
    return {"seconds": round(seconds, 2), "requests": requests, "failed": failures[0]}


def plan_and_apply(url: str, desired: DesiredState, parallelism: int) -> dict[str, Any]:
    api = LettaApi(Target(base_url=url))
    try:
        plan_s, (plan, live) = timed(
            lambda: make_plan(api, desired, prune=None, parallelism=parallelism)
        )
        planned_requests = api.requests
        failed = [0]

        def run() -> None:
            try:
                apply_plan(api, plan, live, parallelism=parallelism)
            except ApplyFailed as exc:
                failed[0] = len(exc.failures)

        apply_s, _ = timed(run)
        return {
            "plan_seconds": round(plan_s, 2),
            "apply_seconds": round(apply_s, 2),
            "changes": len(plan.changes),
            "apply_requests": api.requests - planned_requests,
            "failed": failed[0],
        }
    finally:
        api.close()


# The run -------------------------------------------------------------------------------------


class Scale:
    """One run: its folder of manifests, its server and what it measured."""

    def __init__(self, opts: Options, url: str, folder: Path) -> None:
        self.opts, self.url, self.folder = opts, url, folder
        self.prefix = opts.prefix
        self.log = folder / "letta-apply.log"
        self.results: dict[str, Any] = {}

    def spec(self, label: str, users: int) -> ScaleStack:
        return ScaleStack(f"{self.prefix}-{label}", f"{self.prefix}-{label}", users)

    def apply_cli(self, folders: list[Path]) -> dict[str, Any]:
        args = ["--parallelism", str(self.opts.parallelism), "--auto-approve"]
        return processes(self.url, [[str(f), *args] for f in folders], self.log)

    def plan_cli(self, folders: list[Path]) -> dict[str, Any]:
        return processes(
            self.url, [["plan", str(f), "--detailed-exitcode"] for f in folders], self.log
        )

    def run(self) -> dict[str, Any]:
        """Seed, read (the stack as seeded), add users, then the split stacks."""
        parts = self.opts.parts
        big = self.spec("big", self.opts.users)
        big_dir = write_stack(self.folder / "big", big)
        if "seed" in parts:
            self.seed(big_dir)
        if "reads" in parts:
            self.reads(big, big_dir, load_desired([big_dir]))
        if "new-users" in parts:
            self.new_users(big, big_dir)
        if "split" in parts:
            self.split()
        return self.results

    def seed(self, big_dir: Path) -> None:
        say(f"seeding {self.opts.users:,} users with `letta-apply {big_dir.name} -y` ...")
        seeded = self.apply_cli([big_dir])
        self.results["seed"] = {"users": self.opts.users, **seeded}
        say(f"  seeded in {seeded['seconds']:.0f} s (exit {seeded['exit_codes'][0]})")
        again = self.apply_cli([big_dir])  # whatever a failed create left out
        self.results["seed_fill_up"] = again

    def reads(self, big: ScaleStack, big_dir: Path, desired: DesiredState) -> None:
        """The plans in this process (after `gc.freeze()`, as the command does once its
        manifests are loaded) and as a whole `letta-apply plan` process, each in pairs with
        the raw listing."""
        changed_dir = self.folder / "big-renamed"
        write_stack(changed_dir, big, renamed(big.user_rows(), self.opts.change_every))
        changed = load_desired([changed_dir])
        gc.collect()
        gc.freeze()
        say("no-op plan and raw listing, interleaved ...")
        self.results["noop"] = paired(self.url, desired, self.opts)
        say(f"  {self.results['noop']}")
        say("1% plan and raw listing, interleaved ...")
        self.results["one_percent"] = paired(self.url, changed, self.opts)
        say(f"  {self.results['one_percent']}")
        say("no-op `letta-apply plan` process and raw listing, interleaved ...")
        process = paired(self.url, desired, self.opts, lambda: self.plan_cli([big_dir]))
        self.results["noop_process"] = process
        self.results["single_plan"] = {"users": big.users, **process["plan"]}
        say(f"  {process}")

    def split(self) -> None:
        """Stacks applied by as many processes at once, then planned so (no-op)."""
        size, count = self.opts.split_users, self.opts.split
        folders = [
            write_stack(self.folder / f"split{n}", self.spec(f"split{n}", size))
            for n in range(count)
        ]
        say(f"{count} stacks of {size:,} applied by {count} processes at once ...")
        self.results["split_apply"] = {"users_each": size, **self.apply_cli(folders)}
        say(f"  {self.results['split_apply']}")
        self.results["split_fill_up"] = self.apply_cli(folders)
        say(f"{count} no-op plans by {count} processes at once ...")
        self.results["split_plans"] = {"users_each": size, **self.plan_cli(folders)}
        say(f"  {self.results['split_plans']}")

    def new_users(self, big: ScaleStack, big_dir: Path) -> None:
        """New users in rounds, each sent raw to a stack of its own and applied by
        letta-apply to the big stack, in alternating order, so that load coming and going on
        the machine falls on both sides alike."""
        count, start, rounds = self.opts.new_users, self.opts.users, self.opts.rounds
        par = self.opts.parallelism
        raw = self.spec("raw", 0)
        raw_dir = write_stack(self.folder / "raw", raw)
        self.apply_cli([raw_dir])  # its shared agents
        say(f"{count:,} new users in {rounds} rounds: raw creates and letta-apply, alternating")
        raws: list[dict[str, Any]] = []
        applies: list[dict[str, Any]] = []
        for n in range(1, rounds + 1):
            upto = count * n // rounds
            rows = ScaleStack(raw.stack, raw.label, start + upto).user_rows(start, upto)
            write_users(raw_dir / "users.csv", rows)
            write_users(big_dir / "users.csv", replace(big, users=start + upto).user_rows())
            steps: list[Callable[[], None]] = [
                lambda: raws.append(raw_creates(self.url, load_desired([raw_dir]), par)),
                lambda: applies.append(plan_and_apply(self.url, load_desired([big_dir]), par)),
            ]
            for step in steps if n % 2 else reversed(steps):
                step()
            say(f"  round {n}: raw {raws[-1]}; letta-apply {applies[-1]}")
        self.results["raw_creates"] = _summed(raws, ("seconds", "requests", "failed"))
        self.results["apply_new"] = _summed(
            applies, ("plan_seconds", "apply_seconds", "changes", "apply_requests", "failed")
        )
        ratios = [r["seconds"] / a["apply_seconds"] for r, a in zip(raws, applies, strict=True)]
        self.results["apply_new"]["round_ratios"] = [round(x, 3) for x in ratios]


def _summed(samples: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: round(sum(s[key] for s in samples), 2) for key in keys}


def main(argv: list[str] | None = None) -> int:
    opts = parse(argv)
    with bench_server() as server, tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        results: dict[str, Any] = {
            "kind": "scale",
            "machine": report.machine(),
            "server": {"version": server.version, "throwaway": server.throwaway},
            "options": asdict(opts),
            "load_before": report.load(),
        }
        scale = Scale(opts, server.url, Path(tmp))
        try:
            results.update(scale.run())
        finally:
            results["load_after"] = report.load()
            path = report.write_json(results)
            say(f"results saved to {path}")
    sys.stdout.write(render(results))
    return 0


def render(r: dict[str, Any]) -> str:
    """The figures measured, each beside its reference and their ratio."""
    opts = r["options"]
    lines = [f"machine: {r['machine']['cpus']} CPUs, load {r['load_before']} -> {r['load_after']}"]
    if seed := r.get("seed"):
        lines.append(
            f"seed: {seed['users']:,} users by `letta-apply DIR -y`: {seed['seconds']:.0f} s "
            f"({seed['users'] / seed['seconds']:.1f} users/s)"
        )
    for key, what in (
        ("noop", "no-op plan"),
        ("one_percent", "1% plan"),
        ("noop_process", "no-op `letta-apply plan` process"),
    ):
        if f := r.get(key):
            plan = f["plan"]
            detail = (
                f"{plan['requests']} req, {plan['changes']} changes"
                if "requests" in plan
                else f"exit code {plan['exit_codes'][0]}"
            )
            lines.append(
                f"{what}: {plan['seconds']:.2f} s / {detail}; raw JSON listing "
                f"{f['raw_listing']['seconds']:.2f} s / {f['raw_listing']['requests']} req; "
                f"ratio {f['ratio']:.2f}x"
            )
    if (new := r.get("apply_new")) and new["changes"]:
        raw = r["raw_creates"]
        lines.append(
            f"{opts['new_users']:,} new users: apply {new['apply_seconds']:.1f} s "
            f"({new['apply_requests']} req, {new['failed']} failed; plan before it "
            f"{new['plan_seconds']:.1f} s); raw creates {raw['seconds']:.1f} s "
            f"({raw['requests']} req); apply throughput {raw['seconds'] / new['apply_seconds']:.0%}"
            f" of raw (rounds: {', '.join(f'{x:.0%}' for x in new['round_ratios'])})"
        )
    if split := r.get("split_apply"):
        total = split["users_each"] * len(split["each"])
        lines.append(
            f"{len(split['each'])} stacks of {split['users_each']:,} applied at once: "
            f"{split['seconds']:.0f} s ({total / split['seconds']:.1f} users/s)"
        )
        plans = r["split_plans"]
        lines.append(f"{len(plans['each'])} no-op plans at once: {plans['seconds']:.1f} s")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
