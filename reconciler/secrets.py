"""Agent secrets: values read from the environment, compared by a keyed digest, never kept.

A manifest names, for each secret, the environment variable holding its value, which the
operator must allow (`reconciler.environ`: every value is read through its grant). The value is
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
from dataclasses import dataclass, replace

from reconciler.address import Address
from reconciler.desired import DesiredState, SecretSpec
from reconciler.environ import EnvGrant, EnvRefused
from reconciler.errors import LettaApplyError, UnsafePlanError
from reconciler.values import JSON

KEY_VARIABLE = "LETTA_APPLY_SECRETS_KEY"
_LOCAL_KEY = b"letta-apply: a server without an API key"

SHOWN_SET, SHOWN_CHANGED, SHOWN_NEW = "(set)", "(changed)", "(new)"
"""How a plan shows a secret: never its value, only whether the server has it as declared."""


def digest_key(api_key: str | None) -> bytes:
    """The key digests are made with (see the module's note)."""
    chosen = os.environ.get(KEY_VARIABLE) or api_key
    return chosen.encode() if chosen else _LOCAL_KEY


def digest(key: bytes, address: Address, name: str, value: str) -> str:
    """The value's keyed digest, bound to the agent and the secret's name."""
    message = "\0".join((str(address), name, value)).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def shown(declared: Iterable[SecretSpec], held: Mapping[str, str | None]) -> dict[str, JSON]:
    """Each declared secret as a plan shows it, from the digests of the secrets the server
    holds (None where none was recorded): new when the server lacks it, set when its digest
    matches the declared value's, changed otherwise."""
    return {
        secret.name: SHOWN_NEW
        if secret.name not in held
        else SHOWN_SET
        if held[secret.name] == secret.digest
        else SHOWN_CHANGED
        for secret in declared
    }


@dataclass(frozen=True)
class SecretAccess:
    """What the operator gives a stack's secrets: the variables manifests may read (every
    value is read through `grant`) and the key digests are made with."""

    grant: EnvGrant
    key: bytes

    def check(self, desired: DesiredState) -> None:
        """Every variable a declared secret reads may be read and is set; otherwise one error
        naming each (at its `file:line:col`), raised before any request. A refused variable
        is refused whether or not it is set."""
        problems = sorted(
            {
                f"{secret.loc}: secret {secret.name}: {problem}"
                for _address, declared in desired.declared_secrets()
                for secret in declared
                if (problem := self._problem(secret.env)) is not None
            }
        )
        if problems:
            raise EnvRefused("\n".join(problems))

    def _problem(self, variable: str) -> str | None:
        refused = self.grant.refusal(variable)
        if refused is not None:
            return refused
        return (
            None
            if self.grant.read(variable) is not None
            else f"environment variable {variable} is not set"
        )

    def seal(self, desired: DesiredState) -> DesiredState:
        """The desired state with each secret's digest computed from its variable's value."""
        self.check(desired)
        agents = tuple(
            replace(spec, secrets=self._sealed(spec.address, spec.secrets))
            if spec.secrets
            else spec
            for spec in desired.agents
        )
        servers = tuple(
            replace(spec, credentials=self._sealed(spec.address, spec.credentials))
            for spec in desired.mcp_servers
        )
        return replace(desired, agents=agents, mcp_servers=servers)

    def _sealed(self, address: Address, declared: tuple[SecretSpec, ...]) -> tuple[SecretSpec, ...]:
        return tuple(
            replace(s, digest=digest(self.key, address, s.name, self._value(s.env, address)))
            for s in declared
        )

    def _value(self, variable: str, address: Address) -> str:
        value = self.grant.read(variable)
        if value is None:
            raise LettaApplyError(f"{address}: {variable} is not set")
        return value

    def reveal(self, planned_secrets: Mapping[str, JSON], address: Address) -> dict[str, str]:
        """The values to send, read from the environment now; refused when a value is not
        the one the plan was made with."""
        values: dict[str, str] = {}
        for name, entry in sorted(planned_secrets.items()):
            variable = str(entry["env"])
            try:
                value = self._value(variable, address)
            except LettaApplyError as exc:
                raise LettaApplyError(f"{address}: secret {name}: {exc}") from exc
            if not hmac.compare_digest(digest(self.key, address, name, value), entry["digest"]):
                raise UnsafePlanError(
                    f"{address}: secret {name}: the value of {variable} is not the one the "
                    "plan was made with; make a new plan"
                )
            values[name] = value
        return values

    def check_plan(self, sent: Iterable[tuple[Address, Mapping[str, JSON]]]) -> None:
        """Every secret a plan sends can be read and is the one planned, before anything is
        applied."""
        for address, planned_secrets in sent:
            self.reveal(planned_secrets, address)


def planned(secrets: Iterable[SecretSpec]) -> dict[str, JSON]:
    """What a plan carries for the secrets: the variable and the digest, never the value."""
    return {s.name: {"env": s.env, "digest": s.digest} for s in secrets}
