"""Templates, shared agents and shared blocks compiled once, with `defaults` applied.

A blueprint holds parsed texts (variables resolved to references), so expanding it for
thousands of users is plain string joining. Everything that does not depend on a user is
checked here, once: required settings, block labels, shared-block references, reserved names,
and `${user.*}` used where there is no user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from reconciler.address import Address
from reconciler.desired import Policy, SecretSpec
from reconciler.errors import Location
from reconciler.kinds import agent_settings
from reconciler.manifest.files import MANIFEST_MAX_BYTES, FileRef, read_reference
from reconciler.manifest.marked import MarkedList, MarkedMap, plain
from reconciler.manifest.merge import Definition, Stack
from reconciler.manifest.problems import Problems, suggest
from reconciler.manifest.reserved import (
    OWNERSHIP,
    USER_LOOKUPS,
    Reserved,
    glob_covers,
    reserved_by,
    reserved_forms,
)
from reconciler.manifest.sources import SECTIONS, Section
from reconciler.manifest.tools import check_rules
from reconciler.manifest.variables import Text, compile_text
from reconciler.ownership import DEFAULT_USER_TAG, METADATA_KEY, TAG_PREFIX
from reconciler.values import JSON

DEFAULT_BLOCK_LIMIT = 100_000
"""The server's limit for a block created without one (Letta 0.16.8,
`letta.constants.CORE_MEMORY_BLOCK_CHAR_LIMIT`)."""

DEFAULT_SUMMARY = "Support chat for ${user.id}"


@dataclass(frozen=True)
class BlockPrint:
    """A memory block as declared; `value` is None when its file could not be read. `what`
    names it in messages (`template 'assistant', block 'human'`)."""

    label: str
    what: str
    value: Text | None
    policy: Policy
    limit: int | None
    description: Text | None
    read_only: bool | None
    loc: Location

    @property
    def texts(self) -> tuple[Text, ...]:
        """The parsed texts of the block (for variable checks)."""
        return tuple(t for t in (self.value, self.description) if t is not None)


@dataclass(frozen=True)
class Blueprint:
    """A template or shared agent with defaults applied; `name` None for a template's
    default name. `settings` holds the agent kind's settings that are set
    (`reconciler.kinds.agent_settings.SETTINGS`), by server name: a `Text` where variables
    are allowed; `complete` is False when a required one is missing."""

    definition: Definition
    name: Text | None
    settings: dict[str, Any]
    complete: bool
    tags: tuple[Text, ...]
    metadata: dict[str, JSON]
    blocks: tuple[BlockPrint, ...]
    shared_blocks: tuple[str, ...]
    protected: bool
    summary: Text | None
    user_tag: Text
    """The tag a user's dedicated agent carries for lookups (`defaults.userTag`)."""
    ignore_tags: tuple[str, ...] = ()
    """Tag patterns left as the server has them (`ignoreTags`, with those of defaults)."""
    tools: tuple[str, ...] = ()
    """Names of the tools attached (`tools`, with those of defaults)."""
    exclusive_tools: bool = False
    include_base_tools: bool | None = None
    secrets: tuple[SecretSpec, ...] | None = None
    """`secrets` of defaults and the definition (the definition's win); None: unmanaged."""
    recompile_conversations: bool = True
    listed: dict[str, tuple[tuple[str, Text], ...]] = field(default_factory=dict)
    """By section (`reconciler.manifest.sources.SECTIONS`), the resources of it attached
    (with those of defaults, or instead of them): declared name, parsed."""
    reserved_tags: tuple[Reserved, ...] = (OWNERSHIP, USER_LOOKUPS)
    """The tags no manifest may declare (`reconciler.manifest.reserved`)."""

    @cached_property
    def shared_address(self) -> Address:
        """The address of the shared agent this is (a template's agents have one a user),
        made once for all the conversations on it."""
        return Address.agent(self.definition.name)

    @property
    def texts(self) -> tuple[Text, ...]:
        """Every text rendered into the agent itself (not the conversation summary)."""
        own = (*self.tags, *(t for b in self.blocks for t in b.texts))
        own = (*own, *(text for names in self.listed.values() for _, text in names))
        settings = (value for value in self.settings.values() if isinstance(value, Text))
        return (*own, *settings, *((self.name,) if self.name else ()))

    @property
    def variables(self) -> frozenset[str]:
        """The variables a user must provide for the agent."""
        return frozenset(name for text in self.texts for name in text.variables)


class Compiler:
    """Compiles the definitions of one stack, recording problems as it goes."""

    def __init__(self, stack: Stack, problems: Problems) -> None:
        self.stack = stack
        self.problems = problems
        self.defaults = stack.defaults
        self.user_tag = self._user_tag()
        self.reserved = reserved_forms(self.user_tag)

    def _user_tag(self) -> Text:
        """`defaults.userTag` (default `user:${user.id}`); it must name the user by id only,
        so that one agent carries it."""
        setting = self.defaults.get("userTag")
        if setting is None:
            return compile_text(DEFAULT_USER_TAG, self.stack.loc, self.problems)
        text = compile_text(setting.value, setting.loc, self.problems)
        if text.variables != {"user.id"}:
            self.problems.add(setting.loc, "userTag must contain ${user.id} and no other variable")
        elif setting.value.startswith(TAG_PREFIX):
            self.problems.add(
                setting.loc, f"userTag may not start with the reserved '{TAG_PREFIX}'"
            )
        return text

    def shared_block(self, definition: Definition) -> BlockPrint:
        """A top-level block; it serves many agents, so it may not use user variables."""
        body = definition.body
        label = body.get("label", definition.name)
        block = self._block(label, body, definition)
        self._no_user_variables(block.texts, f"shared block '{definition.name}'")
        return block

    def agent(self, definition: Definition, shared: dict[str, BlockPrint]) -> Blueprint:
        """A template (`kind == "template"`) or a shared agent."""
        body = definition.body
        blocks = body.get("blocks", MarkedMap(definition.loc))
        settings = self._settings(definition)
        blueprint = Blueprint(
            definition=definition,
            name=self._name(definition),
            settings=settings,
            complete=all(s.name in settings for s in agent_settings.SETTINGS if s.required),
            tags=self._tags(definition),
            metadata=self._metadata(definition),
            blocks=tuple(self._block(label, blocks[label], definition) for label in sorted(blocks)),
            shared_blocks=self._shared_names(definition, shared),
            protected=bool(body.get("protected", False)),
            summary=self._summary(definition),
            user_tag=self.user_tag,
            ignore_tags=self._ignore_tags(definition),
            tools=self._tools(definition),
            exclusive_tools=self._setting(body, "toolPolicy") == "exact",
            include_base_tools=self._setting(body, "includeBaseTools"),
            secrets=self._secrets(definition),
            recompile_conversations=bool(body.get("recompileConversations", True)),
            listed={section.name: self._listed(definition, section) for section in SECTIONS},
            reserved_tags=self.reserved,
        )
        rules = body.get("toolRules")
        default = self.defaults.get("toolRules")
        if rules is None and default is not None:
            rules, at = default.value, (lambda _index: default.loc)
        elif rules is not None:
            at = rules.item_loc
        if rules is not None:
            what = f"{definition.kind} '{definition.name}'"
            tools, base = blueprint.tools, blueprint.include_base_tools
            check_rules(plain(rules), tools, base, what, at, self.problems)
        if definition.kind == "agent":
            self._no_user_variables(blueprint.texts, f"shared agent '{definition.name}'")
        return blueprint

    def _name(self, definition: Definition) -> Text | None:
        body = definition.body
        if "name" in body:
            return compile_text(body["name"], body.value_loc("name"), self.problems)
        if definition.kind == "template":
            return None
        return compile_text(definition.name, definition.loc, self.problems)

    def _settings(self, definition: Definition) -> dict[str, Any]:
        """Every setting of the table that is set here or in defaults; a missing required
        one is a problem."""
        found: dict[str, Any] = {}
        for setting in agent_settings.SETTINGS:
            if setting.text:
                value: Any = self._text(definition.body, setting.manifest, defaults=True)
            else:
                value = self._setting(definition.body, setting.manifest)
            if value is not None and setting.convert is not None:
                value = setting.convert(plain(value))
            if value is not None:
                found[setting.name] = value
            elif setting.required:
                what = f"{definition.kind} '{definition.name}'"
                key = setting.manifest
                self.problems.add(
                    definition.loc, f"{what} has no {key}: set '{key}' here or in defaults"
                )
        return found

    def _setting(self, body: MarkedMap, key: str) -> Any:
        """The definition's value, else the default; a mapping set in both merges key by
        key, the definition's keys winning (as `metadata` does)."""
        default = self.defaults.get(key)
        if key not in body:
            return None if default is None else default.value
        if isinstance(body[key], MarkedMap) and default is not None:
            return {**plain(default.value), **plain(body[key])}
        return body[key]

    def _text(self, body: MarkedMap, key: str, *, defaults: bool = False) -> Text | None:
        if key in body:
            return compile_text(body[key], body.value_loc(key), self.problems)
        default = self.defaults.get(key) if defaults else None
        if default is None:
            return None
        return compile_text(default.value, default.loc, self.problems)

    def _tags(self, definition: Definition) -> tuple[Text, ...]:
        lists = [self.defaults["tags"].value] if "tags" in self.defaults else []
        lists.append(definition.body.get("tags", MarkedList(definition.loc)))
        texts: list[Text] = []
        for tags in lists:
            for index, tag in enumerate(tags):
                loc = tags.item_loc(index)
                reserved_tag(tag, loc, self.problems, self.reserved)
                texts.append(compile_text(tag, loc, self.problems))
        return tuple(texts)

    def _tools(self, definition: Definition) -> tuple[str, ...]:
        """`tools` of defaults and the definition; each of the stack's own by its key."""
        lists = [self.defaults["tools"].value] if "tools" in self.defaults else []
        lists.append(definition.body.get("tools", MarkedList(definition.loc)))
        return tuple(sorted({name for names in lists for name in names}))

    def _listed(self, definition: Definition, section: Section) -> tuple[tuple[str, Text], ...]:
        """The names of `section` the definition lists, with those of defaults when they add
        up, else the definition's or those of defaults."""
        listed: list[tuple[str, Location]] = []
        default = self.defaults.get(section.name)
        own = definition.body.get(section.name)
        if default is not None and (own is None or not section.one_per_agent):
            listed += [(name, default.loc) for name in default.value]
        if own is not None:
            listed += [(name, own.item_loc(index)) for index, name in enumerate(own)]
        declared = self.stack.definitions[section.name]
        found: dict[str, Text] = {}
        what = f"{definition.kind} '{definition.name}'"
        for name, loc in listed:
            if name in declared:
                found[name] = compile_text(name, loc, self.problems)
            else:
                hint = suggest(name, declared) or ""
                unknown = f"unknown {section.kind.value} '{name}'{hint}"
                self.problems.add(loc, f"{what}: {unknown}")
        return tuple((name, found[name]) for name in sorted(found))

    def _secrets(self, definition: Definition) -> tuple[SecretSpec, ...] | None:
        default = self.defaults.get("secrets")
        own = definition.body.get("secrets")
        if default is None and own is None:
            return None
        found = {
            **(_secret_specs(default.value) if default is not None else {}),
            **(_secret_specs(own) if own is not None else {}),
        }
        return tuple(found[name] for name in sorted(found))

    def _ignore_tags(self, definition: Definition) -> tuple[str, ...]:
        """`ignoreTags` of defaults and the definition; a pattern may not cover the tags the
        stack writes itself (ownership and user lookups)."""
        lists = [self.defaults["ignoreTags"].value] if "ignoreTags" in self.defaults else []
        lists.append(definition.body.get("ignoreTags", MarkedList(definition.loc)))
        found: list[str] = []
        for patterns in lists:
            for index, pattern in enumerate(patterns):
                covered = [str(form) for form in self.reserved if glob_covers(pattern, form)]
                if covered:
                    self.problems.add(
                        patterns.item_loc(index),
                        f"ignoreTags pattern '{pattern}' would cover the reserved tags "
                        f"({', '.join(covered)}): the stack writes those itself",
                    )
                found.append(pattern)
        return tuple(sorted(set(found)))

    def _metadata(self, definition: Definition) -> dict[str, JSON]:
        default = self.defaults.get("metadata")
        merged = dict(plain(self._setting(definition.body, "metadata") or {}))
        if METADATA_KEY in merged:
            own = definition.body.get("metadata", {})
            loc = own.loc if METADATA_KEY in own else (default.loc if default else definition.loc)
            self.problems.add(
                loc, f"metadata key '{METADATA_KEY}' is reserved for ownership records"
            )
            merged.pop(METADATA_KEY)
        return dict(sorted(merged.items()))

    def _summary(self, definition: Definition) -> Text | None:
        if definition.kind != "agent":
            return None
        body = definition.body
        if "conversationSummary" in body:
            return self._text(body, "conversationSummary")
        return compile_text(DEFAULT_SUMMARY, definition.loc, self.problems)

    def _block(self, label: str, body: MarkedMap, definition: Definition) -> BlockPrint:
        if definition.kind == "block":
            what = f"shared block '{definition.name}'"
        else:
            what = f"{definition.kind} '{definition.name}', block '{label}'"
        block = BlockPrint(
            label=label,
            what=what,
            value=self._block_value(body, definition),
            policy=Policy(body.get("policy", Policy.SEED.value)),
            limit=body.get("limit"),
            description=self._text(body, "description"),
            read_only=body.get("readOnly"),
            loc=body.loc,
        )
        if block.value is not None and (literal := block.value.literal) is not None:
            check_length(block, literal, "", self.problems)
        return block

    def _block_value(self, body: MarkedMap, definition: Definition) -> Text | None:
        if "value" in body:
            return compile_text(body["value"], body.value_loc("value"), self.problems)
        ref = FileRef("valueFrom", body["valueFrom"], definition.base, body.value_loc("valueFrom"))
        file = read_reference(ref, self.stack.root, MANIFEST_MAX_BYTES, self.problems)
        if file is None:
            return None
        start = Location(file.display, 1, 1)
        return compile_text(file.text, start, self.problems, whole_file=True)

    def _shared_names(
        self, definition: Definition, shared: dict[str, BlockPrint]
    ) -> tuple[str, ...]:
        names = definition.body.get("sharedBlocks", MarkedList(definition.loc))
        labels = {label: f"block '{label}'" for label in definition.body.get("blocks", {})}
        what = f"{definition.kind} '{definition.name}'"
        for index, name in enumerate(names):
            loc = names.item_loc(index)
            if name not in shared:
                hint = suggest(name, shared) or _known_blocks(shared)
                self.problems.add(loc, f"{what}: unknown shared block '{name}'{hint}")
            elif names.index(name) != index:
                self.problems.add(loc, f"{what}: shared block '{name}' is listed twice")
            elif (label := shared[name].label) in labels:
                message = (
                    f"{what}: shared block '{name}' has label '{label}', as has {labels[label]}"
                )
                self.problems.add(loc, f"{message}; an agent's block labels must be unique")
            else:
                labels[label] = f"shared block '{name}'"
        return tuple(sorted(set(names)))

    def _no_user_variables(self, texts: tuple[Text, ...], what: str) -> None:
        for text in texts:
            for name in sorted(text.variables):
                message = f"'${{{name}}}' cannot be used in {what}: it has no single user"
                self.problems.add(text.loc, message)


def _secret_specs(declared: MarkedMap) -> dict[str, SecretSpec]:
    return {
        name: SecretSpec(name, entry["valueFromEnv"], entry.value_loc("valueFromEnv"))
        for name, entry in declared.items()
    }


def _known_blocks(shared: dict[str, BlockPrint]) -> str:
    return (
        f" (top-level blocks: {', '.join(sorted(shared))})"
        if shared
        else " (no top-level blocks are defined)"
    )


def reserved_tag(
    tag: str, loc: Location, problems: Problems, forms: tuple[Reserved, ...], whose: str = ""
) -> None:
    """Tags for ownership and user lookups are the stack's to write, never a manifest's."""
    form = reserved_by(tag, forms)
    if form is not None:
        which = f"starting with '{form.before}'" if not form.after else f"of the form '{form}'"
        problems.add(loc, f"tag '{tag}'{whose}: tags {which} are reserved for {form.why}")


def check_length(block: BlockPrint, value: str, whose: str, problems: Problems) -> None:
    """Record a problem if `value` is over the block's limit (or the server's default)."""
    limit = block.limit or DEFAULT_BLOCK_LIMIT
    if len(value) <= limit:
        return
    which = "its limit" if block.limit else "the server's default limit"
    where = block.value.loc if block.value else block.loc
    message = f"value is {len(value)} characters, over {which} of {limit}"
    alike = f"{block.what}: values over {which} of {limit}"
    problems.add(where, f"{block.what}{whose}: {message}", alike=alike)
