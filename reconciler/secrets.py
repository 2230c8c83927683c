"""Agent secrets: values read from the environment, compared by a keyed digest, never kept.

A manifest names, for each secret, the environment variable holding its value. The value is
read twice: when planning, to compute its digest (HMAC-SHA256), and when applying, to send it;
nothing else ever holds it. Plans and saved plans carry only secret names, variable names and
digests, and the agent's ownership record keeps the digests the stack last wrote, so a plan
tells a changed value from an unchanged one without the server's copy.

The digest key is `LETTA_APPLY_SECRETS_KEY` when set, else the API key (so a digest is useless
to whoever reads the agent's metadata without the key), else, for a local server without a key,
a fixed key: then a digest only hides a value as well as the value's own strength does.
Changing the key makes every secret show as changed once, and the next apply rewrites them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping
from dataclasses import replace

from reconciler.address import Address
from reconciler.desired import DesiredState, SecretSpec
from reconciler.errors import LettaApplyError, UnsafePlanError
from reconciler.values import JSON

KEY_VARIABLE = "LETTA_APPLY_SECRETS_KEY"
_LOCAL_KEY = b"letta-apply: a server without an API key"


def digest_key(api_key: str | None) -> bytes:
    """The key digests are made with (see the module's note)."""
    chosen = os.environ.get(KEY_VARIABLE) or api_key
    return chosen.encode() if chosen else _LOCAL_KEY


def digest(key: bytes, address: Address, name: str, value: str) -> str:
    """The value's keyed digest, bound to the agent and the secret's name."""
    message = "\0".join((str(address), name, value)).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def check_available(desired: DesiredState) -> None:
    """Every variable a declared secret reads is set; otherwise one error naming each, raised
    before any request."""
    missing = sorted(
        {
            f"{secret.loc}: secret {secret.name}: environment variable {secret.env} is not set"
            for _address, declared in _declared(desired)
            for secret in declared
            if os.environ.get(secret.env) is None
        }
    )
    if missing:
        raise LettaApplyError("\n".join(missing))


def _declared(desired: DesiredState) -> Iterable[tuple[Address, tuple[SecretSpec, ...]]]:
    """Every resource's secrets: agents' secrets and MCP servers' credentials."""
    for spec in desired.agents:
        yield spec.address, spec.secrets or ()
    for server in desired.mcp_servers:
        yield server.address, server.credentials


def seal(desired: DesiredState, key: bytes) -> DesiredState:
    """The desired state with each secret's digest computed from its variable's value."""
    check_available(desired)
    agents = tuple(
        replace(spec, secrets=_sealed(spec.address, spec.secrets, key)) if spec.secrets else spec
        for spec in desired.agents
    )
    servers = tuple(
        replace(spec, credentials=_sealed(spec.address, spec.credentials, key))
        for spec in desired.mcp_servers
    )
    return replace(desired, agents=agents, mcp_servers=servers)


def _sealed(
    address: Address, declared: tuple[SecretSpec, ...], key: bytes
) -> tuple[SecretSpec, ...]:
    return tuple(
        replace(s, digest=digest(key, address, s.name, os.environ[s.env])) for s in declared
    )


def planned(secrets: Iterable[SecretSpec]) -> dict[str, JSON]:
    """What a plan carries for the secrets: the variable and the digest, never the value."""
    return {s.name: {"env": s.env, "digest": s.digest} for s in secrets}


def reveal(planned_secrets: Mapping[str, JSON], key: bytes, address: Address) -> dict[str, str]:
    """The values to send, read from the environment now; refused when a value is not the one
    the plan was made with."""
    values: dict[str, str] = {}
    for name, entry in sorted(planned_secrets.items()):
        variable = str(entry["env"])
        value = os.environ.get(variable)
        if value is None:
            raise LettaApplyError(f"{address}: secret {name}: {variable} is not set")
        if not hmac.compare_digest(digest(key, address, name, value), entry["digest"]):
            raise UnsafePlanError(
                f"{address}: secret {name}: the value of {variable} is not the one the plan "
                "was made with; make a new plan"
            )
        values[name] = value
    return values


def check_plan(sent: Iterable[tuple[Address, Mapping[str, JSON]]], key: bytes) -> None:
    """Every secret a plan sends can be read and is the one planned, before anything is
    applied."""
    for address, planned_secrets in sent:
        reveal(planned_secrets, key, address)
