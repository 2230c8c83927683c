"""Read-side benchmarks: the no-op plan and the two references it is compared with.

- plan: `make_plan` (read_live + build_plan), the path `letta-apply plan` takes;
- floor: the same resources listed once with the SDK, page by page, doing nothing with them
  (typed SDK models, as an app would use them), and the same pages fetched as plain JSON
  (no model parsing: the HTTP and server part alone);
- per-user lookups: what an app following the seeds does, one request per user.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from typing import Any, cast

from letta_client import omit
from letta_client._types import RequestOptions

from bench.measure import CountingSdk, Sample, measure, median, new_api, scaled
from bench.stacks import SHARED_AGENTS, StackShape
from reconciler import ownership
from reconciler.desired import DesiredState
from reconciler.kinds import conversation
from reconciler.kinds.agent import includes
from reconciler.planning import make_plan, preflight
from reconciler.scope import Scope, cut

PAGE = 200


def noop_plan(
    url: str, desired: DesiredState, parallelism: int, reps: int, *, prune: bool | None = None
) -> tuple[Sample, int]:
    """Median time and requests of planning the stack; also how many changes the plan has."""
    api = new_api(url)
    changes: list[int] = []

    def step() -> None:
        plan, _live = make_plan(api, desired, prune=prune, parallelism=parallelism)
        changes.append(len(plan.changes))

    try:
        return median(step, lambda: api.requests, reps), changes[-1]
    finally:
        api.close()


def scoped_plan(url: str, desired: DesiredState, parallelism: int, reps: int) -> Sample:
    """Median time and requests of `letta-apply plan --users <one user>`: the pre-flight
    health check, then the scope's reads and the plan."""
    api = new_api(url)
    user = next(iter(sorted(desired.patterns())))
    scoped = cut(desired, Scope(users=(user,)))

    def step() -> None:
        preflight(api, scoped.desired, models=False)
        make_plan(api, desired, prune=None, parallelism=parallelism, scoped=scoped)

    try:
        return median(step, lambda: api.requests, reps)
    finally:
        api.close()


def raw_listing(url: str, desired: DesiredState, reps: int) -> Sample:
    """The floor: one SDK listing of the stack's agents (their identities included) and of the
    blocks carrying its tag (and its conversations on each shared agent, by its marker)."""
    client = CountingSdk(url)
    try:
        return median(lambda: list_everything(client, desired), lambda: client.requests, reps)
    finally:
        client.close()


def json_listing(url: str, desired: DesiredState, reps: int) -> Sample:
    """The same pages as `raw_listing`, fetched as plain JSON without building SDK models."""
    client = CountingSdk(url)
    try:
        return median(lambda: list_json(client, desired), lambda: client.requests, reps)
    finally:
        client.close()


def list_json(client: CountingSdk, desired: DesiredState) -> int:
    tag = ownership.stack_tag(desired.stack)
    agents = _pages(client, "/v1/agents/", {"tags": [tag], "include": list(includes(desired))})
    count = len(agents) + len(_pages(client, "/v1/blocks/", {"tags": [tag]}))
    marker = ownership.conversation_marker_prefix(desired.stack)
    for agent in agents:
        if desired.conversations and agent["name"] in SHARED_AGENTS:
            params = {"agent_id": agent["id"], "summary_search": marker}
            count += len(_pages(client, "/v1/conversations/", params, conversation.PAGE))
    return count


def list_everything(client: CountingSdk, desired: DesiredState) -> int:
    sdk = client.sdk
    tag = ownership.stack_tag(desired.stack)
    included: list[Any] = list(includes(desired))
    agents = list(sdk.agents.list(tags=[tag], include=included, limit=PAGE))
    count = len(agents) + len(list(sdk.blocks.list(tags=[tag], limit=PAGE)))
    if desired.conversations:
        shared = [a.id for a in agents if a.name in SHARED_AGENTS]
        marker = ownership.conversation_marker_prefix(desired.stack)
        count += sum(len(_conversations(client, agent_id, marker)) for agent_id in shared)
    return count


def _conversations(client: CountingSdk, agent_id: str, marker: str) -> list[Any]:
    found: list[Any] = []
    after: str | None = None
    while True:
        page = client.sdk.conversations.list(
            agent_id=agent_id, summary_search=marker, limit=conversation.PAGE, after=after or omit
        )
        found += page
        if len(page) < conversation.PAGE:
            return found
        after = page[-1].id


def _pages(client: CountingSdk, path: str, params: dict[str, Any], size: int = PAGE) -> list[Any]:
    found: list[Any] = []
    after: str | None = None
    while True:
        query = {**params, "limit": size, **_after(after)}
        options: RequestOptions = {"params": query}
        page = cast("list[Any]", client.sdk.get(path, cast_to=object, options=options))
        found += page
        if len(page) < size:
            return found
        after = page[-1]["id"]


def _after(after: str | None) -> dict[str, str]:
    return {"after": after} if after else {}


def per_user_lookups(url: str, desired: DesiredState, cap: int) -> Sample:
    """One lookup per user, as an app would do it; over `cap` users, a sample extrapolated."""
    client = CountingSdk(url)
    try:
        lookups = _lookups(client, desired)
        step = max(1, len(lookups) // cap) if len(lookups) > cap else 1
        chosen = lookups[::step][:cap]
        sample = measure(lambda: [lookup() for lookup in chosen], lambda: client.requests)
        return scaled(sample, len(chosen), len(lookups))
    finally:
        client.close()


def _lookups(client: CountingSdk, desired: DesiredState) -> list[Callable[[], object]]:
    """Per user: dedicated by `user:` tag, shared by conversation summary, identity by key."""
    sdk = client.sdk
    found: list[Callable[[], object]] = [
        partial(sdk.agents.list, tags=[ownership.user_tag(spec.user_id)], limit=1)
        for spec in desired.agents
        if spec.user_id
    ]
    agent_ids = _shared_agent_ids(client, desired) if desired.conversations else {}
    for conv in desired.conversations:
        marker = ownership.conversation_marker(desired.stack, conv.user_id)
        found.append(
            partial(
                sdk.conversations.list,
                agent_id=agent_ids[conv.agent.name],
                summary_search=marker,
                limit=1,
            )
        )
    for identity in desired.identities:
        query = {"identifier_key": identity.identifier_key, "limit": 1}
        options: RequestOptions = {"params": query}
        found.append(partial(sdk.get, "/v1/identities/", cast_to=object, options=options))
    return found


def _shared_agent_ids(client: CountingSdk, desired: DesiredState) -> dict[str, str]:
    tag = ownership.stack_tag(desired.stack)
    return {
        a.name: a.id
        for a in client.sdk.agents.list(tags=[tag], limit=PAGE)
        if a.name in SHARED_AGENTS
    }


def plan_memory(url: str, stack: str, shape: StackShape, parallelism: int) -> dict[str, float]:
    """Peak memory of one plan, measured in a fresh process (see `bench.probe`)."""
    command = [
        sys.executable,
        "-m",
        "bench.probe",
        url,
        stack,
        shape.kind,
        str(shape.size),
        str(parallelism),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=3600)
    result: dict[str, float] = json.loads(done.stdout)
    return result
