"""Planning agents, their own memory blocks, and the stack's shared blocks.

A seeded block's value is never overwritten: an agent's edit is reported as drift. An enforced
block is kept equal to the manifest. Limit, description and read-only always converge.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler import ownership
from reconciler.desired import AgentSpec, BlockSpec, DesiredState, Policy, SharedBlockSpec
from reconciler.live import LiveAgent, LiveBlock, LiveState
from reconciler.plan.builder import (
    Builder,
    changed_body,
    declared_users,
    dedupe,
    group,
    link,
    optional,
    prune_undeclared,
)
from reconciler.plan.diff import field_changes
from reconciler.plan.model import Action, Change, FieldChange, Kind, NoticeKind

JSON = Any


def plan_agents(
    desired: DesiredState, live: LiveState, out: Builder, prune: bool
) -> dict[str, LiveAgent]:
    """Plan agents and their own blocks; return the live agent kept for each address."""
    kept = dedupe(group(live.agents, lambda a: a.address), Kind.AGENT, out, prune)
    shared = {
        b.id: ownership.metadata_address(b.metadata, desired.stack) or b.id for b in live.blocks
    }
    shared_ids = set(shared)
    for spec in desired.agents:
        current = kept.get(spec.address)
        if current is None:
            _create_agent(spec, desired.stack, live, out)
        else:
            _update_agent(spec, current, desired.stack, out)
            _plan_agent_blocks(spec, current, shared, out, prune)
    prune_undeclared(
        out,
        prune,
        Kind.AGENT,
        kept,
        (spec.address for spec in desired.agents),
        declared_users(desired),
        protected=lambda agent: agent.protected,
        owned_blocks=lambda agent: _owned_block_ids(agent, shared_ids),
    )
    for agent in live.agents:
        if agent.address is None:
            out.notice(
                NoticeKind.CONFLICT,
                f"agent/{agent.name}",
                f"agent {agent.id} carries the stack tag but no address; left alone",
                resource_ids=(agent.id,),
            )
    return kept


def _managed_fields(spec: AgentSpec, stack: str) -> dict[str, JSON]:
    """The agent fields the stack manages, as the server should hold them."""
    return {
        "name": spec.name,
        "model": spec.model,
        "embedding": spec.embedding,
        "tags": _agent_tags(spec, stack),
        "metadata": _agent_metadata(spec, stack),
        **optional(description=spec.description, system=spec.system),
    }


def _create_agent(spec: AgentSpec, stack: str, live: LiveState, out: Builder) -> None:
    body = {
        **_managed_fields(spec, stack),
        "memory_blocks": [_block_body(b) for b in spec.blocks],
    }
    refs = {f"block:{name}": f"block/{name}" for name in spec.shared_blocks}
    out.change(
        Change(
            Action.CREATE, Kind.AGENT, spec.address, body=body, refs=refs, pattern=_pattern(spec)
        )
    )
    if spec.user_id is not None:
        _report_foreign(spec, live, out)


def _report_foreign(spec: AgentSpec, live: LiveState, out: Builder) -> None:
    tag = ownership.user_tag(spec.user_id or "")
    others = [a.id for a in live.foreign_agents if tag in a.tags]
    if others:
        out.notice(
            NoticeKind.CONFLICT,
            spec.address,
            f"{len(others)} agent(s) not owned by this stack already carry {tag}; "
            "they are left alone, and apps looking agents up by tag may find either",
            resource_ids=tuple(others),
        )


def _update_agent(spec: AgentSpec, agent: LiveAgent, stack: str, out: Builder) -> None:
    desired = _managed_fields(spec, stack)
    current = {
        "name": agent.name,
        "model": agent.model,
        "embedding": agent.embedding,
        "tags": sorted(agent.tags),
        "metadata": dict(agent.metadata),
        "description": agent.description,
        "system": agent.system,
    }
    fields = field_changes(current, desired)
    if fields:
        out.change(
            Change(
                Action.UPDATE,
                Kind.AGENT,
                spec.address,
                agent.id,
                fields,
                body=changed_body(desired, fields),
                pattern=_pattern(spec),
            )
        )


def _agent_tags(spec: AgentSpec, stack: str) -> list[str]:
    return sorted({*spec.tags, ownership.stack_tag(stack)})


def _agent_metadata(spec: AgentSpec, stack: str) -> dict[str, JSON]:
    metadata = ownership.agent_metadata(stack, spec.address, spec.metadata)
    if spec.protected:
        metadata[ownership.METADATA_KEY]["protected"] = True
    return metadata


def _plan_agent_blocks(
    spec: AgentSpec, agent: LiveAgent, shared: Mapping[str, str], out: Builder, prune: bool
) -> None:
    own = {b.label: b for b in agent.blocks if b.id not in shared}
    for block in spec.blocks:
        address = f"block/{spec.key}/{block.label}"
        current = own.get(block.label)
        if current is None:
            out.change(
                Change(
                    Action.CREATE,
                    Kind.BLOCK,
                    address,
                    body=_block_body(block),
                    refs={"agent": spec.address},
                    pattern=_pattern(spec),
                )
            )
        else:
            _update_block(block, current, address, out, _pattern(spec))
    prune_undeclared(
        out,
        prune,
        Kind.BLOCK,
        {f"block/{spec.key}/{label}": block for label, block in own.items()},
        (f"block/{spec.key}/{block.label}" for block in spec.blocks),
        {},
        protected=lambda _block: spec.protected,
    )
    _plan_attachments(spec, agent, shared, out)


def _plan_attachments(
    spec: AgentSpec, agent: LiveAgent, shared: Mapping[str, str], out: Builder
) -> None:
    """Shared blocks: attach the declared ones, detach owned ones no longer declared."""
    attached = {shared[b.id]: b.id for b in agent.blocks if b.id in shared}
    wanted = {f"block/{name}" for name in spec.shared_blocks}
    for address in sorted(wanted - attached.keys()):
        out.change(link(Action.ATTACH, spec.address, address, "block", None))
    for address in sorted(attached.keys() - wanted):
        out.change(link(Action.DETACH, spec.address, address, "block", attached[address]))


def _block_body(block: BlockSpec) -> dict[str, JSON]:
    return {
        "label": block.label,
        "value": block.value,
        **optional(limit=block.limit, description=block.description, read_only=block.read_only),
    }


def _update_block(
    block: BlockSpec, live: LiveBlock, address: str, out: Builder, pattern: str | None
) -> None:
    desired = optional(limit=block.limit, description=block.description, read_only=block.read_only)
    current = {"limit": live.limit, "description": live.description, "read_only": live.read_only}
    if block.policy is Policy.ENFORCE:
        desired["value"], current["value"] = block.value, live.value
    elif block.value != live.value:
        out.notice(
            NoticeKind.DRIFT,
            address,
            "the value differs from the seed; kept (policy: seed)",
            fields=(FieldChange("value", block.value, live.value),),
            resource_ids=(live.id,),
        )
    fields = field_changes(current, desired)
    if fields:
        out.change(
            Change(
                Action.UPDATE,
                Kind.BLOCK,
                address,
                live.id,
                fields,
                body=changed_body(desired, fields),
                pattern=pattern,
            )
        )


def plan_shared_blocks(desired: DesiredState, live: LiveState, out: Builder, prune: bool) -> None:
    by_address = dedupe(
        group(live.blocks, lambda b: ownership.metadata_address(b.metadata, desired.stack)),
        Kind.BLOCK,
        out,
        prune,
    )
    for spec in desired.blocks:
        current = by_address.get(spec.address)
        if current is None:
            out.change(
                Change(
                    Action.CREATE,
                    Kind.BLOCK,
                    spec.address,
                    body=_shared_block_body(spec, desired.stack),
                )
            )
        else:
            _update_block(spec.block, current, spec.address, out, None)
    prune_undeclared(
        out,
        prune,
        Kind.BLOCK,
        by_address,
        (spec.address for spec in desired.blocks),
        {},
        protected=lambda block: bool(
            block.metadata.get(ownership.METADATA_KEY, {}).get("protected")
        ),
    )


def _shared_block_body(spec: SharedBlockSpec, stack: str) -> dict[str, JSON]:
    record: dict[str, JSON] = {"stack": stack, "address": spec.address}
    if spec.protected:
        record["protected"] = True
    return {
        **_block_body(spec.block),
        "tags": [ownership.stack_tag(stack)],
        "metadata": {ownership.METADATA_KEY: record},
    }


def _owned_block_ids(agent: LiveAgent, shared_ids: set[str]) -> list[str]:
    """Blocks an agent owns (not the stack's shared blocks): removed along with the agent."""
    return [b.id for b in agent.blocks if b.id not in shared_ids]


def _pattern(spec: AgentSpec) -> str | None:
    return spec.pattern.value if spec.pattern is not None else None
