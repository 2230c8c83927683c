"""Resources an agent lists by name and the server attaches to it (`AgentSpec.attached`): the
attaches and detaches that make the links match, planned the same way for each such kind."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from reconciler.address import Address, Kind
from reconciler.desired import DesiredState
from reconciler.kinds import agent
from reconciler.live.state import LiveState
from reconciler.plan.builder import Builder
from reconciler.plan.model import Attach, Create, Detach


class Attachable(Protocol):
    """A live resource the server attaches to agents, with the agents it is attached to."""

    @property
    def id(self) -> str: ...

    @property
    def agent_ids(self) -> tuple[str, ...]: ...


def plan_links(
    desired: DesiredState,
    live: LiveState,
    kept: Mapping[Address, Attachable],
    out: Builder,
    kind: Kind,
) -> None:
    """Attach each declared resource of `kind` to the agents listing it; detach the stack's
    resources from the stack's declared agents that no longer list them."""
    agents = agent.of(live).kept
    coming = {c.address for c in out.changes if isinstance(c, Create)}
    wanted = {(spec.address, address) for spec in desired.agents for address in spec.listing(kind)}
    for agent_address, address in sorted(wanted):
        current, resource = agents.get(agent_address), kept.get(address)
        if (current is None and agent_address not in coming) or (
            resource is None and address not in coming
        ):
            continue  # blocked: linked once both exist
        if current is None or resource is None or current.id not in resource.agent_ids:
            out.change(Attach(address, agent_address))
    if not kept:
        return  # nothing of the kind to detach (no index of every agent made for nothing)
    declared_agents = {spec.address for spec in desired.agents}
    by_id = {a.id: address for address, a in agents.items() if address in declared_agents}
    for address, resource in sorted(kept.items()):
        for agent_id in resource.agent_ids:
            linked = by_id.get(agent_id)
            if linked is not None and (linked, address) not in wanted:
                out.change(Detach(address, linked, resource.id))
