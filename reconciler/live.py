"""The live state: what the server holds for a stack, read in bulk and turned into plain values.

Requests grow with pages, not with users: owned agents come from one tag-filtered, paginated
listing that includes their tags, blocks and identities; conversations from one listing per
shared agent; identities and shared blocks from one listing each. Only users the stack is about
to create are looked up, in batches of tags, for foreign agents already carrying their `user:` tag.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from reconciler import ownership
from reconciler.client import LettaApi
from reconciler.desired import DesiredState, Pattern

JSON = Any

AGENT_INCLUDES = ("agent.tags", "agent.blocks", "agent.identities")
_FOREIGN_BATCH = 50
"""`user:` tags per foreign-agent lookup: one request per batch keeps the query string short."""


@dataclass(frozen=True)
class LiveBlock:
    id: str
    label: str
    value: str
    limit: int | None = None
    description: str | None = None
    read_only: bool = False
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, JSON] = field(default_factory=dict)


@dataclass(frozen=True)
class LiveAgent:
    """An agent on the server. `address` is set when the stack's ownership record names one."""

    id: str
    name: str
    address: str | None
    created_at: str
    model: str | None = None
    embedding: str | None = None
    description: str | None = None
    system: str | None = None
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, JSON] = field(default_factory=dict)
    blocks: tuple[LiveBlock, ...] = ()
    identity_ids: tuple[str, ...] = ()

    @property
    def protected(self) -> bool:
        record = self.metadata.get(ownership.METADATA_KEY)
        return isinstance(record, Mapping) and bool(record.get("protected"))


@dataclass(frozen=True)
class LiveConversation:
    """A conversation marked as the stack's, on one of the stack's shared agents."""

    id: str
    agent_id: str
    user_id: str
    summary: str
    created_at: str


@dataclass(frozen=True)
class LiveIdentity:
    """An identity; `owned` when it carries this stack's marker property."""

    id: str
    identifier_key: str
    name: str
    identity_type: str
    properties: Mapping[str, JSON]
    owned: bool
    created_at: str = ""


@dataclass(frozen=True)
class LiveState:
    """What the server holds that matters to one stack.

    `agents`, `blocks`, `conversations` are owned by the stack. `identities` holds owned ones and
    foreign ones whose key the stack declares. `foreign_agents` are agents not owned by the stack
    carrying the `user:` tag of a declared user the stack has no agent for.
    """

    stack: str
    agents: tuple[LiveAgent, ...] = ()
    blocks: tuple[LiveBlock, ...] = ()
    conversations: tuple[LiveConversation, ...] = ()
    identities: tuple[LiveIdentity, ...] = ()
    foreign_agents: tuple[LiveAgent, ...] = ()

    def owned_count(self) -> int:
        owned_identities = sum(1 for i in self.identities if i.owned)
        return len(self.agents) + len(self.blocks) + len(self.conversations) + owned_identities

    def fingerprint(self) -> str:
        """Digest of everything owned: any change on the server changes it."""
        owned = {
            "agents": [asdict(a) for a in self.agents],
            "blocks": [asdict(b) for b in self.blocks],
            "conversations": [asdict(c) for c in self.conversations],
            "identities": [asdict(i) for i in self.identities if i.owned],
        }
        canonical = json.dumps(owned, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()


def read_live(
    api: LettaApi,
    stack: str,
    desired: DesiredState | None = None,
    *,
    parallelism: int = 8,
    page_size: int = 200,
    progress: Callable[[str], None] | None = None,
) -> LiveState:
    """Read the stack's resources. With `desired`, also look for foreign resources in the way.

    `progress` hears how many agents have been read so far, a page at a time.
    """
    tag = ownership.stack_tag(stack)
    listed = api.paginate(
        "/v1/agents/", {"tags": [tag], "include": list(AGENT_INCLUDES)}, page_size
    )
    agents = _sorted(_agent(raw, stack) for raw in _counted(listed, page_size, progress))
    tagged = (_block(raw) for raw in api.paginate("/v1/blocks/", {"tags": [tag]}, page_size))
    blocks = tuple(sorted((b for b in tagged if _is_shared(b, stack)), key=lambda b: b.id))
    shared_ids = [a.id for a in agents if a.address and not a.address.startswith("agent/user:")]
    conversations = _read_conversations(api, stack, shared_ids, page_size)
    wanted_keys = {i.identifier_key for i in desired.identities} if desired else set()
    identities = _read_identities(api, stack, wanted_keys, page_size)
    foreign = _read_foreign(api, agents, desired, parallelism) if desired else ()
    return LiveState(stack, agents, blocks, conversations, identities, foreign)


def _counted(
    items: Iterable[JSON], every: int, progress: Callable[[str], None] | None
) -> Iterator[JSON]:
    for count, item in enumerate(items, 1):
        if progress is not None and count % every == 0:
            progress(f"Reading the server: {count:,} agents")
        yield item


def _is_shared(block: LiveBlock, stack: str) -> bool:
    """Stack-level blocks have a one-part address (`block/<name>`); an agent's own blocks two."""
    address = ownership.metadata_address(block.metadata, stack)
    return address is not None and address.count("/") == 1


def _sorted(agents: Iterable[LiveAgent]) -> tuple[LiveAgent, ...]:
    return tuple(sorted(agents, key=lambda a: (a.created_at, a.id)))


def _read_conversations(
    api: LettaApi, stack: str, agent_ids: list[str], page_size: int
) -> tuple[LiveConversation, ...]:
    found: list[LiveConversation] = []
    for agent_id in agent_ids:
        for raw in api.paginate("/v1/conversations/", {"agent_id": agent_id}, page_size):
            conversation = _conversation(raw, stack)
            if conversation is not None:
                found.append(conversation)
    return tuple(sorted(found, key=lambda c: (c.created_at, c.id)))


def _read_identities(
    api: LettaApi, stack: str, wanted_keys: set[str], page_size: int
) -> tuple[LiveIdentity, ...]:
    found = []
    for raw in api.paginate("/v1/identities/", None, page_size):
        identity = _identity(raw, stack)
        if identity.owned or identity.identifier_key in wanted_keys:
            found.append(identity)
    return tuple(sorted(found, key=lambda i: (i.created_at, i.id)))


def _read_foreign(
    api: LettaApi, owned: tuple[LiveAgent, ...], desired: DesiredState, parallelism: int
) -> tuple[LiveAgent, ...]:
    """Agents of others carrying the `user:` tag of a dedicated user this stack will create."""
    have = {a.address for a in owned}
    missing = [
        spec.user_id
        for spec in desired.agents
        if spec.pattern is Pattern.DEDICATED and spec.user_id and spec.address not in have
    ]
    if not missing:
        return ()

    def lookup(user_ids: list[str]) -> list[JSON]:
        # The server matches any of the listed tags: one listing covers a whole batch of users.
        params = {"tags": [ownership.user_tag(u) for u in user_ids], "include": ["agent.tags"]}
        return list(api.paginate("/v1/agents/", params))

    batches = [missing[i : i + _FOREIGN_BATCH] for i in range(0, len(missing), _FOREIGN_BATCH)]
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        pages = list(pool.map(lookup, batches))
    found = {raw["id"]: _agent(raw, desired.stack) for page in pages for raw in page}
    tag = ownership.stack_tag(desired.stack)
    return _sorted(a for a in found.values() if tag not in a.tags)


def _agent(raw: Mapping[str, JSON], stack: str) -> LiveAgent:
    tags = tuple(sorted(raw.get("tags") or ()))
    metadata = raw.get("metadata") or {}
    return LiveAgent(
        id=raw["id"],
        name=raw.get("name") or "",
        address=_agent_address(metadata, tags, stack),
        created_at=str(raw.get("created_at") or ""),
        model=raw.get("model") or _handle(raw.get("llm_config")),
        embedding=raw.get("embedding") or _handle(raw.get("embedding_config")),
        description=raw.get("description"),
        system=raw.get("system"),
        tags=tags,
        metadata=metadata,
        blocks=tuple(sorted((_block(b) for b in raw.get("blocks") or ()), key=lambda b: b.label)),
        identity_ids=_identity_ids(raw),
    )


def _agent_address(metadata: Mapping[str, JSON], tags: tuple[str, ...], stack: str) -> str | None:
    """The owned agent's address: from its ownership record, else from its `user:` tag."""
    recorded = ownership.metadata_address(metadata, stack)
    if recorded is not None or ownership.stack_tag(stack) not in tags:
        return recorded
    user_tags = [t for t in tags if t.startswith("user:")]
    return f"agent/{user_tags[0]}" if len(user_tags) == 1 else None


def _handle(config: Mapping[str, JSON] | None) -> str | None:
    if not config:
        return None
    handle = config.get("handle")
    return handle if isinstance(handle, str) else None


def _identity_ids(raw: Mapping[str, JSON]) -> tuple[str, ...]:
    ids = {i["id"] for i in raw.get("identities") or ()}
    ids.update(raw.get("identity_ids") or ())
    return tuple(sorted(ids))


def _block(raw: Mapping[str, JSON]) -> LiveBlock:
    return LiveBlock(
        id=raw["id"],
        label=raw.get("label") or "",
        value=raw.get("value") or "",
        limit=raw.get("limit"),
        description=raw.get("description"),
        read_only=bool(raw.get("read_only")),
        tags=tuple(sorted(raw.get("tags") or ())),
        metadata=raw.get("metadata") or {},
    )


def _conversation(raw: Mapping[str, JSON], stack: str) -> LiveConversation | None:
    parsed = ownership.parse_conversation_summary(raw.get("summary"))
    if parsed is None or parsed[1] != stack:
        return None
    summary, _stack, user_id = parsed
    return LiveConversation(
        id=raw["id"],
        agent_id=raw["agent_id"],
        user_id=user_id,
        summary=summary,
        created_at=str(raw.get("created_at") or ""),
    )


def _identity(raw: Mapping[str, JSON], stack: str) -> LiveIdentity:
    properties = {p["key"]: p["value"] for p in raw.get("properties") or ()}
    owned = properties.pop(ownership.IDENTITY_MARKER_KEY, None) == stack
    return LiveIdentity(
        id=raw["id"],
        identifier_key=raw.get("identifier_key") or "",
        name=raw.get("name") or "",
        identity_type=str(raw.get("identity_type") or "user"),
        properties=properties,
        owned=owned,
        created_at=str(raw.get("created_at") or ""),
    )
