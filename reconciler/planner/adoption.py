"""Adoption as planned changes (`--adopt`): existing resources that hold a declared resource's
key are taken over by the stack, each as an `Adopt` change, instead of being reported as in
the way.

A candidate is a resource no stack has marked that holds exactly one declared resource's key:
an agent carrying a dedicated user's `user:` tag, an agent named as a declared shared agent
(and carrying no user tag), the memory blocks of such an agent whose labels the manifest
declares, a conversation on the stack's (or an adopted) shared agent whose summary is the
declared one, an identity holding a declared key, a tool holding a declared tool's name, a
folder or an archive holding a declared name, and in such a folder the files holding declared
files' names (recorded with the digest of the text the server holds; passages cannot be marked:
an adopted archive's passages with a declared passage's text stand for it). A
resource another stack marked is never a candidate, and where several hold one key none is
adopted: the plan keeps reporting them, as without `--adopt`.

`adopting` returns the live state as if the marks were written, so the kinds plan the rest as
usual and the plan shows, beside each adoption, whatever else differs from the manifests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from reconciler import ownership
from reconciler.address import USER_KEY_PREFIX, Address
from reconciler.desired import AgentSpec, DesiredState
from reconciler.kinds import agent as agents
from reconciler.kinds import archive as archives
from reconciler.kinds import block as blocks
from reconciler.kinds import conversation as conversations
from reconciler.kinds import file as files
from reconciler.kinds import folder as folders
from reconciler.kinds import identity as identities
from reconciler.kinds import tool as tools
from reconciler.live.state import (
    LiveAgent,
    LiveBlock,
    LiveConversation,
    LiveIdentity,
    LiveState,
    LiveTool,
)
from reconciler.plan.model import Adopt
from reconciler.values import freeze

T = TypeVar("T")
Marked = TypeVar("Marked", LiveAgent, LiveBlock)
Swapped = TypeVar("Swapped", "folders.LiveFolder", "files.LiveFile", "archives.LiveArchive")


@dataclass
class _Adoption:
    """The adoptions found so far and the ids they take."""

    stack: str
    changes: list[Adopt]

    def take(self, address: Address, resource_id: str) -> None:
        self.changes.append(Adopt(address, resource_id))


def adopting(desired: DesiredState, live: LiveState) -> tuple[LiveState, list[Adopt]]:
    """The live state with every candidate marked as the stack's, and the adoptions."""
    found = _Adoption(desired.stack, [])
    listed, held = agents.of(live), blocks.of(live)
    taken, rest, own_blocks = _agents(desired, live, found)
    every = (*listed.listed, *taken)
    shared = _shared_blocks(desired, live, every, own_blocks, found)
    marked = _conversations(desired, live, every, found)
    adopted = (
        live.with_part(agents.LIVE, agents.Agents(every, rest))
        .with_part(
            blocks.LIVE,
            replace(
                held,
                shared=(*held.shared, *shared),
                tagged=held.tagged | own_blocks | {b.id for b in shared},
            ),
        )
        .with_part(
            conversations.LIVE,
            replace(conversations.of(live), marked=(*conversations.of(live).marked, *marked)),
        )
        .with_part(
            identities.LIVE,
            replace(identities.of(live), found=_identities(desired, live, found)),
        )
        .with_part(tools.LIVE, tools.Tools(_tools(desired, live, found)))
    )
    return _sources(desired, adopted, found), found.changes


def _agents(
    desired: DesiredState, live: LiveState, found: _Adoption
) -> tuple[list[LiveAgent], tuple[LiveAgent, ...], frozenset[str]]:
    owned = {a.address for a in agents.of(live).listed}
    foreign = agents.of(live).foreign
    adopted: list[LiveAgent] = []
    taken: set[str] = set()
    own_blocks: set[str] = set()
    for spec in desired.agents:
        if spec.address in owned:
            continue
        agent = _only([a for a in foreign if _claims(a, spec)])
        if agent is None or agent.id in taken:
            continue
        taken.add(agent.id)
        found.take(spec.address, agent.id)
        adopted.append(_marked(agent, spec.address, found.stack))
        labels = {b.label for b in spec.blocks}
        for live_block in agent.blocks:
            if live_block.label in labels and ownership.recorded_stack(live_block.metadata) is None:
                found.take(Address.agent_block(spec.address, live_block.label), live_block.id)
                own_blocks.add(live_block.id)
    rest = tuple(a for a in foreign if a.id not in taken)
    return adopted, rest, frozenset(own_blocks)


def _claims(agent: LiveAgent, spec: AgentSpec) -> bool:
    """Whether an unowned agent holds the key of the declared agent `spec`."""
    if ownership.recorded_stack(agent.metadata) is not None:
        return False
    if spec.user_tag is not None:
        return spec.user_tag in agent.tags
    users = any(tag.startswith(USER_KEY_PREFIX) for tag in agent.tags)
    return agent.name == spec.name and not users


def _marked(resource: Marked, address: Address, stack: str) -> Marked:
    """The agent or shared block as it is once adopted: the stack's tag and ownership record
    added."""
    others = {k: v for k, v in resource.metadata.items() if k != ownership.METADATA_KEY}
    return replace(
        resource,
        address=address,
        tags=tuple(sorted({*resource.tags, ownership.stack_tag(stack)})),
        metadata=freeze(ownership.agent_metadata(stack, address, others)),
    )


def _shared_blocks(
    desired: DesiredState,
    live: LiveState,
    agents: Sequence[LiveAgent],
    taken: frozenset[str],
    found: _Adoption,
) -> list[LiveBlock]:
    """For each declared shared block the stack lacks, the one unmarked block with its label
    attached to the agents listing it; none where they hold different blocks of that label
    (each agent's own copy is not one shared block)."""
    owned = set(blocks.of(live).by_address)
    by_address = {a.address: a for a in agents if a.address is not None}
    adopted: list[LiveBlock] = []
    for spec in desired.blocks:
        if spec.address in owned:
            continue
        users = [
            by_address[a.address]
            for a in desired.agents
            if spec.address in a.shared_blocks and a.address in by_address
        ]
        candidates = {
            b.id: b
            for agent in users
            for b in agent.blocks
            if b.label == spec.block.label
            and b.id not in taken
            and b.id not in blocks.of(live).tagged
            and _unmarked_block(b, live)
        }
        block = _only(list(candidates.values()))
        if block is not None:
            found.take(spec.address, block.id)
            adopted.append(_marked(block, spec.address, found.stack))
    return adopted


def _unmarked_block(block: LiveBlock, live: LiveState) -> bool:
    """No stack's ownership record or tag (an agent's own block made by another stack
    carries the tag only)."""
    stack_tagged = block.id in blocks.of(live).stack_tagged or any(
        tag.startswith(ownership.TAG_PREFIX) for tag in block.tags
    )
    return ownership.recorded_stack(block.metadata) is None and not stack_tagged


def _conversations(
    desired: DesiredState,
    live: LiveState,
    agents: Sequence[LiveAgent],
    found: _Adoption,
) -> list[LiveConversation]:
    ids = {a.address: a.id for a in agents if a.address is not None}
    owned = set(conversations.by_agent(live))
    adopted: list[LiveConversation] = []
    taken: set[str] = set()
    for spec in desired.conversations:
        agent_id = ids.get(spec.agent)
        if spec.address in owned or agent_id is None:
            continue
        match = _only(
            [
                c
                for c in conversations.of(live).unmarked
                if c.agent_id == agent_id and c.summary == spec.summary and c.id not in taken
            ]
        )
        if match is not None:
            taken.add(match.id)
            found.take(spec.address, match.id)
            adopted.append(replace(match, user_id=spec.user_id))
    return adopted


def _identities(
    desired: DesiredState, live: LiveState, found: _Adoption
) -> tuple[LiveIdentity, ...]:
    found_identities = identities.of(live)
    owned = {i.identifier_key for i in found_identities.owned}
    adopted: dict[str, LiveIdentity] = {}
    for spec in desired.identities:
        if spec.identifier_key in owned:
            continue
        identity = _only(
            [
                i
                for i in found_identities.found
                if i.identifier_key == spec.identifier_key and i.marked_by is None
            ]
        )
        if identity is not None:
            found.take(spec.address, identity.id)
            adopted[identity.id] = replace(identity, owned=True, marked_by=found.stack)
    return tuple(adopted.get(i.id, i) for i in found_identities.found)


def _tools(desired: DesiredState, live: LiveState, found: _Adoption) -> tuple[LiveTool, ...]:
    found_tools = tools.of(live)
    owned = {t.address for t in found_tools.owned}
    adopted: dict[str, LiveTool] = {}
    for spec in desired.tools:
        if spec.address in owned:
            continue
        tool = _only([t for t in found_tools.found if t.name == spec.name and _unowned(t)])
        if tool is not None:
            found.take(spec.address, tool.id)
            tags = tuple(sorted({*tool.tags, ownership.stack_tag(found.stack)}))
            adopted[tool.id] = replace(
                tool, address=spec.address, tags=tags, tagged=True, owner=found.stack
            )
    return tuple(adopted.get(t.id, t) for t in found_tools.found)


def _sources(desired: DesiredState, live: LiveState, found: _Adoption) -> LiveState:
    """The live state with the adopted folders (and their declared files) and archives."""
    held, kept_files = folders.of(live), files.of(live)
    adopted: dict[str, folders.LiveFolder] = {}
    recorded: dict[str, files.LiveFile] = {}
    for spec in desired.folders:
        unowned = [f for f in held.found if folders.is_adoptable(f, frozenset({spec.name}))]
        folder = _only(unowned) if spec.address not in held.by_address else None
        if folder is None:
            continue
        found.take(spec.address, folder.id)
        names = {f.name: f for f in kept_files.found if f.folder_id == folder.id}
        for file in spec.files:
            if (live_file := names.get(file.name)) is not None:
                found.take(file.address, live_file.id)
                digest = files.text_digest(live_file.content)
                recorded[live_file.id] = replace(live_file, address=file.address, digest=digest)
        adopted[folder.id] = replace(folder, address=spec.address, owner=found.stack)
    return (
        live.with_part(folders.LIVE, folders.Folders(_swap(held.found, adopted)))
        .with_part(files.LIVE, files.Files(_swap(kept_files.found, recorded)))
        .with_part(archives.LIVE, archives.Archives(_archives(desired, live, found)))
    )


def _archives(
    desired: DesiredState, live: LiveState, found: _Adoption
) -> tuple[archives.LiveArchive, ...]:
    held = archives.of(live)
    adopted: dict[str, archives.LiveArchive] = {}
    for spec in desired.archives:
        unowned = [a for a in held.found if archives.is_adoptable(a, frozenset({spec.name}))]
        archive = _only(unowned) if spec.address not in held.by_address else None
        if archive is not None:
            found.take(spec.address, archive.id)
            adopted[archive.id] = replace(
                archive, address=spec.address, owner=found.stack, protected=False
            )
    return _swap(held.found, adopted)


def _swap(found: Sequence[Swapped], adopted: dict[str, Swapped]) -> tuple[Swapped, ...]:
    """`found` with the adopted ones in their place."""
    return tuple(adopted.get(item.id, item) for item in found)


def _unowned(tool: LiveTool) -> bool:
    return tool.address is None and tool.owner is None and tool.tool_type == "custom"


def _only(candidates: list[T]) -> T | None:
    """The one candidate; None when there are none or several (never guess between them)."""
    return candidates[0] if len(candidates) == 1 else None
