"""Expansion: blueprints and users into the flat, sorted DesiredState.

Every user becomes exactly one resource: a dedicated agent, a conversation on a shared
agent, or an identity attached to one. Problems that depend on a user (references, missing
properties, agent names, values over their limit) are recorded here, one per user, except a
property none of a template's users has: one problem where the template uses it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from reconciler import collector
from reconciler.address import Address, in_order
from reconciler.desired import (
    AgentSpec,
    BlockSpec,
    ConversationSpec,
    DesiredState,
    IdentitySpec,
    Outline,
    Pattern,
    PruneSettings,
    SharedBlockSpec,
    manages_tools,
)
from reconciler.manifest.blueprints import (
    BlockPrint,
    Blueprint,
    Compiler,
    check_length,
    reserved_tag,
)
from reconciler.manifest.merge import Stack
from reconciler.manifest.missing import MissingProperties
from reconciler.manifest.problems import Problems, suggest
from reconciler.manifest.sources import SECTIONS, SourcePrint, compile_sources
from reconciler.manifest.tools import compile_mcp_server, compile_tool
from reconciler.manifest.users import User
from reconciler.manifest.variables import Text, user_values
from reconciler.ownership import RESERVED_PROPERTIES
from reconciler.values import freeze, shared

AGENT_NAME = re.compile(r"[\w '\-]+")
"""The characters the Letta server accepts in an agent name."""

NO_VALUES: dict[str, str] = {}


@dataclass(frozen=True)
class Blueprints:
    """The compiled definitions of a stack, by name."""

    blocks: dict[str, BlockPrint]
    templates: dict[str, Blueprint]
    agents: dict[str, Blueprint]
    sources: dict[str, dict[str, SourcePrint]]
    """By section (`reconciler.manifest.sources.SECTIONS`), its definitions by name."""


def compile_stack(stack: Stack, problems: Problems) -> Blueprints:
    """Compile every shared block, template and shared agent of the stack."""
    compiler = Compiler(stack, problems)
    sections = stack.definitions
    blocks = {name: compiler.shared_block(d) for name, d in sections["blocks"].items()}
    templates = {name: compiler.agent(d, blocks) for name, d in sections["templates"].items()}
    agents = {name: compiler.agent(d, blocks) for name, d in sections["agents"].items()}
    sources = {section.name: compile_sources(stack, section, problems) for section in SECTIONS}
    return Blueprints(blocks, templates, agents, sources)


def expand(
    stack: Stack, users: Iterable[User], problems: Problems, prints: Blueprints | None = None
) -> DesiredState:
    """The desired state of the stack; problems are recorded, not raised. `prints`: the
    stack's definitions if they are compiled already (`compile_stack`)."""
    with collector.paused():  # a spec per user, none in a reference cycle
        return _expand(stack, prints or compile_stack(stack, problems), users, problems)


def outline(stack: Stack, prints: Blueprints) -> Outline:
    """What the stack declares before its users: every secret its definitions declare, and
    whether it manages its agents' tools (None when only the users' templates tell)."""
    definitions = (*prints.templates.values(), *prints.agents.values())
    servers = [compile_mcp_server(d) for _, d in sorted(stack.definitions["mcpServers"].items())]
    secrets = [secret for bp in definitions for secret in bp.secrets or ()]
    secrets += [secret for server in servers for secret in server.credentials]
    tools: bool | None = any(manages_tools(bp) for bp in prints.agents.values())
    if not tools and any(manages_tools(bp) for bp in prints.templates.values()):
        tools = None
    return Outline(stack.name, tuple(secrets), tools)


def _expand(
    stack: Stack, prints: Blueprints, users: Iterable[User], problems: Problems
) -> DesiredState:
    agents = [a for bp in prints.agents.values() if (a := _agent(bp, None, problems))]
    missing = MissingProperties()
    conversations: list[ConversationSpec] = []
    identities: list[IdentitySpec] = []
    sources = _Sources(prints, stack, problems)
    for user in users:
        match user.pattern:
            case Pattern.DEDICATED:
                if (template := _template_of(user, prints, problems)) is not None:
                    agents.extend(_present(_agent(template, (user, missing), problems)))
                    sources.for_user(template, user)
            case Pattern.SHARED:
                if (agent := _agent_of(user, prints, problems)) is not None:
                    conversations.extend(_present(_conversation(agent, user, missing)))
            case Pattern.IDENTITY:
                if _agent_of(user, prints, problems) is not None:
                    identities.append(_identity(user, problems))
    missing.report(problems)
    return DesiredState(
        stack=stack.name,
        agents=_sorted(agents),
        blocks=_sorted(
            b for name, bp in prints.blocks.items() if (b := _shared_block(name, bp, stack))
        ),
        conversations=_sorted(conversations),
        identities=_sorted(identities),
        tools=tuple(
            tool
            for _, definition in sorted(stack.definitions["tools"].items())
            if (tool := compile_tool(definition, stack, problems))
        ),
        mcp_servers=tuple(
            compile_mcp_server(definition)
            for _, definition in sorted(stack.definitions["mcpServers"].items())
        ),
        prune=_prune(stack),
        redact_values=bool(stack.review["redactValues"].value)
        if "redactValues" in stack.review
        else False,
        **sources.specs(),
    )


class _Sources:
    """The specs of the sections agents list by name (`SECTIONS`): shared ones once, per-user
    ones for each dedicated user whose template lists them."""

    def __init__(self, prints: Blueprints, stack: Stack, problems: Problems) -> None:
        self.prints, self.stack, self.problems = prints, stack, problems
        self.found: dict[str, dict[Address, Any]] = {
            section.name: {
                spec.address: spec
                for spec in (
                    section.spec(source, NO_VALUES, stack, problems)
                    for source in prints.sources[section.name].values()
                    if not source.per_user
                )
            }
            for section in SECTIONS
        }

    def for_user(self, template: Blueprint, user: User) -> None:
        values = user_values(user.id, user.name, user.properties)
        for section in SECTIONS:
            for name, _ in template.listed[section.name]:
                source = self.prints.sources[section.name][name]
                if source.per_user and source.variables <= values.keys():
                    spec = section.spec(source, values, self.stack, self.problems)
                    self.found[section.name].setdefault(spec.address, spec)

    def specs(self) -> dict[str, Any]:
        """`DesiredState` field -> its specs, sorted by address."""
        return {
            name: tuple(found[key] for key in sorted(found)) for name, found in self.found.items()
        }


Spec = TypeVar("Spec", AgentSpec, SharedBlockSpec, ConversationSpec, IdentitySpec)
Item = TypeVar("Item")


def _sorted(specs: Iterable[Spec]) -> tuple[Spec, ...]:
    return tuple(sorted(specs, key=lambda spec: in_order(spec.address)))


def _present(item: Item | None) -> list[Item]:
    return [] if item is None else [item]


def _template_of(user: User, prints: Blueprints, problems: Problems) -> Blueprint | None:
    _not_for(user, ("agent",), problems)
    templates = prints.templates
    name = user.template
    if name is None and len(templates) == 1:
        name = next(iter(templates))
    if name is None:
        known = f"templates: {', '.join(sorted(templates))}" if templates else "none is defined"
        message = f"dedicated user '{user.id}' needs a 'template' ({known})"
        problems.add(user.loc, message, alike=f"dedicated users without a 'template' ({known})")
        return None
    if name not in templates:
        hint = suggest(name, templates) or _listing("templates", templates)
        message = f"user '{user.id}': unknown template '{name}'{hint}"
        problems.add(user.where("template"), message, alike=f"users of unknown template '{name}'")
        return None
    return templates[name]


def _agent_of(user: User, prints: Blueprints, problems: Problems) -> Blueprint | None:
    _not_for(user, ("template", "tags"), problems)
    agents = prints.agents
    if user.agent is None:
        known = f"agents: {', '.join(sorted(agents))}" if agents else "no shared agent is defined"
        message = f"{user.pattern} user '{user.id}' needs an 'agent' ({known})"
        problems.add(user.loc, message, alike=f"{user.pattern} users without an 'agent'")
        return None
    if user.agent not in agents:
        hint = suggest(user.agent, agents) or _listing("shared agents", agents)
        message = f"user '{user.id}': unknown shared agent '{user.agent}'{hint}"
        alike = f"users of unknown shared agent '{user.agent}'"
        problems.add(user.where("agent"), message, alike=alike)
        return None
    return agents[user.agent]


def _not_for(user: User, keys: tuple[str, ...], problems: Problems) -> None:
    for key in keys:
        if key in user.source:
            message = f"'{key}' does not apply to {user.pattern} user '{user.id}'"
            alike = f"{user.pattern} users with '{key}'"
            problems.add(user.where(key), f"{message}; {_APPLIES[key]}", alike=alike)


_APPLIES = {
    "agent": "it names the shared agent of shared and identity users",
    "template": "it names the template of dedicated users",
    "tags": "it adds tags to a dedicated user's own agent",
}


def _listing(what: str, names: Iterable[str]) -> str:
    known = sorted(names)
    return f" ({what}: {', '.join(known)})" if known else f" (no {what} are defined)"


def _agent(
    bp: Blueprint, served: tuple[User, MissingProperties] | None, problems: Problems
) -> AgentSpec | None:
    """A user's dedicated agent, or (without a user) a shared agent."""
    user, missing = served if served is not None else (None, None)
    values = _values(bp, user, missing)
    if values is None or not bp.complete:
        return None
    definition = bp.definition
    name = bp.name.render(values) if bp.name else default_name(definition.name, user)
    whose = f" (user '{user.id}')" if user else ""
    _check_name(name, bp, whose, problems)
    settings = {
        key: value.render(values) if isinstance(value, Text) else value
        for key, value in bp.settings.items()
    }
    return AgentSpec(
        address=Address.dedicated_agent(user.id) if user else Address.agent(definition.name),
        name=sys.intern(name),  # the strings a user's agent repeats are held once, the
        settings=shared(settings),  # live agent's too, and the settings of a template's users
        tags=_tags(bp, user, values, problems),
        user_tag=sys.intern(bp.user_tag.render(values)) if user else None,
        ignore_tags=bp.ignore_tags,
        tools=tuple(Address.tool(name) for name in bp.tools),
        exclusive_tools=bp.exclusive_tools,
        include_base_tools=bp.include_base_tools,
        secrets=bp.secrets,
        recompile_conversations=bp.recompile_conversations,
        metadata=shared(bp.metadata),
        blocks=tuple(_user_block(block, values, whose, problems) for block in bp.blocks),
        shared_blocks=tuple(Address.shared_block(name) for name in bp.shared_blocks),
        protected=bp.protected or (user.protected if user else False),
        attached=tuple(
            sorted(
                {
                    section.address(text.render(values))
                    for section in SECTIONS
                    for _, text in bp.listed[section.name]
                }
            )
        ),
    )


def default_name(template: str, user: User | None) -> str:
    """`<template>-<user id>`, with characters the server refuses in names made `-`."""
    user_id = user.id if user else ""
    return f"{template}-" + "".join(c if AGENT_NAME.fullmatch(c) else "-" for c in user_id)


def _check_name(name: str, bp: Blueprint, whose: str, problems: Problems) -> None:
    if AGENT_NAME.fullmatch(name):
        return
    allowed = "letters, digits, spaces, '-', '_' and apostrophes"
    loc = bp.name.loc if bp.name else bp.definition.loc
    message = f"agent name '{name}'{whose}: the server only accepts {allowed}"
    problems.add(loc, message, alike=f"agent names the server refuses (it only accepts {allowed})")


def _values(
    bp: Blueprint, user: User | None, missing: MissingProperties | None
) -> dict[str, str] | None:
    """Every variable value the user gives the agent's texts; None if one is missing (and
    for a shared agent, which has no user, if it uses any: reported when compiled)."""
    if user is None or missing is None:
        return None if bp.variables else NO_VALUES
    return missing.values(_what(bp), bp.texts, user)


def _what(bp: Blueprint) -> str:
    return f"{bp.definition.kind} '{bp.definition.name}'"


def _tags(
    bp: Blueprint, user: User | None, values: dict[str, str], problems: Problems
) -> tuple[str, ...]:
    tags = {text.render(values) for text in bp.tags}
    if user is not None:
        # A tag rendered from the user's values is checked as rendered, at the user's row.
        for text in bp.tags:
            if text.literal is None:
                whose = f" (rendered for user '{user.id}')"
                reserved_tag(text.render(values), user.loc, problems, bp.reserved_tags, whose)
        for tag in user.tags:
            reserved_tag(tag, user.where("tags"), problems, bp.reserved_tags)
        tags.update(user.tags)
        tags.add(bp.user_tag.render(values))
    return tuple(sorted(map(sys.intern, tags)))


def _user_block(
    block: BlockPrint, values: dict[str, str], whose: str, problems: Problems
) -> BlockSpec:
    spec = _block_spec(block, values)
    if block.value is not None and block.value.literal is None:
        check_length(block, spec.value, whose, problems)
    return spec


def _block_spec(block: BlockPrint, values: dict[str, str]) -> BlockSpec:
    return BlockSpec(
        label=block.label,
        value=_render(block.value, values),
        policy=block.policy,
        limit=block.limit,
        description=_render(block.description, values) if block.description else None,
        read_only=block.read_only,
    )


def _render(text: Text | None, values: dict[str, str]) -> str:
    return "" if text is None else text.render(values)


def _conversation(
    agent: Blueprint, user: User, missing: MissingProperties
) -> ConversationSpec | None:
    summary = agent.summary
    assert summary is not None
    values = missing.values(_what(agent), (summary,), user)
    if values is None:
        return None
    return ConversationSpec(
        address=Address.conversation(agent.shared_address, user.id),
        summary=summary.render(values),
        protected=user.protected,
    )


def _identity(user: User, problems: Problems) -> IdentitySpec:
    for reserved in RESERVED_PROPERTIES:
        if reserved in user.properties:
            message = f"property '{reserved}' is reserved for ownership records"
            problems.add(user.where("properties"), message)
    assert user.agent is not None
    return IdentitySpec(
        address=Address.identity(user.id),
        name=user.name or user.id,
        properties=freeze(user.properties),
        agents=(Address.agent(user.agent),),
        protected=user.protected,
    )


def _shared_block(name: str, block: BlockPrint, stack: Stack) -> SharedBlockSpec | None:
    if any(text.variables for text in block.texts):
        return None
    body = stack.definitions["blocks"][name].body
    return SharedBlockSpec(
        address=Address.shared_block(name),
        block=_block_spec(block, NO_VALUES),
        protected=bool(body.get("protected", False)),
    )


def _prune(stack: Stack) -> PruneSettings:
    settings = {key: setting.value for key, setting in stack.prune.items()}
    defaults = PruneSettings()
    return PruneSettings(
        enabled=bool(settings.get("enabled", defaults.enabled)),
        max_delete_percent=float(settings.get("maxDeletePercent", defaults.max_delete_percent)),
    )
