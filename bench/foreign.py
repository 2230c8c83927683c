"""Reads that follow the stack: the no-op plan of a stack before and after the server fills
up with other people's identities and agents, measured in the same run.

The stack is shared users (a conversation each on two shared agents) and identity users (an
identity each, attached to the first shared agent). The foreign resources are created with
raw parallel HTTP requests: identities, half of them marked by another stack and half
unmarked, and agents tagged as another stack's, without memory blocks.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.measure import CountingSdk, Sample, median
from bench.reads import list_json, noop_plan
from bench.stacks import MODEL
from reconciler import ownership
from reconciler.desired import DesiredState

SEED_CONNECTIONS = 16
"""Creates in flight while seeding the foreign resources."""


@dataclass
class Foreign:
    """What was put on the server around the stack, by id (deleted again on a shared server)."""

    identities: list[str] = field(default_factory=list)
    agents: list[str] = field(default_factory=list)
    failed: int = 0


def seed(url: str, prefix: str, identities: int, agents: int) -> Foreign:
    """Create `identities` identities and `agents` agents that belong to nobody's stack here."""
    made = Foreign()
    other = f"{prefix}-other"

    def identity(n: int) -> dict[str, Any]:
        marked = [{"key": ownership.IDENTITY_MARKER_KEY, "value": other, "type": "string"}]
        return {
            "identifier_key": f"{other}-user-{n:06d}",
            "name": f"Someone else {n}",
            "identity_type": "user",
            "properties": marked if n % 2 else [],
        }

    def agent(n: int) -> dict[str, Any]:
        return {
            "name": f"{other}-agent-{n:05d}",
            "model": MODEL,
            "embedding": MODEL,
            "memory_blocks": [],
            "include_base_tools": False,
            "tags": [ownership.stack_tag(other), f"user:{other}-{n:05d}"],
        }

    made.identities, failed = _create_all(url, "/v1/identities/", identity, identities)
    made.failed += failed
    made.agents, failed = _create_all(url, "/v1/agents/", agent, agents)
    made.failed += failed
    return made


def _create_all(
    url: str, path: str, body: Callable[[int], dict[str, Any]], count: int
) -> tuple[list[str], int]:
    limits = httpx.Limits(max_connections=SEED_CONNECTIONS)
    with httpx.Client(base_url=url, timeout=120, limits=limits) as http:

        def create(n: int) -> str | None:
            try:
                answer = http.post(path, json=body(n))
            except httpx.HTTPError:
                return None
            return str(answer.json()["id"]) if answer.status_code == 200 else None

        with ThreadPoolExecutor(max_workers=SEED_CONNECTIONS) as pool:
            ids = list(pool.map(create, range(count)))
    made = [i for i in ids if i is not None]
    return made, count - len(made)


def remove(url: str, foreign: Foreign) -> int:
    """Delete what `seed` made; returns how many deletes failed."""
    paths = [f"/v1/identities/{i}" for i in foreign.identities]
    paths += [f"/v1/agents/{a}" for a in foreign.agents]
    limits = httpx.Limits(max_connections=SEED_CONNECTIONS)
    with httpx.Client(base_url=url, timeout=120, limits=limits) as http:

        def delete(path: str) -> bool:
            try:
                return http.delete(path).status_code < 300
            except httpx.HTTPError:
                return False

        with ThreadPoolExecutor(max_workers=SEED_CONNECTIONS) as pool:
            return sum(not ok for ok in pool.map(delete, paths))


def stack_listing(url: str, desired: DesiredState, reps: int) -> Sample:
    """The reference: a script reading only what belongs to the stack, as plain JSON: its
    agents (their identities included), the blocks carrying its tag, and its conversations on
    each shared agent (by the stack's marker)."""
    client = CountingSdk(url)
    try:
        return median(lambda: list_json(client, desired), lambda: client.requests, reps)
    finally:
        client.close()


def measure_plans(url: str, desired: DesiredState, parallelism: int, reps: int) -> dict[str, Any]:
    """The no-op plan (prune as the stack says: off), the same plan with prune on (which
    lists every identity), and the reference listing."""
    plan, changes = noop_plan(url, desired, parallelism, reps)
    pruning, _ = noop_plan(url, desired, parallelism, reps, prune=True)
    return {
        "plan": {**plan.to_json(), "changes": changes},
        "plan_prune": pruning.to_json(),
        "stack_listing": stack_listing(url, desired, reps).to_json(),
    }
