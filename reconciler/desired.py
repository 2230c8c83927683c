"""The desired state: the flat, typed, deterministic set of resources a stack declares.

Built from manifests by `reconciler.manifest`, consumed by the planner. Plain values only:
making one never touches the network. A field left as None (or absent from `settings`) is not
managed by the stack.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Any, Protocol

from reconciler.address import Address, Kind, Pattern
from reconciler.errors import Location
from reconciler.values import EMPTY, Frozen

__all__ = [
    "AgentSpec",
    "ArchiveSpec",
    "BlockSpec",
    "ConversationSpec",
    "DesiredState",
    "FileSpec",
    "FolderSpec",
    "IdentitySpec",
    "McpServerSpec",
    "Outline",
    "PassageSpec",
    "Pattern",
    "Policy",
    "PruneSettings",
    "SecretSpec",
    "SharedBlockSpec",
    "ToolSpec",
    "manages_tools",
]


class Policy(StrEnum):
    """How a memory block's value is managed once the block exists.

    SEED: the value is written when the block is created, then belongs to the agent.
    ENFORCE: the value is kept equal to the manifest; agent edits are overwritten.
    """

    SEED = "seed"
    ENFORCE = "enforce"


@dataclass(frozen=True, slots=True)
class BlockSpec:
    """A memory block as declared. `limit`/`description`/`read_only` always converge."""

    label: str
    value: str
    policy: Policy = Policy.SEED
    limit: int | None = None
    description: str | None = None
    read_only: bool | None = None


@dataclass(frozen=True)
class SecretSpec:
    """An agent secret: its name, the environment variable holding its value, where the
    manifest says so (`file:line:col`), and once sealed (`reconciler.secrets.seal`) the
    value's keyed digest. The value itself is never held."""

    name: str
    env: str
    loc: Location
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """An agent the stack owns: a user's dedicated agent (`agent/user:<id>`) or a shared one.

    `settings` holds the managed fields of the agent kind's settings table (model, embedding,
    system, ...) by their server name, only those the manifest declares. `tags` are the
    declared tags only (the ownership tag is added by the planner). `shared_blocks` are the
    stack-level blocks to attach.
    """

    address: Address
    name: str
    settings: Frozen = EMPTY
    tags: tuple[str, ...] = ()
    metadata: Frozen = EMPTY
    blocks: tuple[BlockSpec, ...] = ()
    shared_blocks: tuple[Address, ...] = ()
    protected: bool = False
    user_tag: str | None = None
    """A dedicated agent's lookup tag (also in `tags`): how apps find the user's agent."""
    ignore_tags: tuple[str, ...] = ()
    """Patterns of tags apps set at run time: left as the server has them."""
    tools: tuple[Address, ...] = ()
    """The tools attached to the agent: the stack's own and the server's (built-in) ones."""
    exclusive_tools: bool = False
    """Detach the tools `tools` does not list (`toolPolicy: exact`); the server's base tools
    stay unless `include_base_tools` is False."""
    include_base_tools: bool | None = None
    secrets: tuple[SecretSpec, ...] | None = None
    """The agent's secrets, replaced as a whole on the server; None: not managed."""
    recompile_conversations: bool = True
    """A shared agent's conversations are compiled again when its context changes."""
    attached: tuple[Address, ...] = ()
    """The stack's resources the agent lists by name and the server attaches to it (its
    folders, its archive), sorted."""

    @property
    def user_id(self) -> str | None:
        return self.address.user

    def listing(self, kind: Kind) -> tuple[Address, ...]:
        """The attached resources of `kind`."""
        return tuple(address for address in self.attached if address.kind is kind)

    @property
    def model(self) -> str:
        return str(self.settings["model"])

    @property
    def embedding(self) -> str:
        return str(self.settings["embedding"])


class DeclaresTools(Protocol):
    """An agent as declared: a spec, or a template or shared agent before any user's."""

    @property
    def tools(self) -> Sequence[object]: ...

    @property
    def exclusive_tools(self) -> bool: ...

    @property
    def settings(self) -> Mapping[str, object]: ...


def manages_tools(agent: DeclaresTools) -> bool:
    """Whether the agent's tools are managed: it lists tools or tool rules, or keeps only
    the tools it lists."""
    return bool(agent.tools) or agent.exclusive_tools or "tool_rules" in agent.settings


@dataclass(frozen=True)
class ToolSpec:
    """A custom Python tool the stack defines (`tool/<name>`): its source from a file in the
    repository, and the server's settings for it (None: not managed)."""

    address: Address
    source_code: str
    description: str | None = None
    pip_requirements: tuple[str, ...] | None = None
    return_char_limit: int | None = None
    requires_approval: bool | None = None
    protected: bool = False

    @property
    def name(self) -> str:
        return self.address.name


@dataclass(frozen=True)
class McpServerSpec:
    """An MCP server the stack runs tools from (`mcp-server/<name>`): a command started by
    the Letta server (`stdio`) or a URL (`streamable_http`, `sse`). `credentials` are the
    values read from the environment: `authToken`, `header:<name>`, `env:<name>`."""

    address: Address
    transport: str
    command: str | None = None
    args: tuple[str, ...] = ()
    url: str | None = None
    auth_header: str | None = None
    credentials: tuple[SecretSpec, ...] = ()
    protected: bool = False

    @property
    def name(self) -> str:
        return self.address.name


@dataclass(frozen=True, slots=True)
class SharedBlockSpec:
    """A stack-level block attached to many agents (e.g. company knowledge): `block/<name>`."""

    address: Address
    block: BlockSpec
    protected: bool = False


@dataclass(frozen=True, slots=True)
class ConversationSpec:
    """A shared-pattern user's conversation on a shared agent: `conversation/<agent>/<user>`."""

    address: Address
    summary: str
    protected: bool = False

    @property
    def agent(self) -> Address:
        owner = self.address.owner
        assert owner is not None
        return owner

    @property
    def user_id(self) -> str:
        return self.address.name


@dataclass(frozen=True, slots=True)
class IdentitySpec:
    """An identity-pattern user's identity (`identifier_key` = user id): `identity/<user>`.

    `agents` are the shared agents it is attached to.
    """

    address: Address
    name: str
    properties: Frozen = EMPTY
    agents: tuple[Address, ...] = ()
    identity_type: str = "user"
    protected: bool = False

    @property
    def identifier_key(self) -> str:
        return self.address.name


@dataclass(frozen=True)
class FileSpec:
    """A file of a folder (`file/<folder>/<name>`): its bytes and their SHA-256 (a file is
    identified by its content)."""

    address: Address
    name: str
    content: bytes
    digest: str

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True)
class FolderSpec:
    """A folder of files (`folder/<name>`, its name on the server). `embedding` None: the
    server's default; it is fixed once the folder exists."""

    address: Address
    name: str
    description: str | None = None
    instructions: str | None = None
    embedding: str | None = None
    files: tuple[FileSpec, ...] = ()
    protected: bool = False


@dataclass(frozen=True)
class PassageSpec:
    """A passage of an archive (`passage/<archive>/<key>`): the key is the source file (with
    `#<n>` for a chunk) or, for a passage written in the manifest, its text's digest."""

    address: Address
    text: str
    tags: tuple[str, ...] = ()
    digest: str = ""


@dataclass(frozen=True)
class ArchiveSpec:
    """An archive of passages (`archive/<name>`, its name on the server)."""

    address: Address
    name: str
    description: str | None = None
    embedding: str | None = None
    passages: tuple[PassageSpec, ...] = ()
    protected: bool = False


@dataclass(frozen=True)
class PruneSettings:
    """Deletion rules: nothing undeclared is deleted unless `enabled`; `max_delete_percent`
    guards against deleting most of a stack by accident."""

    enabled: bool = False
    max_delete_percent: float = 25.0


_SPECS = re.compile(r"tuple\[\w+Spec, \.\.\.\]")
"""The type of a `DesiredState` field listing declared resources."""


@dataclass(frozen=True)
class DesiredState:
    """Everything one stack declares, sorted by address so equal manifests give equal states."""

    stack: str
    agents: tuple[AgentSpec, ...] = ()
    blocks: tuple[SharedBlockSpec, ...] = ()
    conversations: tuple[ConversationSpec, ...] = ()
    identities: tuple[IdentitySpec, ...] = ()
    tools: tuple[ToolSpec, ...] = ()
    mcp_servers: tuple[McpServerSpec, ...] = ()
    folders: tuple[FolderSpec, ...] = ()
    archives: tuple[ArchiveSpec, ...] = ()
    prune: PruneSettings = PruneSettings()
    redact_values: bool = False
    """Plans shown to reviewers give memory block values as their length only."""
    destroyed: bool = False
    """The stack is being destroyed (`emptied`): what it owns goes for that reason."""

    def emptied(self) -> DesiredState:
        """The same stack declaring nothing, prune on: planned against the server, the
        removal of everything the stack owns (`destroy`), protected resources kept."""
        return DesiredState(
            stack=self.stack,
            prune=PruneSettings(enabled=True, max_delete_percent=self.prune.max_delete_percent),
            redact_values=self.redact_values,
            destroyed=True,
        )

    def only(self, addresses: Set[Address]) -> DesiredState:
        """The same stack declaring only the resources at `addresses`: every list of specs
        (a field typed `tuple[...Spec, ...]`) cut, whatever kinds the stack declares."""
        cut: dict[str, Any] = {
            spec.name: tuple(s for s in getattr(self, spec.name) if s.address in addresses)
            for spec in fields(self)
            if _SPECS.fullmatch(str(spec.type))
        }
        return replace(self, **cut)

    def declared_secrets(self) -> Iterator[tuple[Address, tuple[SecretSpec, ...]]]:
        """Every resource's secrets: agents' secrets and MCP servers' credentials."""
        for agent in self.agents:
            yield agent.address, agent.secrets or ()
        for server in self.mcp_servers:
            yield server.address, server.credentials

    def patterns(self) -> dict[str, Pattern]:
        """User id -> the pattern it is declared with now."""
        specs: tuple[AgentSpec | ConversationSpec | IdentitySpec, ...] = (
            *self.agents,
            *self.conversations,
            *self.identities,
        )
        return {
            user: pattern
            for spec in specs
            if (user := spec.address.user) is not None and (pattern := spec.address.pattern)
        }


@dataclass(frozen=True)
class Outline:
    """What a stack's manifests declare before its users files are read: enough to start
    reading the server while the users load (`reconciler.planning.plan_while_loading`)."""

    stack: str
    secrets: tuple[SecretSpec, ...] = ()
    """Every secret the manifests declare: the stack's agents and MCP servers have some of
    them (a template's, only if a user's agent is made from it)."""
    agent_tools: bool | None = False
    """Whether the stack manages any agent's tools (`manages_tools`); None when only the
    users tell (a template does, a shared agent does not)."""
