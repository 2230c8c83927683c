"""Planning shared-pattern users' conversations and identity-pattern users' identities.

An identity whose key is taken by a resource the stack does not own is a conflict to adopt,
never something to overwrite.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler import ownership
from reconciler.desired import ConversationSpec, DesiredState, IdentitySpec
from reconciler.live import LiveAgent, LiveConversation, LiveIdentity, LiveState
from reconciler.plan.builder import (
    Builder,
    changed_body,
    declared_users,
    dedupe,
    group,
    link,
    prune_undeclared,
)
from reconciler.plan.diff import field_changes
from reconciler.plan.model import Action, Change, FieldChange, Kind, NoticeKind

JSON = Any


def plan_conversations(
    desired: DesiredState,
    live: LiveState,
    agents: Mapping[str, LiveAgent],
    out: Builder,
    prune: bool,
) -> None:
    key_of = {a.id: (a.address or "").removeprefix("agent/") for a in agents.values()}

    def address(c: LiveConversation) -> str:
        return f"conversation/{key_of.get(c.agent_id, c.agent_id)}/{c.user_id}"

    kept = dedupe(group(live.conversations, address), Kind.CONVERSATION, out, prune)
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
    declared = (spec.address for spec in desired.conversations)
    prune_undeclared(out, prune, Kind.CONVERSATION, kept, declared, declared_users(desired))


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


def plan_identities(
    desired: DesiredState,
    live: LiveState,
    agents: Mapping[str, LiveAgent],
    out: Builder,
    prune: bool,
) -> None:
    owned = [i for i in live.identities if i.owned]
    kept = dedupe(group(owned, lambda i: f"identity/{i.identifier_key}"), Kind.IDENTITY, out, prune)
    foreign = {i.identifier_key: i for i in live.identities if not i.owned}
    for spec in desired.identities:
        current = kept.get(spec.address)
        if current is None and spec.identifier_key in foreign:
            out.notice(
                NoticeKind.BLOCKED,
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
    prune_undeclared(
        out,
        prune,
        Kind.IDENTITY,
        kept,
        (spec.address for spec in desired.identities),
        declared_users(desired),
        protected=lambda identity: bool(identity.properties.get(ownership.IDENTITY_PROTECTED_KEY)),
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


def _update_identity(spec: IdentitySpec, live: LiveIdentity, stack: str, out: Builder) -> None:
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
        body = {**changed_body(desired, fields)}
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
    out: Builder,
) -> None:
    for key in spec.agent_keys:
        agent = agents.get(f"agent/{key}")
        if current is None or agent is None or current.id not in agent.identity_ids:
            change = link(Action.ATTACH, f"agent/{key}", spec.address, "identity", None)
            out.change(
                Change(
                    change.action, change.kind, change.address, refs=change.refs, pattern="identity"
                )
            )


def _detach_stale_identities(
    desired: DesiredState,
    kept: Mapping[str, LiveIdentity],
    agents: Mapping[str, LiveAgent],
    out: Builder,
) -> None:
    wanted = {(f"agent/{k}", s.address) for s in desired.identities for k in s.agent_keys}
    address_of = {identity.id: address for address, identity in kept.items()}
    for agent_address, agent in agents.items():
        for identity_id in agent.identity_ids:
            identity_address = address_of.get(identity_id)
            if identity_address and (agent_address, identity_address) not in wanted:
                out.change(
                    link(Action.DETACH, agent_address, identity_address, "identity", identity_id)
                )
