"""Write-side benchmarks and the seeding and clean-up they need.

- raw creates: the planned agent bodies POSTed by a thread pool with the SDK, no read-backs:
  the server's ceiling for creating agents, and the fast way to seed a big stack;
- apply from empty: plan (with its foreign-tag lookups) then `apply_plan`, as `letta-apply` does;
- an update touching some users: requests sent against resources changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bench.measure import CountingSdk, Sample, measure, new_api
from bench.stacks import with_extra_tag
from reconciler.address import Kind
from reconciler.apply import apply_plan
from reconciler.client import LettaApi
from reconciler.desired import DesiredState
from reconciler.errors import ApplyFailed, LettaApplyError, ServerError
from reconciler.kinds import agent, archive, block, folder, identity, tool
from reconciler.kinds.read import read_live
from reconciler.live.state import LiveState
from reconciler.plan.model import Create, Plan
from reconciler.planner import build_plan
from reconciler.planning import make_plan
from reconciler.values import thaw


@dataclass(frozen=True)
class ApplyFigures:
    """Planning and applying one stack: the apply's own figures and the changes it made."""

    plan: Sample
    apply: Sample
    changes: int
    failed: int

    def to_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan.to_json(),
            "apply": self.apply.to_json(),
            "changes": self.changes,
            "failed": self.failed,
        }


def agent_bodies(desired: DesiredState) -> list[dict[str, Any]]:
    """The create bodies the planner makes for a stack that does not exist yet."""
    plan = build_plan(desired, LiveState(desired.stack), target="")
    creates = [c for c in plan.changes if isinstance(c, Create) and c.address.kind is Kind.AGENT]
    if any(c.links for c in creates):
        raise ValueError("raw creates need agents without references to other resources")
    return [thaw(c.body) for c in creates]


def raw_creates(url: str, desired: DesiredState, parallelism: int) -> tuple[Sample, int]:
    """POST every planned agent once with `parallelism` in flight; (figures, failures)."""
    bodies = agent_bodies(desired)
    client = CountingSdk(url)
    failures: list[Exception] = []

    def create(body: dict[str, Any]) -> None:
        try:
            client.sdk.post("/v1/agents/", cast_to=object, body=body)
        except Exception as exc:  # counted and reported: a seed does not stop on one failure
            failures.append(exc)

    def run() -> None:
        with ThreadPoolExecutor(max_workers=parallelism) as pool:
            list(pool.map(create, bodies))

    try:
        return measure(run, lambda: client.requests), len(failures)
    finally:
        client.close()


def plan_and_apply(url: str, desired: DesiredState, parallelism: int) -> ApplyFigures:
    """Plan then apply, timing each; failures are counted, not raised."""
    api = new_api(url)
    planned: list[tuple[Plan, LiveState]] = []
    try:
        plan_sample = measure(
            lambda: planned.append(make_plan(api, desired, prune=None, parallelism=parallelism)),
            lambda: api.requests,
        )
        plan, live = planned[0]
        failed = [0]

        def run() -> None:
            try:
                apply_plan(api, plan, live, parallelism=parallelism)
            except ApplyFailed as exc:
                failed[0] = len(exc.failures)

        apply_sample = measure(run, lambda: api.requests)
        return ApplyFigures(plan_sample, apply_sample, len(plan.changes), failed[0])
    finally:
        api.close()


def converge(url: str, desired: DesiredState, parallelism: int, attempts: int = 3) -> int:
    """Apply until the plan is empty (seeding); return how many changes the last plan had."""
    remaining = -1
    for _ in range(attempts):
        figures = plan_and_apply(url, desired, parallelism)
        remaining = figures.changes
        if figures.changes == 0:
            return 0
    return remaining


def update_some(
    url: str, desired: DesiredState, user_ids: set[str], parallelism: int
) -> ApplyFigures:
    """Add a tag to the given users' agents: figures of the plan and the apply."""
    return plan_and_apply(url, with_extra_tag(desired, user_ids, "plan:gold"), parallelism)


def clean_up(url: str, stacks: Iterable[str], parallelism: int) -> int:
    """Delete what the stacks own: agents with their own blocks, shared blocks, identities,
    tools, folders (with their files) and archives (with their passages)."""
    api = new_api(url)
    paths: list[str] = []
    try:
        for stack in stacks:
            paths += _owned_paths(read_live(api, stack))
        agents_first = sorted(paths, key=lambda p: not p.startswith("/v1/agents/"))
        agents = [p for p in agents_first if p.startswith("/v1/agents/")]
        others = [p for p in agents_first if not p.startswith("/v1/agents/")]
        with ThreadPoolExecutor(max_workers=parallelism) as pool:
            failed = sum(pool.map(lambda p: _delete(api, p), agents))
            failed += sum(pool.map(lambda p: _delete(api, p), others))
        return failed
    finally:
        api.close()


def _owned_paths(live: LiveState) -> list[str]:
    listed = agent.of(live).listed
    paths = [f"/v1/agents/{a.id}" for a in listed]
    shared = {b.id for b in block.of(live).shared}
    paths += [f"/v1/blocks/{b.id}" for a in listed for b in a.blocks if b.id not in shared]
    paths += [f"/v1/blocks/{b}" for b in sorted(shared)]
    paths += [f"/v1/identities/{i.id}" for i in identity.of(live).owned]
    paths += [f"/v1/tools/{t.id}" for t in tool.of(live).owned]
    paths += [f"/v1/folders/{f.id}" for f in folder.of(live).found if f.address is not None]
    paths += [f"/v1/archives/{a.id}" for a in archive.of(live).found if a.address is not None]
    return paths


def _delete(api: LettaApi, path: str) -> int:
    """1 if the delete failed; a resource already gone (404) counts as deleted."""
    try:
        api.delete(path)
    except ServerError as exc:
        return 0 if exc.status == 404 else 1
    except LettaApplyError:
        return 1
    return 0
