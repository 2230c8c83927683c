"""Saved plans are signed: an HMAC of the plan's canonical JSON and of the digests of the
secrets it sends, keyed by the operator's key (`reconciler.keys`).

Everything in the file is signed content: its guards (prune, `max_delete_percent`), its
target, every change's body (an MCP server's URL, the variables its secrets are read from).
An edited plan, one made with another key, or one whose secrets' values changed since is
refused before any request, wherever a key exists; without a key (CI with neither
`LETTA_APPLY_KEY` nor an API key) plans are unsigned, and a signed one is refused there too.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from reconciler.errors import LettaApplyError, UnsafePlanError
from reconciler.keys import KEY_VARIABLE
from reconciler.plan.model import Plan
from reconciler.plan.serialize import SavedPlan, canonical_bytes
from reconciler.secrets import SecretAccess

PREFIX = "hmac-sha256:"

UNSIGNED = (
    f"the saved plan is not signed (no {KEY_VARIABLE} or API key here), so an edit of the "
    f"file cannot be told; set {KEY_VARIABLE} where plans are made and applied"
)
"""The note beside a saved plan made or applied without a key."""


def sign_plan(plan: Plan, access: SecretAccess) -> str | None:
    """The plan's signature, or None where there is no key."""
    key = access.signing_key()
    return None if key is None else _signature(plan, key, access)


def _signature(plan: Plan, key: bytes, access: SecretAccess) -> str:
    mac = hmac.new(key, canonical_bytes(plan), hashlib.sha256)
    mac.update(b"\0")
    mac.update(json.dumps(access.sent_digests(plan.secrets_sent())).encode())
    return PREFIX + mac.hexdigest()


def check_signature(saved: SavedPlan, access: SecretAccess) -> Plan:
    """The saved plan, if its signature is the one this environment makes of it."""
    key = access.signing_key()
    if key is None:
        if saved.signature is not None:
            raise LettaApplyError(
                "this plan is signed, and there is no key here to check it with: set "
                f"{KEY_VARIABLE} (or LETTA_API_KEY) as when the plan was made"
            )
        return saved.plan
    if saved.signature is None:
        raise UnsafePlanError(
            "this saved plan is not signed: `letta-apply plan --out` signs plans with "
            f"{KEY_VARIABLE}, else the API key; make a new plan"
        )
    expected = _signature(saved.plan, key, access)
    # Compared as bytes: `compare_digest` refuses a str holding anything but ASCII.
    given = saved.signature.encode("utf-8", "surrogatepass")
    if not hmac.compare_digest(given, expected.encode()):
        raise UnsafePlanError(
            "the saved plan's signature does not match: it was edited, made with another "
            "key, or a secret's value changed since; make a new plan"
        )
    return saved.plan
