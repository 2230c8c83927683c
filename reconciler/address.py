"""Addresses: the stable, readable name of every resource a stack manages.

`agent/user:alice`, `agent/support`, `block/company`, `block/user:alice/human`,
`conversation/support/bob`, `identity/carol`, `lock/acme`, `agent/user:alice/sleeptime` (the
sleep-time agent the server made for an agent), `folder/docs`, `file/docs/setup/sso.md`,
`archive/faq`, `passage/faq/answers.md#3`. In code an address is a typed
value: a kind plus its parts, printed by `str()` and read back by `Address.parse`, the only
two places that know the text form. Which multi-user pattern a resource serves, and which
user, follow from its address.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

USER_KEY_PREFIX = "user:"
"""A dedicated agent's key is its user's lookup tag, `user:<id>` (the seeds' convention)."""


SLEEPTIME = "sleeptime"
"""The last part of a sleep-time agent's address (`agent/user:alice/sleeptime`)."""


class Kind(StrEnum):
    """The kinds of resource a stack manages (the lock is the stack's own bookkeeping)."""

    AGENT = "agent"
    BLOCK = "block"
    CONVERSATION = "conversation"
    IDENTITY = "identity"
    LOCK = "lock"
    TOOL = "tool"
    MCP_SERVER = "mcp-server"
    FOLDER = "folder"
    FILE = "file"
    ARCHIVE = "archive"
    PASSAGE = "passage"

    def counted(self, number: int) -> str:
        """`number` resources of the kind, as a person reads it: `1 memory block`, `2 tools`."""
        one, many = _NOUNS[self]
        return f"{number:,} {one if number == 1 else many}"


_NOUNS: dict[Kind, tuple[str, str]] = {
    Kind.AGENT: ("agent", "agents"),
    Kind.BLOCK: ("memory block", "memory blocks"),
    Kind.CONVERSATION: ("conversation", "conversations"),
    Kind.IDENTITY: ("identity", "identities"),
    Kind.LOCK: ("lock", "locks"),
    Kind.TOOL: ("tool", "tools"),
    Kind.MCP_SERVER: ("MCP server", "MCP servers"),
    Kind.FOLDER: ("folder", "folders"),
    Kind.FILE: ("file", "files"),
    Kind.ARCHIVE: ("archive", "archives"),
    Kind.PASSAGE: ("passage", "passages"),
}
"""How a person names one and several resources of each kind."""


class Pattern(StrEnum):
    """The multi-user patterns a user can be served with."""

    DEDICATED = "dedicated"
    SHARED = "shared"
    IDENTITY = "identity"


_ARITY: dict[Kind, tuple[int, ...]] = {
    Kind.AGENT: (1, 2),
    Kind.BLOCK: (1, 2),
    Kind.CONVERSATION: (2,),
    Kind.IDENTITY: (1,),
    Kind.LOCK: (1,),
    Kind.TOOL: (1, 2),
    Kind.MCP_SERVER: (1,),
    Kind.FOLDER: (1,),
    Kind.FILE: (2,),
    Kind.ARCHIVE: (1,),
    Kind.PASSAGE: (2,),
}

_PATH_NAMED = frozenset({Kind.FILE, Kind.PASSAGE})
"""Kinds whose last part is a path in their folder or archive: it may hold `/`."""

_ADOPTED_THROUGH_OWNER = frozenset({Kind.CONVERSATION, Kind.FILE})
"""Kinds whose adoption works through their owner, which must be the stack's first (owned,
or adopted in the same plan): a conversation is checked to be on the stack's agent, a file is
recorded in its folder's ownership record."""


_PART = re.compile(r"[^/\s]+")
"""A part: no slash, no whitespace (and printable, checked beside it)."""

_SEGMENT = r"[^/\s]+(?: [^/\s]+)*"
_PATH = re.compile(f"{_SEGMENT}(?:/{_SEGMENT})*")
"""The last part of a file's or passage's address: a relative path (no `.` or `..`) whose
names may hold single spaces between other characters (`Getting started.md`), no other
whitespace."""


class AddressError(ValueError):
    """Text that is not an address."""


@dataclass(frozen=True, order=True)
class Address:
    """A resource's kind and the parts naming it within the stack.

    agent: (key,) where key is `user:<id>` or the shared agent's name, or (key, `sleeptime`)
    for the sleep-time agent the server made for that agent; block: (name,) for a
    stack-level block or (agent key, label) for an agent's own; conversation: (agent key,
    user id); identity: (user id,); lock: (stack,); tool: (tool name,), a tool the stack
    defines or one of the server's that its agents use, or (MCP server, tool name) for a tool
    an MCP server provides; mcp-server: (name,).
    """

    __slots__ = ("_hash", "kind", "parts")
    kind: Kind
    parts: tuple[str, ...]
    _hash: ClassVar[int]
    """Worked out once (`_hash`); a slot of each address, not a field (ClassVar only so that
    dataclasses leaves it out of the fields, which are also its JSON)."""

    def __post_init__(self) -> None:
        kind, parts = self.kind, self.parts
        if len(parts) not in _ARITY[kind]:
            raise AddressError(f"{kind.value} address with {len(parts)} part(s)")
        if kind is Kind.AGENT and parts[1:] not in ((), (SLEEPTIME,)):
            raise AddressError(f"an agent address ends in its key or /{SLEEPTIME}")
        if kind in _PATH_NAMED:
            _check_part(parts[0])
            _check_path(parts[-1])
        else:
            for part in parts:
                _check_part(part)
        object.__setattr__(self, "_hash", _hash(kind, parts))

    @classmethod
    def _derived(cls, kind: Kind, parts: tuple[str, ...]) -> Address:
        """An address made of parts of a valid one, so not checked again (an agent's
        address from its block's, say): derived addresses are made in inner loops."""
        address = object.__new__(cls)
        object.__setattr__(address, "kind", kind)
        object.__setattr__(address, "parts", parts)
        object.__setattr__(address, "_hash", _hash(kind, parts))
        return address

    @classmethod
    def _under(cls, kind: Kind, parent: str, part: str) -> Address:
        """A two-part address under a valid address's first part: only `part` is checked."""
        _check_part(part)
        return cls._derived(kind, (parent, part))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, Address):
            return NotImplemented
        return self._hash == other._hash and self.kind is other.kind and self.parts == other.parts

    def __reduce__(self) -> tuple[type[Address], tuple[Kind, tuple[str, ...]]]:
        return (Address, (self.kind, self.parts))

    def __str__(self) -> str:
        return "/".join((self.kind.value, *self.parts))

    @classmethod
    def parse(cls, text: str) -> Address:
        """The address printed as `text`; AddressError if it is not one."""
        kind, _, rest = text.partition("/")
        try:
            splits = 1 if Kind(kind) in _PATH_NAMED else -1
            parts = tuple(map(sys.intern, rest.split("/", splits))) if rest else ()
            return cls(Kind(kind), parts)
        except ValueError as exc:
            raise AddressError(f"not an address: {text!r}") from exc

    @classmethod
    def parse_or_none(cls, text: object) -> Address | None:
        """Like `parse` for untrusted values (server data): None when it is not an address."""
        if not isinstance(text, str):
            return None
        try:
            return cls.parse(text)
        except AddressError:
            return None

    # Constructors, one per shape.

    @classmethod
    def agent(cls, key: str) -> Address:
        return cls(Kind.AGENT, (key,))

    @classmethod
    def dedicated_agent(cls, user_id: str) -> Address:
        return cls(Kind.AGENT, (sys.intern(USER_KEY_PREFIX + user_id),))

    @classmethod
    def sleeptime_agent(cls, agent: Address) -> Address:
        """The sleep-time agent the server made for `agent` (`enableSleeptime`)."""
        return cls._derived(Kind.AGENT, (agent.parts[0], SLEEPTIME))

    @classmethod
    def shared_block(cls, name: str) -> Address:
        return cls(Kind.BLOCK, (name,))

    @classmethod
    def agent_block(cls, agent: Address, label: str) -> Address:
        return cls._under(Kind.BLOCK, agent.parts[0], label)

    @classmethod
    def conversation(cls, agent: Address, user_id: str) -> Address:
        return cls._under(Kind.CONVERSATION, agent.parts[0], user_id)

    @classmethod
    def identity(cls, user_id: str) -> Address:
        return cls(Kind.IDENTITY, (user_id,))

    @classmethod
    def lock(cls, stack: str) -> Address:
        return cls(Kind.LOCK, (stack,))

    @classmethod
    def tool(cls, name: str) -> Address:
        """`name`, or `<mcp server>/<tool>` for a tool an MCP server provides."""
        return cls(Kind.TOOL, tuple(name.split("/", 1)))

    @classmethod
    def mcp_server(cls, name: str) -> Address:
        return cls(Kind.MCP_SERVER, (name,))

    @classmethod
    def folder(cls, name: str) -> Address:
        return cls(Kind.FOLDER, (name,))

    @classmethod
    def file(cls, folder: Address, name: str) -> Address:
        return cls(Kind.FILE, (folder.name, name))

    @classmethod
    def archive(cls, name: str) -> Address:
        return cls(Kind.ARCHIVE, (name,))

    @classmethod
    def passage(cls, archive: Address, key: str) -> Address:
        return cls(Kind.PASSAGE, (archive.name, key))

    # What an address says about its resource.

    @property
    def name(self) -> str:
        """The last part: an agent's key, a block's name or label, a user id."""
        return self.parts[-1]

    @property
    def reference(self) -> str:
        """The parts as a manifest writes them: a tool as `lookup_order`, or as
        `<mcp server>/<tool>` for one an MCP server provides (what `tool()` reads)."""
        return "/".join(self.parts)

    @property
    def owner(self) -> Address | None:
        """The agent an agent's own block, a conversation or a sleep-time agent belongs to;
        the folder of a file, the archive of a passage."""
        if len(self.parts) == 2 and self.kind in (Kind.CONVERSATION, Kind.BLOCK, Kind.AGENT):
            return Address._derived(Kind.AGENT, self.parts[:1])
        if self.kind in _PATH_NAMED:
            container = Kind.FOLDER if self.kind is Kind.FILE else Kind.ARCHIVE
            return Address._derived(container, self.parts[:1])
        return None

    @property
    def adopted_through(self) -> Address | None:
        """The owner an adoption of this resource works through (None: adopted alone)."""
        return self.owner if self.kind in _ADOPTED_THROUGH_OWNER else None

    @property
    def user(self) -> str | None:
        """The user this resource serves, if it serves one."""
        match self.kind:
            case Kind.AGENT:
                key = self.parts[0]
                return (
                    key.removeprefix(USER_KEY_PREFIX) if key.startswith(USER_KEY_PREFIX) else None
                )
            case Kind.CONVERSATION | Kind.IDENTITY:
                return self.parts[-1]
            case Kind.BLOCK:
                return self.owner.user if self.owner else None
            case (
                Kind.LOCK
                | Kind.TOOL
                | Kind.MCP_SERVER
                | Kind.FOLDER
                | Kind.FILE
                | Kind.ARCHIVE
                | Kind.PASSAGE
            ):
                return None

    @property
    def pattern(self) -> Pattern | None:
        """The pattern of the user this resource serves; None for the stack's own resources."""
        match self.kind:
            case Kind.AGENT:
                return Pattern.DEDICATED if self.user is not None else None
            case Kind.BLOCK:
                return self.owner.pattern if self.owner else None
            case Kind.CONVERSATION:
                return Pattern.SHARED
            case Kind.IDENTITY:
                return Pattern.IDENTITY
            case (
                Kind.LOCK
                | Kind.TOOL
                | Kind.MCP_SERVER
                | Kind.FOLDER
                | Kind.FILE
                | Kind.ARCHIVE
                | Kind.PASSAGE
            ):
                return None

    @property
    def provider(self) -> Address:
        """What must exist for this resource to: an MCP server for the tools it provides."""
        if self.kind is Kind.TOOL and len(self.parts) == 2:
            return Address._derived(Kind.MCP_SERVER, self.parts[:1])
        return self


def in_order(address: Address) -> tuple[str, tuple[str, ...]]:
    """The sort key of `Address`'s own order (kind, then parts), compared without calling
    its comparison methods: a stack's resources are sorted by address on every read and
    every load, 14 comparisons each for 20,000 users in no particular order."""
    return (address.kind, address.parts)


def _hash(kind: Kind, parts: tuple[str, ...]) -> int:
    """An address's hash, worked out once: its kind hashed as the text it is (an enum's own
    hash is a Python call, and addresses are hashed in every lookup of the planner)."""
    return hash((str.__hash__(kind), parts))


def _check_part(part: str) -> None:
    if not (_PART.fullmatch(part) and part.isprintable()):
        raise AddressError(f"invalid address part {part!r}")


def is_path(text: str) -> bool:
    """Whether `text` can be the last part of a file's or passage's address."""
    return bool(_PATH.fullmatch(text)) and text.isprintable() and not _dots(text)


def _check_path(part: str) -> None:
    if not is_path(part):
        raise AddressError(f"invalid address part {part!r}")


def _dots(part: str) -> bool:
    """A part that is, or a path that holds, `.` or `..` (never a name of anything)."""
    return any(segment in (".", "..") for segment in part.split("/"))
