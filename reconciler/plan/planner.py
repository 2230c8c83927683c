"""The planner: desired state + live state (plain values) in, a `Plan` out. No I/O.

Rules it applies: only owned resources are updated or deleted; a seeded block's value is never
overwritten (an agent's edit is reported as drift); undeclared resources are deleted only with
prune and never when protected; a duplicate keeps the oldest resource.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler import ownership
from reconciler.desired import (
    AgentSpec,
    BlockSpec,
    ConversationSpec,
    DesiredState,
    IdentitySpec,
    Policy,
    SharedBlockSpec,
)
from reconciler.live import LiveAgent, LiveBlock, LiveConversation, LiveIdentity, LiveState
from reconciler.plan.diff import field_changes
from reconciler.plan.model import Action, Change, FieldChange, Kind, Notice, NoticeKind, Plan

JSON = Any


@dataclass
class _Builder:
    """Collects changes and notices while the planner walks the resources."""

    changes: list[Change] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)

    def change(self, change: Change) -> None:
        self.changes.append(change)

    def notice(self, kind: NoticeKind, address: str, message: str, **extra: Any) -> None:
        self.notices.append(Notice(kind, address, message, **extra))


def build_plan(
    desired: DesiredState, live: LiveState, *, target: str, prune: bool | None = None
) -> Plan:
    """Compare desired and live state and return the changes that make the server match."""
    prune_on = desired.prune.enabled if prune is None else prune
    out = _Builder()
    agents = _plan_agents(desired, live, out, prune_on)
    _plan_shared_blocks(desired, live, out, prune_on)
    _plan_conversations(desired, live, agents, out, prune_on)
    _plan_identities(desired, live, agents, out, prune_on)
    return Plan(
        stack=desired.stack,
        target=target,
        changes=tuple(sorted(out.changes, key=_change_order)),
        notices=tuple(sorted(out.notices, key=lambda n: (n.address, n.kind.value, n.message))),
        live_fingerprint=live.fingerprint(),
        prune=prune_on,
        owned_resources=live.owned_count(),
        max_delete_percent=desired.prune.max_delete_percent,
    )


def kept_ids(stack: str, live: LiveState) -> dict[str, str]:
    """Address -> id of the live resource a plan refers to (the oldest, for duplicates)."""
    ids: dict[str, str] = {}
    oldest_first = sorted(live.agents, key=lambda a: (a.created_at, a.id), reverse=True)
    ids.update((a.address, a.id) for a in oldest_first if a.address)
    for block in live.blocks:
        address = ownership.metadata_address(block.metadata, stack)
        if address:
            ids.setdefault(address, block.id)
    owned = sorted((i for i in live.identities if i.owned), key=lambda i: (i.created_at, i.id))
    for identity in reversed(owned):
        ids[f"identity/{identity.identifier_key}"] = identity.id
    return ids


_PHASE = {
    (Action.CREATE, Kind.BLOCK): 0,
    (Action.CREATE, Kind.IDENTITY): 0,
    (Action.CREATE, Kind.AGENT): 1,
}


def _change_order(change: Change) -> tuple[int, str, str, str]:
    """Apply order: Action order first (the enum's), creates of dependencies before agents."""
    action_rank = list(Action).index(change.action)
    phase = _PHASE.get((change.action, change.kind), 2)
    return (
        action_rank * 10 + phase,
        change.kind.value,
        change.address,
        change.refs.get("agent", ""),
    )


# Agents ---------------------------------------------------------------------------------------


def _plan_agents(
    desired: DesiredState, live: LiveState, out: _Builder, prune: bool
) -> dict[str, LiveAgent]:
    """Plan agents and their own blocks; return the live agent kept for each address."""
    kept = _dedupe(_group(live.agents, lambda a: a.address), Kind.AGENT, out, prune)
    shared = {
        b.id: ownership.metadata_address(b.metadata, desired.stack) or b.id for b in live.blocks
    }
    shared_ids = set(shared)
    declared = {spec.address for spec in desired.agents}
    for spec in desired.agents:
        current = kept.get(spec.address)
        if current is None:
            _create_agent(spec, desired.stack, live, out)
        else:
            _update_agent(spec, current, desired.stack, out)
            _plan_agent_blocks(spec, current, shared, out, prune)
    users = _declared_users(desired)
    for address, agent in kept.items():
        if address not in declared:
            _undeclared(
                out,
                prune,
                Kind.AGENT,
                address,
                agent.id,
                agent.protected,
                _moved_reason(address, users),
                _owned_block_ids(agent, shared_ids),
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


def _create_agent(spec: AgentSpec, stack: str, live: LiveState, out: _Builder) -> None:
    body = {
        "name": spec.name,
        "model": spec.model,
        "embedding": spec.embedding,
        "tags": _agent_tags(spec, stack),
        "metadata": _agent_metadata(spec, stack),
        "memory_blocks": [_block_body(b) for b in spec.blocks],
        **_optional(description=spec.description, system=spec.system),
    }
    refs = {f"block:{name}": f"block/{name}" for name in spec.shared_blocks}
    out.change(
        Change(
            Action.CREATE, Kind.AGENT, spec.address, body=body, refs=refs, pattern=_pattern(spec)
        )
    )
    if spec.user_id is not None:
        _report_foreign(spec, live, out)


def _report_foreign(spec: AgentSpec, live: LiveState, out: _Builder) -> None:
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


def _update_agent(spec: AgentSpec, agent: LiveAgent, stack: str, out: _Builder) -> None:
    desired = {
        "name": spec.name,
        "model": spec.model,
        "embedding": spec.embedding,
        "tags": _agent_tags(spec, stack),
        "metadata": _agent_metadata(spec, stack),
        **_optional(description=spec.description, system=spec.system),
    }
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
                body=_changed_body(desired, fields),
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
    spec: AgentSpec, agent: LiveAgent, shared: Mapping[str, str], out: _Builder, prune: bool
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
    declared_labels = {b.label for b in spec.blocks}
    for label, extra in own.items():
        if label not in declared_labels:
            _undeclared(
                out,
                prune,
                Kind.BLOCK,
                f"block/{spec.key}/{label}",
                extra.id,
                spec.protected,
                "no longer declared",
            )
    _plan_attachments(spec, agent, shared, out)


def _plan_attachments(
    spec: AgentSpec, agent: LiveAgent, shared: Mapping[str, str], out: _Builder
) -> None:
    """Shared blocks: attach the declared ones, detach owned ones no longer declared."""
    attached = {shared[b.id]: b.id for b in agent.blocks if b.id in shared}
    wanted = {f"block/{name}" for name in spec.shared_blocks}
    for address in sorted(wanted - attached.keys()):
        out.change(_link(Action.ATTACH, spec.address, address, "block", None))
    for address in sorted(attached.keys() - wanted):
        out.change(_link(Action.DETACH, spec.address, address, "block", attached[address]))


def _link(action: Action, agent: str, other: str, role: str, other_id: str | None) -> Change:
    refs = {"agent": agent, role: other}
    return Change(
        action,
        Kind.BLOCK if role == "block" else Kind.IDENTITY,
        f"{agent}/{other}",
        other_id,
        refs=refs,
    )


# Blocks ---------------------------------------------------------------------------------------


def _block_body(block: BlockSpec) -> dict[str, JSON]:
    return {
        "label": block.label,
        "value": block.value,
        **_optional(limit=block.limit, description=block.description, read_only=block.read_only),
    }


def _update_block(
    block: BlockSpec, live: LiveBlock, address: str, out: _Builder, pattern: str | None
) -> None:
    desired = _optional(limit=block.limit, description=block.description, read_only=block.read_only)
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
                body=_changed_body(desired, fields),
                pattern=pattern,
            )
        )


def _plan_shared_blocks(desired: DesiredState, live: LiveState, out: _Builder, prune: bool) -> None:
    by_address = _dedupe(
        _group(live.blocks, lambda b: ownership.metadata_address(b.metadata, desired.stack)),
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
    declared = {spec.address for spec in desired.blocks}
    for address, block in by_address.items():
        if address not in declared:
            protected = bool(block.metadata.get(ownership.METADATA_KEY, {}).get("protected"))
            _undeclared(out, prune, Kind.BLOCK, address, block.id, protected, "no longer declared")


def _shared_block_body(spec: SharedBlockSpec, stack: str) -> dict[str, JSON]:
    record: dict[str, JSON] = {"stack": stack, "address": spec.address}
    if spec.protected:
        record["protected"] = True
    return {
        **_block_body(spec.block),
        "tags": [ownership.stack_tag(stack)],
        "metadata": {ownership.METADATA_KEY: record},
    }


# Conversations --------------------------------------------------------------------------------


def _plan_conversations(
    desired: DesiredState,
    live: LiveState,
    agents: Mapping[str, LiveAgent],
    out: _Builder,
    prune: bool,
) -> None:
    key_of = {a.id: (a.address or "").removeprefix("agent/") for a in agents.values()}

    def address(c: LiveConversation) -> str:
        return f"conversation/{key_of.get(c.agent_id, c.agent_id)}/{c.user_id}"

    kept = _dedupe(_group(live.conversations, address), Kind.CONVERSATION, out, prune)
    for spec in desired.conversations:
        current = kept.get(spec.address)
        if current is None:
            out.change(_create_conversation(spec, desired.stack))
        elif current.summary != spec.summary:
            body = {
                "summary": ownership.conversation_summary(spec.summary, desired.stack, spec.user_id)
            }
            out.change(
                Change(
                    Action.UPDATE,
                    Kind.CONVERSATION,
                    spec.address,
                    current.id,
                    (FieldChange("summary", current.summary, spec.summary),),
                    body=body,
                    pattern="shared",
                )
            )
    users = _declared_users(desired)
    declared = {spec.address for spec in desired.conversations}
    for addr, conversation in kept.items():
        if addr not in declared:
            _undeclared(
                out,
                prune,
                Kind.CONVERSATION,
                addr,
                conversation.id,
                False,
                _moved_reason(addr, users),
            )


def _create_conversation(spec: ConversationSpec, stack: str) -> Change:
    body = {"summary": ownership.conversation_summary(spec.summary, stack, spec.user_id)}
    return Change(
        Action.CREATE,
        Kind.CONVERSATION,
        spec.address,
        body=body,
        refs={"agent": f"agent/{spec.agent_key}"},
        pattern="shared",
    )


# Identities -----------------------------------------------------------------------------------


def _plan_identities(
    desired: DesiredState,
    live: LiveState,
    agents: Mapping[str, LiveAgent],
    out: _Builder,
    prune: bool,
) -> None:
    owned = [i for i in live.identities if i.owned]
    kept = _dedupe(
        _group(owned, lambda i: f"identity/{i.identifier_key}"), Kind.IDENTITY, out, prune
    )
    foreign = {i.identifier_key: i for i in live.identities if not i.owned}
    for spec in desired.identities:
        current = kept.get(spec.address)
        if current is None and spec.identifier_key in foreign:
            out.notice(
                NoticeKind.CONFLICT,
                spec.address,
                f"an identity with identifier_key {spec.identifier_key!r} exists and "
                "is not owned by this stack; adopt it to manage it",
                resource_ids=(foreign[spec.identifier_key].id,),
            )
            continue
        if current is None:
            out.change(
                Change(
                    Action.CREATE,
                    Kind.IDENTITY,
                    spec.address,
                    body=_identity_body(spec, desired.stack),
                    pattern="identity",
                )
            )
        else:
            _update_identity(spec, current, desired.stack, out)
        _plan_identity_links(spec, current, agents, out)
    _detach_stale_identities(desired, kept, agents, out)
    users = _declared_users(desired)
    declared = {spec.address for spec in desired.identities}
    for addr, identity in kept.items():
        if addr not in declared:
            protected = bool(identity.properties.get(ownership.IDENTITY_PROTECTED_KEY))
            _undeclared(
                out, prune, Kind.IDENTITY, addr, identity.id, protected, _moved_reason(addr, users)
            )


def _identity_body(spec: IdentitySpec, stack: str) -> dict[str, JSON]:
    return {
        "identifier_key": spec.identifier_key,
        "name": spec.name,
        "identity_type": spec.identity_type,
        "properties": _identity_properties(spec, stack),
    }


def _identity_properties(spec: IdentitySpec, stack: str) -> list[dict[str, JSON]]:
    values: dict[str, JSON] = {**spec.properties, ownership.IDENTITY_MARKER_KEY: stack}
    if spec.protected:
        values[ownership.IDENTITY_PROTECTED_KEY] = True
    return [{"key": k, "value": v, "type": _property_type(v)} for k, v in sorted(values.items())]


def _property_type(value: JSON) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "json" if isinstance(value, dict | list) else "string"


def _update_identity(spec: IdentitySpec, live: LiveIdentity, stack: str, out: _Builder) -> None:
    desired_props = dict(spec.properties)
    if spec.protected:
        desired_props[ownership.IDENTITY_PROTECTED_KEY] = True
    desired = {"name": spec.name, "identity_type": spec.identity_type, "properties": desired_props}
    current = {
        "name": live.name,
        "identity_type": live.identity_type,
        "properties": dict(live.properties),
    }
    fields = field_changes(current, desired)
    if fields:
        body = {**_changed_body(desired, fields)}
        if "properties" in body:
            body["properties"] = _identity_properties(spec, stack)
        out.change(
            Change(
                Action.UPDATE,
                Kind.IDENTITY,
                spec.address,
                live.id,
                fields,
                body=body,
                pattern="identity",
            )
        )


def _plan_identity_links(
    spec: IdentitySpec,
    current: LiveIdentity | None,
    agents: Mapping[str, LiveAgent],
    out: _Builder,
) -> None:
    for key in spec.agent_keys:
        agent = agents.get(f"agent/{key}")
        if current is None or agent is None or current.id not in agent.identity_ids:
            change = _link(Action.ATTACH, f"agent/{key}", spec.address, "identity", None)
            out.change(
                Change(
                    change.action, change.kind, change.address, refs=change.refs, pattern="identity"
                )
            )


def _detach_stale_identities(
    desired: DesiredState,
    kept: Mapping[str, LiveIdentity],
    agents: Mapping[str, LiveAgent],
    out: _Builder,
) -> None:
    wanted = {(f"agent/{k}", s.address) for s in desired.identities for k in s.agent_keys}
    address_of = {identity.id: address for address, identity in kept.items()}
    for agent_address, agent in agents.items():
        for identity_id in agent.identity_ids:
            identity_address = address_of.get(identity_id)
            if identity_address and (agent_address, identity_address) not in wanted:
                out.change(
                    _link(Action.DETACH, agent_address, identity_address, "identity", identity_id)
                )


# Shared helpers -------------------------------------------------------------------------------


def _group(items: Iterable[Any], address_of: Any) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = defaultdict(list)
    for item in items:
        address = address_of(item)
        if address is not None:
            groups[address].append(item)
    return groups


def _dedupe(
    groups: Mapping[str, Sequence[Any]], kind: Kind, out: _Builder, prune: bool
) -> dict[str, Any]:
    """Keep the oldest resource per address; report the rest (deleted only with prune)."""
    kept: dict[str, Any] = {}
    for address, items in sorted(groups.items()):
        ordered = sorted(
            items, key=lambda r: (r.created_at if hasattr(r, "created_at") else "", r.id)
        )
        kept[address] = ordered[0]
        extra = ordered[1:]
        if not extra:
            continue
        ids = tuple(r.id for r in ordered)
        out.notice(
            NoticeKind.DUPLICATE,
            address,
            f"{len(ordered)} owned {kind.value}s claim this address; keeping the oldest "
            f"({ordered[0].id}); "
            + ("deleting the others" if prune else "enable prune to delete the others"),
            resource_ids=ids,
        )
        if prune:
            for item in extra:
                out.change(
                    Change(
                        Action.DELETE,
                        kind,
                        address,
                        item.id,
                        reason="duplicate",
                        body=_duplicate_body(item),
                    )
                )
    return kept


def _duplicate_body(item: Any) -> dict[str, JSON]:
    return {"block_ids": []} if isinstance(item, LiveAgent) else {}


def _undeclared(
    out: _Builder,
    prune: bool,
    kind: Kind,
    address: str,
    resource_id: str,
    protected: bool,
    reason: str,
    block_ids: Sequence[str] = (),
) -> None:
    if protected:
        out.notice(
            NoticeKind.PROTECTED,
            address,
            f"{reason}; protected, so it is not deleted",
            resource_ids=(resource_id,),
        )
    elif not prune:
        out.notice(
            NoticeKind.UNDECLARED,
            address,
            f"{reason}; kept (enable prune to delete it)",
            resource_ids=(resource_id,),
        )
    else:
        body = {"block_ids": list(block_ids)} if kind is Kind.AGENT else {}
        out.change(Change(Action.DELETE, kind, address, resource_id, reason=reason, body=body))


def _owned_block_ids(agent: LiveAgent, shared_ids: set[str]) -> list[str]:
    """Blocks an agent owns (not the stack's shared blocks): removed along with the agent."""
    return [b.id for b in agent.blocks if b.id not in shared_ids]


def _declared_users(desired: DesiredState) -> dict[str, str]:
    """User id -> the pattern it is declared with now."""
    users: dict[str, str] = {}
    for agent in desired.agents:
        if agent.user_id is not None:
            users[agent.user_id] = "dedicated"
    for conversation in desired.conversations:
        users[conversation.user_id] = "shared"
    for identity in desired.identities:
        users[identity.identifier_key] = "identity"
    return users


def _moved_reason(address: str, users: Mapping[str, str]) -> str:
    user_id = _user_of(address)
    if user_id is not None and user_id in users:
        return f"user {user_id} is now declared with pattern {users[user_id]}"
    return "no longer declared"


def _user_of(address: str) -> str | None:
    kind, _, rest = address.partition("/")
    if kind == "agent" and rest.startswith("user:"):
        return rest.removeprefix("user:")
    if kind == "conversation":
        return rest.rpartition("/")[2]
    return rest if kind == "identity" else None


def _pattern(spec: AgentSpec) -> str | None:
    return spec.pattern.value if spec.pattern is not None else None


def _optional(**values: JSON) -> dict[str, JSON]:
    """Only the fields the manifest sets: a None field is not managed."""
    return {k: v for k, v in values.items() if v is not None}


def _changed_body(desired: Mapping[str, JSON], fields: Sequence[FieldChange]) -> dict[str, JSON]:
    top = {f.path.split(".", 1)[0] for f in fields}
    return {k: desired[k] for k in sorted(top)}
