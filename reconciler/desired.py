"""The desired state: the flat, typed, deterministic set of resources a stack declares.

Built from manifests by `reconciler.manifest`, consumed by the planner. Plain values only:
making one never touches the network. A field left as None is not managed by the stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

JSON = Any
"""A value that survives a JSON round trip (str, int, float, bool, None, list, dict)."""


class Policy(StrEnum):
    """How a memory block's value is managed once the block exists.

    SEED: the value is written when the block is created, then belongs to the agent.
    ENFORCE: the value is kept equal to the manifest; agent edits are overwritten.
    """

    SEED = "seed"
    ENFORCE = "enforce"


class Pattern(StrEnum):
    """The multi-user patterns a user can be served with."""

    DEDICATED = "dedicated"
    SHARED = "shared"
    IDENTITY = "identity"


@dataclass(frozen=True)
class BlockSpec:
    """A memory block as declared. `limit`/`description`/`read_only` always converge."""

    label: str
    value: str
    policy: Policy = Policy.SEED
    limit: int | None = None
    description: str | None = None
    read_only: bool | None = None


@dataclass(frozen=True)
class AgentSpec:
    """An agent the stack owns: a user's dedicated agent or a shared agent.

    `key` is `user:<id>` for a dedicated agent and the agent's manifest name for a shared one;
    the address is `agent/<key>`. `tags` are the declared tags only (ownership tags are added
    by the planner). `shared_blocks` names stack-level blocks (`block/<name>`) to attach.
    """

    address: str
    key: str
    name: str
    model: str
    embedding: str
    pattern: Pattern | None = None
    user_id: str | None = None
    description: str | None = None
    system: str | None = None
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, JSON] = field(default_factory=dict)
    blocks: tuple[BlockSpec, ...] = ()
    shared_blocks: tuple[str, ...] = ()
    protected: bool = False


@dataclass(frozen=True)
class SharedBlockSpec:
    """A stack-level block attached to many agents (e.g. company knowledge): `block/<name>`."""

    address: str
    name: str
    block: BlockSpec
    protected: bool = False


@dataclass(frozen=True)
class ConversationSpec:
    """A shared-pattern user's conversation on a shared agent: `conversation/<agent>/<user>`."""

    address: str
    agent_key: str
    user_id: str
    summary: str
    protected: bool = False


@dataclass(frozen=True)
class IdentitySpec:
    """An identity-pattern user's identity (`identifier_key` = user id): `identity/<user>`.

    `agent_keys` are the shared agents it is attached to.
    """

    address: str
    identifier_key: str
    name: str
    properties: Mapping[str, JSON] = field(default_factory=dict)
    agent_keys: tuple[str, ...] = ()
    identity_type: str = "user"
    protected: bool = False


@dataclass(frozen=True)
class PruneSettings:
    """Deletion rules: nothing undeclared is deleted unless `enabled`; `max_delete_percent`
    guards against deleting most of a stack by accident."""

    enabled: bool = False
    max_delete_percent: float = 25.0


@dataclass(frozen=True)
class DesiredState:
    """Everything one stack declares, sorted by address so equal manifests give equal states."""

    stack: str
    agents: tuple[AgentSpec, ...] = ()
    blocks: tuple[SharedBlockSpec, ...] = ()
    conversations: tuple[ConversationSpec, ...] = ()
    identities: tuple[IdentitySpec, ...] = ()
    prune: PruneSettings = PruneSettings()

    def addresses(self) -> list[str]:
        """Every declared address, in a stable order."""
        groups: tuple[tuple[Any, ...], ...] = (
            self.agents,
            self.blocks,
            self.conversations,
            self.identities,
        )
        return [item.address for group in groups for item in group]
