"""How the stack marks what it owns on the server, and how those marks are read back.

Agents and blocks carry a stack tag; agents also carry their address in metadata.
Conversations have no tags or metadata: their summary ends with a marker naming stack and user.
Identities carry a marker property. Nothing without these marks is ever changed or deleted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

TAG_PREFIX = "letta-apply:"
METADATA_KEY = "letta_apply"
IDENTITY_MARKER_KEY = "letta_apply_stack"
IDENTITY_PROTECTED_KEY = "letta_apply_protected"
LOCK_KEY_PREFIX = "letta-apply-lock:"

_CONVERSATION_MARKER = re.compile(r"\s*\[letta-apply:(?P<stack>[^/\]\s]+)/(?P<user>[^\]]+)\]$")


def stack_tag(stack: str) -> str:
    """The tag every owned agent and shared block carries."""
    return f"{TAG_PREFIX}{stack}"


def user_tag(user_id: str) -> str:
    """The seeds' lookup tag for a dedicated agent: `user:<id>`."""
    return f"user:{user_id}"


def agent_metadata(stack: str, address: str, declared: Mapping[str, Any]) -> dict[str, Any]:
    """Declared metadata plus the ownership record (the server replaces metadata wholesale)."""
    return {**declared, METADATA_KEY: {"stack": stack, "address": address}}


def metadata_address(metadata: Mapping[str, Any] | None, stack: str) -> str | None:
    """The address recorded in an agent's or block's metadata, if this stack wrote it."""
    record = (metadata or {}).get(METADATA_KEY)
    if isinstance(record, Mapping) and record.get("stack") == stack:
        address = record.get("address")
        return address if isinstance(address, str) else None
    return None


def conversation_summary(summary: str, stack: str, user_id: str) -> str:
    """A conversation summary with the ownership marker appended."""
    return f"{summary} [letta-apply:{stack}/{user_id}]"


def conversation_marker(stack: str, user_id: str) -> str:
    """The exact marker text, usable with the server's summary search."""
    return f"[letta-apply:{stack}/{user_id}]"


def parse_conversation_summary(summary: str | None) -> tuple[str, str, str] | None:
    """Split a marked summary into (declared summary, stack, user id); None if unmarked."""
    if not summary:
        return None
    match = _CONVERSATION_MARKER.search(summary)
    if match is None:
        return None
    return summary[: match.start()], match["stack"], match["user"]


def lock_key(stack: str) -> str:
    """The identifier_key of the identity used as the stack's server-side apply lock."""
    return f"{LOCK_KEY_PREFIX}{stack}"
