"""The planner at scale without a server: `python -m bench.planner_scale`.

Builds, as data, a stack in the shape the multi-user guidance advises for large fleets (most
users on shared agents with a conversation each, some with identities, a few with agents of
their own) and the live state of the same stack already applied, then times `build_plan` on
it (no changes), on the same stack with 1% of the users changed, with every user changed,
and from empty (nothing on the server yet), and the three renderers on the 1% plan. Each
figure is also given per user, so a planner that grows linearly shows the same constant at
every size; a figure whose cost per user at a size is over 1.5 times its cost at the smallest
size is flagged (and the run exits 1). Times are the process's CPU time, which other work on
the machine moves less than the wall clock (the planner runs on one thread).
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from bench.stacks import SETTINGS
from reconciler import ownership
from reconciler.address import Address
from reconciler.desired import (
    AgentSpec,
    BlockSpec,
    ConversationSpec,
    DesiredState,
    IdentitySpec,
    Policy,
)
from reconciler.kinds import agent, block, conversation, identity
from reconciler.live.state import LiveAgent, LiveBlock, LiveConversation, LiveIdentity, LiveState
from reconciler.planner import build_plan
from reconciler.render import render_json, render_markdown, render_text
from reconciler.values import freeze

STACK = "scale"
SHARED_AGENTS = ("support", "sales", "billing", "onboarding")
SHARES = (("shared", 0.90), ("identity", 0.05), ("dedicated", 0.05))
DEFAULT_SIZES = (10_000, 100_000)


def desired_state(size: int) -> DesiredState:
    """The stack of `size` users: 90% shared, 5% identity, 5% dedicated."""
    ids = [f"u{n:07d}" for n in range(size)]
    shared_n, identity_n = int(size * SHARES[0][1]), int(size * SHARES[1][1])
    shared, identity, dedicated = (
        ids[:shared_n],
        ids[shared_n : shared_n + identity_n],
        ids[shared_n + identity_n :],
    )
    agents = [_shared_agent(name) for name in SHARED_AGENTS]
    agents += [_dedicated_agent(user) for user in dedicated]
    conversations = [
        ConversationSpec(
            Address.conversation(Address.agent(SHARED_AGENTS[n % len(SHARED_AGENTS)]), user),
            f"Support chat for {user}",
        )
        for n, user in enumerate(shared)
    ]
    identities = [
        IdentitySpec(
            Address.identity(user),
            f"User {user}",
            freeze({"plan": "pro"}),
            (Address.agent(SHARED_AGENTS[0]),),
        )
        for user in identity
    ]
    return DesiredState(
        STACK,
        tuple(sorted(agents, key=lambda a: a.address)),
        (),
        tuple(sorted(conversations, key=lambda c: c.address)),
        tuple(sorted(identities, key=lambda i: i.address)),
    )


def _shared_agent(name: str) -> AgentSpec:
    persona = BlockSpec("persona", f"I am the {name} agent.", Policy.ENFORCE)
    return AgentSpec(Address.agent(name), name, SETTINGS, blocks=(persona,))


def _dedicated_agent(user: str) -> AgentSpec:
    human = BlockSpec("human", f"User ID: {user}", Policy.SEED, limit=2000)
    return AgentSpec(
        Address.dedicated_agent(user),
        f"assistant-{user}",
        SETTINGS,
        tags=(f"user:{user}",),
        blocks=(human,),
        user_tag=f"user:{user}",
    )


def live_state(desired: DesiredState) -> LiveState:
    """The server holding exactly `desired` (as the reader would return it)."""
    tag = ownership.stack_tag(STACK)
    agents: list[LiveAgent] = []
    tagged: set[str] = set()
    for n, spec in enumerate(desired.agents):
        blocks = tuple(
            LiveBlock(f"block-{n}-{b.label}", b.label, b.value, b.limit, tags=(tag,), created_at="")
            for b in spec.blocks
        )
        tagged.update(b.id for b in blocks)
        agents.append(
            LiveAgent(
                id=f"agent-{n:07d}",
                name=spec.name,
                address=spec.address,
                created_at="2026-01-01T00:00:00",
                settings=spec.settings,
                tags=tuple(sorted({*spec.tags, tag})),
                metadata=freeze(ownership.agent_metadata(STACK, spec.address, {})),
                blocks=blocks,
            )
        )
    ids = {a.address: a.id for a in agents}
    conversations = tuple(
        LiveConversation(f"conv-{n:07d}", ids[c.agent], c.user_id, c.summary, "2026-01-01")
        for n, c in enumerate(desired.conversations)
    )
    identities = tuple(
        LiveIdentity(
            f"identity-{n:07d}", i.identifier_key, i.name, "user", i.properties, True, "2026"
        )
        for n, i in enumerate(desired.identities)
    )
    support = ids[Address.agent(SHARED_AGENTS[0])]
    agents = [
        replace(a, identity_ids=tuple(i.id for i in identities)) if a.id == support else a
        for a in agents
    ]
    parts = (
        (agent.LIVE, agent.Agents(tuple(agents))),
        (block.LIVE, block.Blocks(tagged=frozenset(tagged))),
        (conversation.LIVE, conversation.Conversations(conversations)),
        (identity.LIVE, identity.Identities(identities)),
    )
    return LiveState(STACK, {key.kind: part for key, part in parts})


def every_user_changed(desired: DesiredState) -> DesiredState:
    """The stack with every user changed: each conversation's summary, each identity's name
    and each dedicated agent's tags."""
    conversations = tuple(
        replace(c, summary=f"{c.summary} (renewed)") for c in desired.conversations
    )
    identities = tuple(replace(i, name=f"{i.name} (renewed)") for i in desired.identities)
    agents = tuple(
        replace(a, tags=(*a.tags, "renewed")) if a.user_tag else a for a in desired.agents
    )
    return replace(desired, agents=agents, conversations=conversations, identities=identities)


def changed(desired: DesiredState, share: float) -> DesiredState:
    """The stack with `share` of the conversations' summaries changed."""
    every = max(1, round(1 / share))
    conversations = tuple(
        replace(c, summary=f"{c.summary} (renewed)") if n % every == 0 else c
        for n, c in enumerate(desired.conversations)
    )
    return replace(desired, conversations=conversations)


def timed(step: Callable[[Any], Any], setup: Callable[[], Any], reps: int) -> tuple[float, Any]:
    """Median seconds of `reps` runs of `step(setup())`, the setup not timed (garbage
    collection paused while timing)."""
    times, result = [], None
    for _ in range(reps):
        argument = setup()
        gc.collect()
        gc.disable()
        began = time.process_time()
        result = step(argument)
        times.append(time.process_time() - began)
        gc.enable()
    return sorted(times)[len(times) // 2], result


def measure(size: int, reps: int) -> dict[str, Any]:
    """Each figure on a live state read afresh (as every run of the command has), so the
    planner's one-time indexing of the live state is counted."""
    desired = desired_state(size)
    edited = changed(desired, 0.01)

    def fresh() -> LiveState:
        return live_state(desired)

    noop_s, noop = timed(lambda live: build_plan(desired, live, target="t"), fresh, reps)
    assert not noop.changes, f"{len(noop.changes)} changes in a no-op plan"
    plan_s, plan = timed(lambda live: build_plan(edited, live, target="t"), fresh, reps)
    renewed = every_user_changed(desired)
    every_s, every = timed(lambda live: build_plan(renewed, live, target="t"), fresh, reps)
    assert len(every.changes) >= size, f"{len(every.changes)} changes for {size} users"
    empty_s, empty = timed(lambda live: build_plan(desired, live, target="t"), _empty, reps)
    assert len(empty.changes) >= size, f"{len(empty.changes)} creates for {size} users"
    figures = {
        "users": size,
        "no-op plan": noop_s,
        "1% plan": plan_s,
        "all changed": every_s,
        "from empty": empty_s,
        "changes": len(plan.changes),
    }
    renderers: dict[str, Callable[[Any], str]] = {
        "text": lambda p: render_text(p, color=False),
        "markdown": render_markdown,
        "json": render_json,
    }
    for name, render in renderers.items():
        figures[name], _ = timed(render, lambda: plan, reps)
    figures["peak RSS MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def _empty() -> LiveState:
    return LiveState(STACK)


GROWTH_LIMIT = 1.5
"""A figure's cost per user at a size may be at most this many times its cost at the
smallest size measured: more means a path that is not linear (or n log n) in users."""
PLANS = ("no-op plan", "1% plan", "all changed", "from empty")


def not_linear(rows: list[dict[str, Any]]) -> list[str]:
    """The plans whose cost per user grew more than GROWTH_LIMIT from the smallest size."""
    first = min(rows, key=lambda row: row["users"])
    flagged = []
    for row in rows:
        for name in PLANS:
            base = first[name] / first["users"]
            growth = (row[name] / row["users"]) / base if base > 0 else 1.0
            if row["users"] > first["users"] and growth > GROWTH_LIMIT:
                flagged.append(
                    f"NOT LINEAR: {name} costs {growth:.2f}x per user at {row['users']:,} users "
                    f"against {first['users']:,} (limit {GROWTH_LIMIT}x)"
                )
    return flagged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.planner_scale", description=__doc__)
    parser.add_argument(
        "--sizes",
        default=",".join(str(s) for s in DEFAULT_SIZES),
        help="comma-separated user counts (e.g. 10000,100000,1000000)",
    )
    parser.add_argument("--reps", type=int, default=3, help="runs of each figure (median)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    columns = (*PLANS, "text", "markdown", "json")
    print(f"{'users':>10}  " + "  ".join(f"{c:>22}" for c in columns) + "  peak RSS")
    rows = []
    for size in sizes:
        row = measure(size, args.reps)
        rows.append(row)
        cells = [f"{row[c]:7.3f} s {row[c] / size * 1e6:7.1f} µs/user" for c in columns]
        print(f"{size:>10,}  " + "  ".join(cells) + f"  {row['peak RSS MB']:.0f} MB", flush=True)
    flagged = not_linear(rows)
    for line in flagged:
        print(line)
    if len(rows) > 1 and not flagged:
        print(f"linear: every plan's cost per user within {GROWTH_LIMIT}x of the smallest size's")
    return 1 if flagged else 0


if __name__ == "__main__":
    sys.exit(main())
