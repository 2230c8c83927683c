"""From a snapshot of the server to a stack: who the users are and which templates, shared
agents and shared blocks serve them.

Users come from the three patterns: a dedicated agent's `user:<id>` tag, a conversation on a
shared agent (its summary holds the user's id, as the seeds and the planner write it), an
identity attached to a shared agent. Dedicated agents alike in everything but their name,
description and memory values share a template; those per-user values become `${user.*}`
text where every user's value follows one, and otherwise a user property each
(`${user.properties.<key>}`), so every agent is reproduced exactly, its name included. A
block attached to several agents is a shared block.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler import ownership
from reconciler.address import USER_KEY_PREFIX
from reconciler.kinds.block import is_shared
from reconciler.live.state import LiveAgent, LiveBlock
from reconciler.manifest import schema
from reconciler.manifest.schema import fits
from reconciler.manifest.sources import SECTIONS
from reconciler.manifest.variables import literal
from reconciler.values import canonical

from . import definitions as defs
from .defaults import ServerDefaults
from .people import Users, conversation_users, identity_users
from .snapshot import Snapshot
from .sources import write_sources
from .text import ID_VARIABLE, Member, factor

NAME_PROPERTY = "agent_name"
DEFAULT_USER_TAG = ownership.DEFAULT_USER_TAG
USER_TAG = re.compile(r"[^\s]*\$\{user\.id\}[^\s]*")
"""What `defaults.userTag` may be (the manifest schema's pattern)."""
DESCRIPTION_PROPERTY = "agent_description"


@dataclass(frozen=True)
class ExportedStack:
    """The stack's manifest (without its users), the users, and what could not be exported."""

    document: dict[str, Any]
    users: list[dict[str, Any]]
    notes: tuple[str, ...]
    files: dict[str, str] = field(default_factory=dict)
    """More files the manifest names (tools' sources, the sections' files), by path relative
    to it."""
    globbed: tuple[str, ...] = ()
    """Directories the manifest's globs take whole: a file there the export does not write
    would be taken too."""

    @property
    def empty(self) -> bool:
        """Whether no agent was exported, nor anything of a section agents list by name (then
        there are no users nor blocks either)."""
        sections = ("templates", "agents", *(section.name for section in SECTIONS))
        return not any(self.document.get(section) for section in sections)


@dataclass
class _Fleet:
    """What is known so far: shared blocks by block id, keys in use, users, notes."""

    shared: dict[str, tuple[str, LiveBlock]] = field(default_factory=dict)
    keys: set[str] = field(default_factory=set)
    user_tag: str = DEFAULT_USER_TAG
    users: Users = field(default_factory=Users)
    notes: list[str] = field(default_factory=list)
    server: ServerDefaults = field(default_factory=ServerDefaults)
    links: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """Agent id -> section -> the names of what is exported of it attached to the agent."""


def infer(
    snapshot: Snapshot,
    name: str,
    stack: str | None = None,
    server: ServerDefaults | None = None,
) -> ExportedStack:
    """The stack `name` that reproduces `snapshot`; with `stack`, the snapshot holds that
    stack's marked resources and their addresses give the users' ids and the agents' keys.
    What `server` gives every agent by default is left out (by default: what the server
    gives any model)."""
    fleet = _Fleet(server=server or ServerDefaults())
    sources = write_sources(snapshot.sources, fleet.notes)
    fleet.links = sources.links
    dedicated, shared = _classify(snapshot.agents, stack, fleet)
    if stack is not None:
        fleet.user_tag = _user_tag(dedicated) or DEFAULT_USER_TAG
    fleet.shared = _shared_blocks([*(a for _, a in dedicated), *shared], fleet)
    templates = _templates(dedicated, fleet)
    agents, keys = _shared_agents(shared, stack, fleet)
    conversation_users(snapshot.conversations, keys, agents, fleet.users, fleet.notes)
    identity_users(snapshot.identities, snapshot.agents, keys, fleet.users, fleet.notes)
    if snapshot.marked:
        fleet.notes.append(
            f"{snapshot.marked} agent(s) a stack marked as its own left out "
            "(export a stack's resources with --stack)"
        )
    if snapshot.companions:
        fleet.notes.append(
            f"{snapshot.companions} sleep-time agent(s) left out: they come with their "
            "agent's enableSleeptime"
        )
    document: dict[str, Any] = {"apiVersion": "letta-apply/v1", "stack": name}
    defaults = _hoist([*templates.values(), *agents.values()])
    if fleet.user_tag != DEFAULT_USER_TAG:
        defaults["userTag"] = fleet.user_tag
    tools, files = defs.tool_sources(snapshot.tools, stack, fleet.notes)
    for section, value in (
        ("defaults", defaults),
        ("tools", tools),
        ("blocks", _block_section(fleet)),
        *sources.sections.items(),
        ("templates", templates),
        ("agents", agents),
    ):
        if value:
            document[section] = value
    notes = tuple(dict.fromkeys(fleet.notes))
    every_file = {**files, **sources.files}
    return ExportedStack(
        document, fleet.users.rows, notes, every_file, tuple(sorted(sources.globbed))
    )


def _classify(
    agents: Sequence[LiveAgent], stack: str | None, fleet: _Fleet
) -> tuple[list[tuple[str, LiveAgent]], list[LiveAgent]]:
    """Dedicated agents (with their user's id) and shared agents; agents with several user
    tags, or a user tag another agent also carries, are left out (which user is whose?)."""
    by_user: dict[str, list[LiveAgent]] = defaultdict(list)
    shared: list[LiveAgent] = []
    for agent in agents:
        users = _user_ids(agent, stack)
        if len(users) > 1:
            fleet.notes.append(f"agent {agent.name!r} left out: it carries {len(users)} user tags")
        elif users and not fits(schema.USER_ID, users[0]):
            fleet.notes.append(f"agent {agent.name!r} left out: {users[0]!r} is no valid user id")
        elif users:
            by_user[users[0]].append(agent)
        else:
            shared.append(agent)
    dedicated: list[tuple[str, LiveAgent]] = []
    for user, found in sorted(by_user.items()):
        if len(found) > 1:
            fleet.notes.append(f"user {user!r} left out: {len(found)} agents carry its tag")
        else:
            dedicated.append((user, found[0]))
    return dedicated, shared


def _user_tag(dedicated: Sequence[tuple[str, LiveAgent]]) -> str | None:
    """The stack's own user tag format (`defaults.userTag`), when every dedicated agent
    carries one tag holding its user's id the same way."""
    common: set[str] | None = None
    for user, agent in dedicated:
        found = {
            t.replace(user, ID_VARIABLE)
            for t in agent.tags
            if user in t and not t.startswith(ownership.TAG_PREFIX) and not t.isspace()
        }
        common = found if common is None else common & found
    if not common or DEFAULT_USER_TAG in common or len(common) > 1:
        return None
    found_tag = next(iter(common))
    return found_tag if USER_TAG.fullmatch(found_tag) else None


def _lookup_tag(fleet: _Fleet, user: str) -> str:
    """The user's lookup tag on its dedicated agent (the stack adds it, never declared)."""
    return fleet.user_tag.replace(ID_VARIABLE, user)


def _user_ids(agent: LiveAgent, stack: str | None) -> list[str]:
    if stack is not None and agent.address is not None:
        return [agent.address.user] if agent.address.user else []
    return [t.removeprefix(USER_KEY_PREFIX) for t in agent.tags if t.startswith(USER_KEY_PREFIX)]


def _shared_blocks(agents: Sequence[LiveAgent], fleet: _Fleet) -> dict[str, tuple[str, LiveBlock]]:
    """Blocks attached to more than one exported agent, and those a stack's record names as
    its shared blocks (under their recorded names), each with its key."""
    holders: dict[str, list[LiveBlock]] = defaultdict(list)
    for agent in agents:
        for live in agent.blocks:
            holders[live.id].append(live)
    recorded = {
        block_id: found[0].address.parts[0]
        for block_id, found in holders.items()
        if is_shared(found[0]) and found[0].address is not None
    }
    used = set(recorded.values())
    shared = {block_id: (key, holders[block_id][0]) for block_id, key in recorded.items()}
    for block_id, found in sorted(holders.items(), key=lambda item: (item[1][0].label, item[0])):
        if block_id not in shared and len(found) > 1 and fits(schema.LABEL, found[0].label):
            shared[block_id] = (defs.key_for(found[0].label, used, "block"), found[0])
    return shared


def _block_section(fleet: _Fleet) -> dict[str, Any]:
    section: dict[str, Any] = {}
    for key, live in sorted(fleet.shared.values(), key=lambda pair: pair[0]):
        body = defs.block(literal(live.value), _fitting_config(live))
        section[key] = {**({"label": live.label} if live.label != key else {}), **body}
        if live.protected:
            section[key]["protected"] = True
    return section


def _fitting_config(live: LiveBlock) -> dict[str, Any]:
    config = defs.block_config(live)
    if live.limit is not None and len(live.value) > live.limit:
        config.pop("limit", None)
    return config


def _own_blocks(agent: LiveAgent, fleet: _Fleet) -> list[LiveBlock]:
    """The agent's own blocks a manifest can declare (one per label)."""
    own = [b for b in agent.blocks if b.id not in fleet.shared]
    labels = [b.label for b in own]
    kept = [b for b in own if fits(schema.LABEL, b.label) and labels.count(b.label) == 1]
    if len(kept) < len(own):
        left = sorted({b.label for b in own} - {b.label for b in kept})
        fleet.notes.append(
            f"agent {agent.name!r}: block(s) {', '.join(map(repr, left))} left out "
            "(a label no manifest can hold, or held twice)"
        )
    return kept


def _common(agent: LiveAgent, fleet: _Fleet) -> dict[str, Any]:
    """What a template or shared agent declares besides its name and memory values."""
    listed, left = defs.tools(agent)
    if left:
        fleet.notes.append(
            f"agent {agent.name!r}: tool(s) {', '.join(map(repr, left))} not listed "
            "(MCP tools and names no manifest can hold are left as they are)"
        )
    body: dict[str, Any] = defs.settings(agent, fleet.server, fleet.notes)
    if (text := defs.description(agent)) is not None:
        body["description"] = text
    if not defs.includes_base_tools(agent):
        body["includeBaseTools"] = False
    for key, value in (
        ("tags", [literal(t) for t in defs.free_tags(agent)]),
        ("metadata", defs.metadata(agent)),
        ("tools", listed),
        ("toolRules", defs.tool_rules(agent, listed, fleet.notes)),
        (
            "sharedBlocks",
            sorted(fleet.shared[b.id][0] for b in agent.blocks if b.id in fleet.shared),
        ),
        *_listed(agent, fleet),
    ):
        if value:
            body[key] = value
    return body


def _listed(agent: LiveAgent, fleet: _Fleet) -> list[tuple[str, list[str]]]:
    """The names of each section's exported resources attached to the agent."""
    links = fleet.links.get(agent.id, {})
    return [(section.name, sorted(links.get(section.name, []))) for section in SECTIONS]


def _templates(
    dedicated: Sequence[tuple[str, LiveAgent]], fleet: _Fleet
) -> dict[str, dict[str, Any]]:
    """One template per group of dedicated agents alike but for names and memory values."""
    groups: dict[str, list[tuple[str, LiveAgent]]] = defaultdict(list)
    for user, agent in dedicated:
        described = "description" in (common := _common(agent, fleet))
        shape = {**common, "tags": None, "description": described}
        blocks = sorted((b.label, defs.block_config(b)) for b in _own_blocks(agent, fleet))
        groups[canonical((shape, blocks))].append((user, agent))
    templates: dict[str, dict[str, Any]] = {}
    for _, members in sorted(groups.items(), key=lambda item: item[1][0][0]):
        key, body = _template(members, fleet)
        templates[key] = body
    return templates


def _template(
    members: Sequence[tuple[str, LiveAgent]], fleet: _Fleet
) -> tuple[str, dict[str, Any]]:
    names: dict[str, str] = {}
    properties: dict[str, dict[str, str]] = defaultdict(dict)
    name = _field(members, [a.name for _, a in members], NAME_PROPERTY, names, properties)
    key = defs.key_for(name.split("${", 1)[0], fleet.keys, "assistant")
    body: dict[str, Any] = {"name": name, **_common(members[0][1], fleet)}
    if "description" in body:
        described = [str(a.settings.get("description")) for _, a in members]
        body["description"] = _field(members, described, DESCRIPTION_PROPERTY, names, properties)
    tag_sets = [set(defs.free_tags(agent)) - {_lookup_tag(fleet, u)} for u, agent in members]
    common = set.intersection(*tag_sets)
    body.pop("tags", None)
    if common:
        body["tags"] = [literal(t) for t in sorted(common)]
    if blocks := _template_blocks(members, fleet, names, properties):
        body["blocks"] = blocks
    for (user, agent), tags in zip(members, tag_sets, strict=True):
        fleet.users.add(
            user,
            "dedicated",
            name=names.get(user),
            template=key,
            tags=sorted(tags - common),
            properties=properties.get(user, {}),
            protected=agent.protected,
        )
    return key, body


def _template_blocks(
    members: Sequence[tuple[str, LiveAgent]],
    fleet: _Fleet,
    names: dict[str, str],
    properties: dict[str, dict[str, str]],
) -> dict[str, Any]:
    """The template's own blocks, each value one text or a property per user."""
    blocks: dict[str, Any] = {}
    used = {NAME_PROPERTY, DESCRIPTION_PROPERTY}
    for live in _own_blocks(members[0][1], fleet):
        values = [_label_value(agent, live.label) for _, agent in members]
        prop = live.label if fits(schema.PROPERTY_KEY, live.label) else f"block_{len(used)}"
        prop = prop if prop not in used else f"block_{len(used)}"
        used.add(prop)
        text = _field(members, values, prop, names, properties)
        config = defs.block_config(live)
        if "limit" in config and any(len(v) > config["limit"] for v in values):
            del config["limit"]
        blocks[live.label] = defs.block(text, config)
    return blocks


def _label_value(agent: LiveAgent, label: str) -> str:
    return next(b.value for b in agent.blocks if b.label == label)


def _field(
    members: Sequence[tuple[str, LiveAgent]],
    values: Sequence[str],
    prop: str,
    names: dict[str, str],
    properties: dict[str, dict[str, str]],
) -> str:
    """One text for every member's value, or a property per user holding it."""
    found = factor(
        [Member(user, names.get(user), v) for (user, _), v in zip(members, values, strict=True)]
    )
    if found is not None:
        names.update(found.names)
        return found.text
    for (user, _), value in zip(members, values, strict=True):
        properties[user][prop] = value
    return f"${{user.properties.{prop}}}"


def _shared_agents(
    agents: Sequence[LiveAgent], stack: str | None, fleet: _Fleet
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Shared agents by key, and agent id -> key. A name two agents hold is reported: the
    adoption of either by name would be ambiguous."""
    definitions: dict[str, dict[str, Any]] = {}
    keys: dict[str, str] = {}
    names = [a.name for a in agents]
    for agent in sorted(agents, key=lambda a: (a.name, a.created_at, a.id)):
        recorded = agent.address.parts[0] if stack and agent.address else agent.name
        key = defs.key_for(recorded, fleet.keys, "agent")
        if names.count(agent.name) > 1:
            fleet.notes.append(
                f"{names.count(agent.name)} shared agents are named {agent.name!r}: "
                "`--adopt` takes neither (rename one on the server first)"
            )
        body: dict[str, Any] = {"name": literal(agent.name)} if agent.name != key else {}
        body.update(_common(agent, fleet))
        blocks = {
            b.label: defs.block(literal(b.value), _fitting_config(b))
            for b in _own_blocks(agent, fleet)
        }
        if blocks:
            body["blocks"] = blocks
        if agent.protected:
            body["protected"] = True
        definitions[key] = body
        keys[agent.id] = key
    return definitions, keys


def _hoist(bodies: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Settings every template and shared agent holds alike, moved to `defaults`."""
    defaults: dict[str, Any] = {}
    for key in defs.HOISTED:
        values = {canonical(body.get(key)) for body in bodies}
        if bodies and len(values) == 1 and key in bodies[0]:
            defaults[key] = bodies[0][key]
            for body in bodies:
                del body[key]
    return defaults
