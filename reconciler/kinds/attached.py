"""Resources an agent lists by name and the server attaches to it (`AgentSpec.attached`): the
attaches and detaches that make the links match, planned the same way for each such kind
(each saying, where the server limits an agent's links, which it would refuse)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from reconciler.address import Address, Kind, in_order
from reconciler.desired import DesiredState
from reconciler.kinds import agent
from reconciler.live.state import LiveState
from reconciler.plan.builder import Builder
from reconciler.plan.model import Attach, Create, Detach, Notice


class Attachable(Protocol):
    """A live resource the server attaches to agents, with the agents it is attached to."""

    @property
    def id(self) -> str: ...

    @property
    def agent_ids(self) -> tuple[str, ...]: ...


Refusal = Callable[[Address, Address, str], Notice | None]
"""Why the server would refuse to link the resource at the first address to the existing
agent at the second (of that id), as the plan's notice; None when it would not."""


def plan_links(
    desired: DesiredState,
    live: LiveState,
    kept: Mapping[Address, Attachable],
    out: Builder,
    kind: Kind,
    refused: Refusal = lambda _resource, _agent, _agent_id: None,
) -> None:
    """Attach each declared resource of `kind` to the agents listing it, unless the server
    would refuse it (`refused`: then the notice says why); detach the stack's resources from
    the stack's declared agents that no longer list them."""
    agents = agent.of(live).kept
    coming = {c.address for c in out.changes if isinstance(c, Create)}
    wanted = {(spec.address, address) for spec in desired.agents for address in spec.listing(kind)}
    for agent_address, address in sorted(wanted, key=lambda p: (in_order(p[0]), in_order(p[1]))):
        current, resource = agents.get(agent_address), kept.get(address)
        if (current is None and agent_address not in coming) or (
            resource is None and address not in coming
        ):
            continue  # blocked: linked once both exist
        if current is not None and resource is not None and current.id in resource.agent_ids:
            continue
        notice = refused(address, agent_address, current.id) if current is not None else None
        if notice is not None:
            out.notices.append(notice)
        else:
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
