"""Agent secrets and MCP credentials: values read from the environment, compared by a keyed
digest the stack keeps on the server, never kept or shown.

A manifest names, for each secret, the environment variable holding its value, which the
operator must allow (`reconciler.environ`: every value is read through its grant). The value is
read when planning, to compute its digest, and when applying, to send it; nothing else ever
holds it. Plans carry only secret names and variable names, and say whether each is new,
changed or unchanged; the digests the stack last wrote are kept on the server (an agent's
ownership record, an MCP server's record entry), and a saved plan binds the values it was made
with through its signature (`reconciler.plan.signing`).

Digests are HMAC-SHA256 with a key derived from the operator's key (`reconciler.keys`), bound
to the resource's address and the secret's name. A value is shown unchanged only when the
stack's own record holds its digest: a same-named resource someone else made (with a guessed
value) has no such record, so the plan cannot be used to test guesses. Changing the key makes
every secret show as changed once, and the next apply rewrites them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from reconciler.address import Address
from reconciler.desired import DesiredState, SecretSpec
from reconciler.environ import EnvGrant, EnvRefused
from reconciler.errors import LettaApplyError
from reconciler.keys import NO_KEY, OperatorKey
from reconciler.values import JSON

NEW, CHANGED, SET = "(new)", "(changed)", "(set)"
"""How a plan shows a secret: new, changed, or (on both sides) unchanged; never a digest."""

_DIGESTS = "letta-apply secret digests"
_SIGNATURES = "letta-apply plan signatures"


def digest(key: bytes, address: Address, name: str, value: str) -> str:
    """The value's keyed digest, bound to the resource and the secret's name."""
    message = "\0".join((str(address), name, value)).encode("utf-8", "surrogatepass")
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class SecretAccess:
    """What the operator gives a stack's secrets: the variables manifests may read (every
    value is read through `grant`) and the key digests and signatures are made with."""

    grant: EnvGrant
    key: OperatorKey
    _sent: set[str] = field(default_factory=set, repr=False, compare=False)
    """The values revealed to be sent: no message may quote them."""

    def check(self, desired: DesiredState) -> None:
        """Every variable a declared secret reads may be read and is set, and there is a key;
        otherwise one error naming each (at its `file:line:col`), raised before any request.
        A refused variable is refused whether or not it is set."""
        self.check_secrets([s for _address, specs in desired.declared_secrets() for s in specs])

    def check_secrets(self, declared: Sequence[SecretSpec]) -> None:
        """`check` of these secrets."""
        problems = sorted(
            {
                f"{secret.loc}: secret {secret.name}: {problem}"
                for secret in declared
                if (problem := self._problem(secret.env)) is not None
            }
        )
        if problems:
            raise EnvRefused(*problems)
        if declared and self.key.get() is None:
            raise LettaApplyError(f"this stack declares secrets, and {NO_KEY}")

    def _problem(self, variable: str) -> str | None:
        refused = self.grant.refusal(variable)
        if refused is not None:
            return refused
        value = self.grant.read(variable)
        if value is None:
            return f"environment variable {variable} is not set"
        return _not_text(variable, value)

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
            replace(s, digest=self.digest(address, s.name, self._value(s.env, address)))
            for s in declared
        )

    def _value(self, variable: str, address: Address) -> str:
        value = self.grant.read(variable)
        if value is None:
            raise LettaApplyError(f"{address}: environment variable {variable} is not set")
        if (problem := _not_text(variable, value)) is not None:
            raise LettaApplyError(f"{address}: {problem}")
        return value

    def digest(self, address: Address, name: str, value: str) -> str:
        """The value's digest under the operator's key (which must exist)."""
        self.key.require()
        key = self.key.derived(_DIGESTS)
        assert key is not None
        return digest(key, address, name, value)

    def live_digest(self, address: Address, name: str, value: str) -> str | None:
        """A value read from the server as a digest, or None without a key."""
        key = self.key.derived(_DIGESTS)
        return None if key is None else digest(key, address, name, value)

    def reveal(self, planned_secrets: Mapping[str, JSON], address: Address) -> dict[str, str]:
        """The values to send, read from the environment now (through the grant)."""
        if planned_secrets:
            self.key.require()
        values: dict[str, str] = {}
        for name, entry in sorted(planned_secrets.items()):
            variable = str(entry["env"]) if isinstance(entry, Mapping) else ""
            try:
                values[name] = self._value(variable, address)
            except LettaApplyError as exc:
                raise LettaApplyError(f"{address}: secret {name}: {exc}") from exc
        self._sent.update(values.values())
        return values

    def sent(self) -> tuple[str, ...]:
        """The values revealed so far (for the client to keep out of what it prints)."""
        return tuple(self._sent.copy())  # a copy: other threads may add meanwhile

    def record(self, address: Address, values: Mapping[str, str]) -> dict[str, str]:
        """The digests the stack keeps on the server for the values it sends."""
        return {name: self.digest(address, name, value) for name, value in values.items()}

    def signing_key(self) -> bytes | None:
        """The key saved plans are signed with; None in CI without a key."""
        return self.key.derived(_SIGNATURES)

    def sent_digests(
        self, sent: Iterable[tuple[Address, Mapping[str, JSON]]]
    ) -> list[tuple[str, str, str]]:
        """(address, name, digest) of every secret a plan sends, from the values the
        environment holds now: what a saved plan's signature binds."""
        found = []
        for address, planned_secrets in sent:
            for name, value in self.reveal(planned_secrets, address).items():
                found.append((str(address), name, self.digest(address, name, value)))
        return sorted(found)


def _not_text(variable: str, value: str) -> str | None:
    """Why `value` cannot be sent (bytes that are not UTF-8, which the process environment
    keeps as lone surrogates), without quoting it; None when it can."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return f"environment variable {variable} does not hold UTF-8 text"
    return None


def planned(secrets: Iterable[SecretSpec]) -> dict[str, JSON]:
    """What a plan carries for the secrets: the variable's name, never a value or a digest."""
    return {s.name: {"env": s.env} for s in secrets}


def state(secret: SecretSpec, recorded: str | None, held: bool) -> str:
    """How a plan shows a declared secret: new when the resource does not hold it, unchanged
    only when the stack's own record holds the digest of the declared value."""
    if not held:
        return NEW
    return SET if recorded is not None and recorded == secret.digest else CHANGED
