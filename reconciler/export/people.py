"""The users of an exported stack, and the users found on shared agents: one per
conversation (its id from the summary, or from the stack's marker) and one per identity.

A user id is unique in a stack: a conversation or identity whose user already has another
resource is reported rather than merged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.live.state import LiveAgent, LiveIdentity
from reconciler.manifest import schema
from reconciler.manifest.schema import fits

from .snapshot import ServerConversation
from .text import Member, factor, split_ids

SUMMARY_PROPERTY = "summary"


@dataclass
class Users:
    """The users found so far, as manifest `users` entries, in the order found."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)

    def add(
        self,
        user_id: str,
        pattern: str,
        *,
        name: str | None = None,
        template: str | None = None,
        agent: str | None = None,
        tags: Sequence[str] = (),
        properties: Mapping[str, Any] | None = None,
        protected: bool = False,
    ) -> None:
        row: dict[str, Any] = {"id": user_id}
        if name is not None and name != user_id:
            row["name"] = name
        row["pattern"] = pattern
        for key, value in (("template", template), ("agent", agent)):
            if value is not None:
                row[key] = value
        if tags:
            row["tags"] = list(tags)
        if properties:
            row["properties"] = dict(properties)
        if protected:
            row["protected"] = True
        self.rows.append(row)
        self.ids.add(user_id)


def conversation_users(
    conversations: Sequence[ServerConversation],
    keys: Mapping[str, str],
    agents: dict[str, dict[str, Any]],
    users: Users,
    notes: list[str],
) -> None:
    """A shared user per conversation, and each shared agent's `conversationSummary`."""
    by_agent: dict[str, list[ServerConversation]] = defaultdict(list)
    for one in conversations:
        if one.agent_id in keys:
            by_agent[one.agent_id].append(one)
    for agent_id, found in sorted(by_agent.items(), key=lambda item: keys[item[0]]):
        key = keys[agent_id]
        found.sort(key=lambda c: c.id)
        summaries = _summaries(found, users.ids)
        if summaries is None:
            summaries = _kept_summaries(found)
            notes.append(
                f"agent {key}: the conversation summaries name no user id the stack can use "
                "(none, the same twice, or another user's); each user keeps its summary as a "
                "property"
            )
            if len({c.summary for c in found}) < len(found):
                notes.append(
                    f"agent {key}: several conversations have the same summary; `--adopt` "
                    "cannot tell them apart and takes none of those"
                )
        agents[key]["conversationSummary"] = summaries.text
        for user_id, extra in sorted(summaries.users.items()):
            if user_id in users.ids:
                notes.append(f"agent {key}: a conversation of user {user_id!r} left out (taken)")
                continue
            name = summaries.names.get(user_id)
            users.add(user_id, "shared", name=name, agent=key, properties=extra)


@dataclass(frozen=True)
class _Summaries:
    """A shared agent's `conversationSummary`, and its users: id -> properties, id -> name."""

    text: str
    users: dict[str, dict[str, Any]]
    names: Mapping[str, str] = field(default_factory=dict)


def _summaries(found: Sequence[ServerConversation], taken: set[str]) -> _Summaries | None:
    """The summary text and the users, when the summaries name the users (or the stack's
    markers did) and no id is another user's already."""
    if all(c.user_id is not None for c in found):
        ids = [str(c.user_id) for c in found]
        factored = factor([Member(i, None, c.summary) for i, c in zip(ids, found, strict=True)])
        if factored is None or len(set(ids)) < len(ids):
            return None
        return _Summaries(factored.text, {i: {} for i in ids}, factored.names)
    split = split_ids([c.summary for c in found])
    if split is None or taken.intersection(split.ids):
        return None
    return _Summaries(split.text, {i: {} for i in split.ids})


def _kept_summaries(found: Sequence[ServerConversation]) -> _Summaries:
    """Each user keeps its summary as a property; users are named by the stack's marker, or
    else by their conversation's id."""
    users = {(c.user_id or c.id): {SUMMARY_PROPERTY: c.summary} for c in found}
    return _Summaries(f"${{user.properties.{SUMMARY_PROPERTY}}}", users)


def identity_users(
    identities: Sequence[LiveIdentity],
    agents: Sequence[LiveAgent],
    keys: Mapping[str, str],
    users: Users,
    notes: list[str],
) -> None:
    """An identity user per identity attached to exactly one exported shared agent."""
    attached: dict[str, list[str]] = defaultdict(list)
    for agent in agents:
        for identity_id in agent.identity_ids:
            attached[identity_id].append(agent.id)
    for identity in sorted(identities, key=lambda i: i.identifier_key):
        where = attached.get(identity.id, [])
        problem = _problem(identity, where, keys, users)
        if problem is not None:
            notes.append(f"identity {identity.identifier_key!r} left out: {problem}")
            continue
        users.add(
            identity.identifier_key,
            "identity",
            name=identity.name or None,
            agent=keys[where[0]],
            properties=dict(identity.properties),
            protected=identity.protected,
        )


def _problem(
    identity: LiveIdentity, where: Sequence[str], keys: Mapping[str, str], users: Users
) -> str | None:
    """Why the identity cannot be a user of the stack, if it cannot."""
    key = identity.identifier_key
    if not fits(schema.USER_ID, key):
        return "its identifier_key is no valid user id"
    if key in users.ids:
        return "its user already has another resource in the stack"
    if len(where) != 1 or where[0] not in keys:
        return f"attached to {len(where)} agent(s), not to one shared agent"
    for name, value in identity.properties.items():
        if not fits(schema.PROPERTY_KEY, name) or not isinstance(value, str | int | float | bool):
            return f"property {name!r} is not one a manifest can hold"
    if identity.identity_type != "user":
        return f"its type is {identity.identity_type!r} (a manifest makes 'user' identities)"
    return None
