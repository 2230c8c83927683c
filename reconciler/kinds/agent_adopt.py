"""The agents `--adopt` takes over, with the memory blocks they hold
(`reconciler.planner.adoption`).

An agent no stack has marked is a candidate when it holds exactly one declared agent's key: a
dedicated user's `user:` tag, or a declared shared agent's name (and no user tag). Its own
blocks whose labels the manifest declares come with it. A declared shared block the stack
lacks is the one unmarked block of its label attached to the agents listing it; none where
they hold different blocks of that label (each agent's own copy is not one shared block).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TypeVar

from reconciler import ownership
from reconciler.address import USER_KEY_PREFIX, Address
from reconciler.desired import AgentSpec, DesiredState
from reconciler.kinds import block
from reconciler.kinds.agent_read import LIVE, of
from reconciler.kinds.common import Adoption, only
from reconciler.live.state import LiveAgent, LiveBlock, LiveState
from reconciler.values import freeze

Marked = TypeVar("Marked", LiveAgent, LiveBlock)


def adopting(desired: DesiredState, live: LiveState, found: Adoption) -> LiveState:
    """The live state with the adopted agents, their own blocks and the shared blocks they
    hold marked as the stack's."""
    held = block.of(live)
    taken, rest, own_blocks = _agents(desired, live, found)
    every = (*of(live).listed, *taken)
    shared = _shared_blocks(desired, live, every, own_blocks, found)
    marked = replace(
        held,
        shared=(*held.shared, *shared),
        tagged=held.tagged | own_blocks | {b.id for b in shared},
    )
    agents = replace(of(live), listed=every, foreign=rest)  # sleep-time groups kept
    return live.with_part(LIVE, agents).with_part(block.LIVE, marked)


def _agents(
    desired: DesiredState, live: LiveState, found: Adoption
) -> tuple[list[LiveAgent], tuple[LiveAgent, ...], frozenset[str]]:
    owned = {a.address for a in of(live).listed}
    foreign = of(live).foreign
    adopted: list[LiveAgent] = []
    taken: set[str] = set()
    own_blocks: set[str] = set()
    for spec in desired.agents:
        if spec.address in owned:
            continue
        agent = only([a for a in foreign if _claims(a, spec)])
        if agent is None or agent.id in taken:
            continue
        taken.add(agent.id)
        found.take(spec.address, agent.id)
        adopted.append(_marked(agent, spec.address, found.stack))
        labels = {b.label for b in spec.blocks}
        for live_block in agent.blocks:
            if live_block.label in labels and ownership.recorded_stack(live_block.metadata) is None:
                found.take(Address.agent_block(spec.address, live_block.label), live_block.id)
                own_blocks.add(live_block.id)
    rest = tuple(a for a in foreign if a.id not in taken)
    return adopted, rest, frozenset(own_blocks)


def _claims(agent: LiveAgent, spec: AgentSpec) -> bool:
    """Whether an unowned agent holds the key of the declared agent `spec`."""
    if ownership.recorded_stack(agent.metadata) is not None:
        return False
    if spec.user_tag is not None:
        return spec.user_tag in agent.tags
    users = any(tag.startswith(USER_KEY_PREFIX) for tag in agent.tags)
    return agent.name == spec.name and not users


def _marked(resource: Marked, address: Address, stack: str) -> Marked:
    """The agent or shared block as it is once adopted: the stack's tag and ownership record
    added."""
    others = {k: v for k, v in resource.metadata.items() if k != ownership.METADATA_KEY}
    return replace(
        resource,
        address=address,
        tags=tuple(sorted({*resource.tags, ownership.stack_tag(stack)})),
        metadata=freeze(ownership.agent_metadata(stack, address, others)),
    )


def _shared_blocks(
    desired: DesiredState,
    live: LiveState,
    agents: Sequence[LiveAgent],
    taken: frozenset[str],
    found: Adoption,
) -> list[LiveBlock]:
    """For each declared shared block the stack lacks, the one unmarked block with its label
    attached to the agents listing it."""
    owned = set(block.of(live).by_address)
    by_address = {a.address: a for a in agents if a.address is not None}
    adopted: list[LiveBlock] = []
    for spec in desired.blocks:
        if spec.address in owned:
            continue
        users = [
            by_address[a.address]
            for a in desired.agents
            if spec.address in a.shared_blocks and a.address in by_address
        ]
        candidates = {
            b.id: b
            for agent in users
            for b in agent.blocks
            if b.label == spec.block.label
            and b.id not in taken
            and b.id not in block.of(live).tagged
            and _unmarked_block(b, live)
        }
        held = only(list(candidates.values()))
        if held is not None:
            found.take(spec.address, held.id)
            adopted.append(_marked(held, spec.address, found.stack))
    return adopted


def _unmarked_block(held: LiveBlock, live: LiveState) -> bool:
    """No stack's ownership record or tag (an agent's own block made by another stack
    carries the tag only)."""
    stack_tagged = held.id in block.of(live).stack_tagged or any(
        tag.startswith(ownership.TAG_PREFIX) for tag in held.tags
    )
    return ownership.recorded_stack(held.metadata) is None and not stack_tagged
