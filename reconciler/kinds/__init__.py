"""The kinds of resource a stack manages: one module each, registered here.

Each module holds everything about its kind: how it is read from the server
(`from_server`), planned against the desired state (`plan`, with its managed fields), and
created, updated, deleted and adopted on the server; linkable kinds also attach and detach.
`KINDS` lists them in dependency order (a kind only needs kinds before it), which is also
the order changes of one phase are listed and run in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from reconciler.address import Kind
from reconciler.desired import DesiredState
from reconciler.kinds import agent, block, conversation, identity, mcp_server, tool
from reconciler.kinds.common import Resolve
from reconciler.live.state import LiveState
from reconciler.plan.builder import Builder
from reconciler.plan.model import Adopt, Attach, Create, Delete, Detach, Update

if TYPE_CHECKING:
    from reconciler.client import LettaApi


class Handler(Protocol):
    """What a kind's module provides."""

    @property
    def KIND(self) -> Kind: ...

    def plan(self, desired: DesiredState, live: LiveState, out: Builder) -> None: ...

    def create(self, api: LettaApi, stack: str, change: Create, resolve: Resolve) -> str: ...

    def update(self, api: LettaApi, change: Update) -> None: ...

    def delete(self, api: LettaApi, change: Delete) -> None: ...

    def adopt(self, api: LettaApi, stack: str, change: Adopt, resolve: Resolve) -> str: ...


class Linker(Protocol):
    """What a kind that can be linked to agents also provides."""

    def attach(self, api: LettaApi, change: Attach, resolve: Resolve) -> None: ...

    def detach(self, api: LettaApi, change: Detach, resolve: Resolve) -> None: ...


KINDS: tuple[Handler, ...] = (block, identity, mcp_server, tool, agent, conversation)
"""Every planned kind, in dependency order: shared blocks, identities, MCP servers and tools
need nothing (an MCP server's tools come with it), agents link shared blocks and tools,
agents' own blocks and conversations live on agents."""

LINKERS: dict[Kind, Linker] = {Kind.BLOCK: block, Kind.IDENTITY: identity, Kind.TOOL: tool}


def handler(kind: Kind) -> Handler:
    """The module handling `kind`; a kind that is not planned (the lock) has none."""
    for entry in KINDS:
        if entry.KIND is kind:
            return entry
    raise LookupError(f"no handler for resource kind {kind.value!r}")


def linker(kind: Kind) -> Linker:
    """The module linking `kind` to agents; LookupError for a kind that cannot be linked."""
    found = LINKERS.get(kind)
    if found is None:
        raise LookupError(f"resources of kind {kind.value!r} cannot be linked to agents")
    return found


def rank(kind: Kind) -> int:
    """Position of a kind in dependency order (kinds not planned come last)."""
    kinds = [entry.KIND for entry in KINDS]
    return kinds.index(kind) if kind in kinds else len(kinds)
