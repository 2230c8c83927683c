"""How the stack marks what it owns on the server, and how those marks are read back.

Agents and blocks carry a stack tag and an ownership record in metadata (stack, address,
protected). Conversations have no tags or metadata: their summary ends with a marker naming
stack and user. Identities carry marker properties. Nothing without these marks is ever
changed or deleted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from reconciler.address import Address
from reconciler.values import is_mapping

TAG_PREFIX = "letta-apply:"
USER_TAG_PREFIX = "user:"
DEFAULT_USER_TAG = "user:${user.id}"
"""The seeds' lookup tag of a user's dedicated agent; a stack may choose its own format."""
RESERVED_TAG_PREFIXES = (TAG_PREFIX, USER_TAG_PREFIX)
"""Tags a manifest may not declare: ownership, and the user tags the stack adds itself."""
METADATA_KEY = "letta_apply"
IDENTITY_MARKER_KEY = "letta_apply_stack"
IDENTITY_PROTECTED_KEY = "letta_apply_protected"
RESERVED_PROPERTIES = (IDENTITY_MARKER_KEY, IDENTITY_PROTECTED_KEY)
"""Identity properties that hold ownership marks; a manifest may not declare them."""

LOCK_KEY_PREFIX = "letta-apply-lock:"
LOCK_BLOCK_LABEL = "letta-apply-lock"
LOCK_METADATA_KEY = "letta_apply_lock"
"""The apply lock's marks (see `reconciler.kinds.lock`): not ownership, and never managed."""

_CONVERSATION_MARKER = re.compile(r"\s*\[letta-apply:(?P<stack>[^/\]\s]+)/(?P<user>[^\]]+)\]$")


def stack_tag(stack: str) -> str:
    """The tag every owned agent and shared block carries."""
    return f"{TAG_PREFIX}{stack}"


def lock_key(stack: str) -> str:
    """The identifier_key of the stack's lock identity, and the tag of its lock block."""
    return f"{LOCK_KEY_PREFIX}{stack}"


def is_lock_record(raw: Mapping[str, object]) -> bool:
    """Whether a block or identity is an apply lock (of any stack): never adopted or managed."""
    tags = raw.get("tags")
    key = raw.get("identifier_key")
    return (
        raw.get("label") == LOCK_BLOCK_LABEL
        or (isinstance(key, str) and key.startswith(LOCK_KEY_PREFIX))
        or (isinstance(tags, list) and any(str(tag).startswith(LOCK_KEY_PREFIX) for tag in tags))
    )


def user_tag(user_id: str) -> str:
    """The seeds' lookup tag for a dedicated agent: `user:<id>`."""
    return f"{USER_TAG_PREFIX}{user_id}"


def agent_metadata(
    stack: str,
    address: Address,
    declared: Mapping[str, Any],
    *,
    protected: bool = False,
) -> dict[str, Any]:
    """Declared metadata plus the ownership record (the server replaces metadata wholesale)."""
    record: dict[str, Any] = {"stack": stack, "address": str(address)}
    if protected:
        record["protected"] = True
    return {**declared, METADATA_KEY: record}


def with_secret_digests(metadata: Mapping[str, Any], digests: Mapping[str, str]) -> dict[str, Any]:
    """`metadata` whose ownership record keeps `digests`, those of the secrets written with it."""
    record = metadata.get(METADATA_KEY)
    kept = dict(record) if isinstance(record, Mapping) else {}
    return {**metadata, METADATA_KEY: {**kept, "secrets": dict(digests)}}


def secret_digests(metadata: object) -> Mapping[str, Any]:
    """The digests of the secrets the stack last wrote, from the ownership record."""
    record = _entry(metadata)
    held = record.get("secrets") if isinstance(record, Mapping) else None
    return held if isinstance(held, Mapping) else {}


def without_secrets(metadata: Mapping[str, Any]) -> Mapping[str, Any]:
    """Metadata as compared: the secrets' digests are compared as secrets, not metadata."""
    record = metadata.get(METADATA_KEY)
    if not isinstance(record, Mapping) or "secrets" not in record:
        return metadata
    kept = {key: value for key, value in record.items() if key != "secrets"}
    return {**metadata, METADATA_KEY: kept}


def _entry(metadata: object) -> object:
    """The ownership record in metadata from the server, whatever shape that metadata has."""
    return metadata.get(METADATA_KEY) if is_mapping(metadata) else None


def _record(metadata: object, stack: str) -> Mapping[str, Any] | None:
    record = _entry(metadata)
    if is_mapping(record) and record.get("stack") == stack:
        return record
    return None


def metadata_address(metadata: object, stack: str) -> Address | None:
    """The address recorded in an agent's or block's metadata, if this stack wrote it."""
    record = _record(metadata, stack)
    return Address.parse_or_none(record.get("address")) if record else None


def companion_of(metadata: object, stack: str) -> Address | None:
    """The agent a sleep-time agent serves, as this stack recorded it when the server made it."""
    record = _record(metadata, stack)
    return Address.parse_or_none(record.get("companion_of")) if record else None


def companion_record(stack: str, agent: Address) -> dict[str, Any]:
    """The record marking a sleep-time agent the server made for the stack's `agent`."""
    return {"stack": stack, "companion_of": str(agent)}


def metadata_protected(metadata: object, stack: str) -> bool:
    """Whether this stack's ownership record marks the resource as protected."""
    record = _record(metadata, stack)
    return bool(record and record.get("protected") is True)


def recorded_stack(metadata: object) -> str | None:
    """The stack named by an ownership record, whichever stack wrote it."""
    record = _entry(metadata)
    stack = record.get("stack") if is_mapping(record) else None
    return stack if isinstance(stack, str) else None


def conversation_summary(summary: str, stack: str, user_id: str) -> str:
    """A conversation summary with the ownership marker appended."""
    return f"{summary} {conversation_marker(stack, user_id)}"


def conversation_marker(stack: str, user_id: str) -> str:
    """The exact marker text, usable with the server's summary search."""
    return f"[letta-apply:{stack}/{user_id}]"


def conversation_marker_prefix(stack: str) -> str:
    """The start of every marker the stack writes: the server's summary search for it finds
    the stack's conversations only (a superset where `_` matches any character; each is
    parsed again)."""
    return f"[letta-apply:{stack}/"


def parse_conversation_summary(summary: str | None) -> tuple[str, str, str] | None:
    """Split a marked summary into (declared summary, stack, user id); None if unmarked."""
    if not summary:
        return None
    match = _CONVERSATION_MARKER.search(summary)
    if match is None:
        return None
    return summary[: match.start()], match["stack"], match["user"]
