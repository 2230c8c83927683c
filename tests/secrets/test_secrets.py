"""Secrets: digests bound to key, resource and name; sealing reads the environment through
the operator's grant; plans carry variable names only; a secret is unchanged only when the
stack's own record holds the declared value's digest."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler import secrets
from reconciler.address import Address
from reconciler.desired import AgentSpec, DesiredState, SecretSpec
from reconciler.environ import EnvGrant
from reconciler.errors import LettaApplyError, Location
from reconciler.keys import OperatorKey

AGENT = Address.agent("desk")


def access(environ: dict[str, str], api_key: str | None = "api-key") -> secrets.SecretAccess:
    grant = EnvGrant(("SHOP_*", "NOT_SET_HERE"), environ)
    return secrets.SecretAccess(grant, OperatorKey(api_key, environ))


def state(*declared: SecretSpec) -> DesiredState:
    return DesiredState("acme", (AgentSpec(AGENT, "desk", secrets=declared),))


TOKEN = SecretSpec("TOKEN", "SHOP_TOKEN", Location("m.yaml", 3, 5))


def test_a_digest_depends_on_key_resource_name_and_value() -> None:
    base = secrets.digest(b"k", AGENT, "TOKEN", "v")
    assert base == secrets.digest(b"k", AGENT, "TOKEN", "v")
    others = {
        secrets.digest(b"other", AGENT, "TOKEN", "v"),
        secrets.digest(b"k", Address.agent("other"), "TOKEN", "v"),
        secrets.digest(b"k", AGENT, "OTHER", "v"),
        secrets.digest(b"k", AGENT, "TOKEN", "w"),
    }
    assert base not in others and len(others) == 4


def test_sealing_keeps_a_keyed_digest_and_the_plan_only_the_variable() -> None:
    environ = {"SHOP_TOKEN": "s3cret-value"}
    sealed = access(environ).seal(state(TOKEN))
    [secret] = sealed.agents[0].secrets or ()
    unkeyed = secrets.digest(b"", AGENT, "TOKEN", "s3cret-value")
    assert secret.digest and secret.digest != unkeyed
    assert (
        secret.digest
        != access(environ, api_key="another-key").seal(state(TOKEN)).agents[0].secrets[0].digest
    )  # type: ignore[index]
    assert "s3cret-value" not in repr(sealed)
    assert secrets.planned((secret,)) == {"TOKEN": {"env": "SHOP_TOKEN"}}
    assert access(environ).reveal({"TOKEN": {"env": "SHOP_TOKEN"}}, AGENT) == {
        "TOKEN": "s3cret-value"
    }


def test_a_missing_variable_is_named_with_where_it_is_declared() -> None:
    with pytest.raises(LettaApplyError) as caught:
        access({}).check(state(SecretSpec("TOKEN", "NOT_SET_HERE", Location("m.yaml", 7, 9))))
    assert str(caught.value) == (
        "m.yaml:7:9: secret TOKEN: environment variable NOT_SET_HERE is not set"
    )


def test_a_value_that_is_not_utf8_is_refused_before_any_request_without_quoting_it() -> None:
    """The environment keeps bytes that are not UTF-8 as lone surrogates, which no request
    can carry: refused when planning (and when a saved plan is applied), value unquoted."""
    environ = {"SHOP_TOKEN": "pin-4821\udcff"}
    with pytest.raises(LettaApplyError) as caught:
        access(environ).check(state(TOKEN))
    assert str(caught.value) == (
        "m.yaml:3:5: secret TOKEN: environment variable SHOP_TOKEN does not hold UTF-8 text"
    )
    with pytest.raises(LettaApplyError, match="does not hold UTF-8 text") as revealed:
        access(environ).reveal({"TOKEN": {"env": "SHOP_TOKEN"}}, AGENT)
    assert "4821" not in str(revealed.value)


def test_revealing_reads_through_the_grant_whatever_the_plan_names() -> None:
    """A plan (a saved one may be edited) naming a variable the operator did not allow gets
    nothing."""
    environ = {"SHOP_TOKEN": "v", "DEPLOY_KEY": "held"}
    with pytest.raises(LettaApplyError, match="not one the operator lets manifests read"):
        access(environ).reveal({"TOKEN": {"env": "DEPLOY_KEY"}}, AGENT)
    with pytest.raises(LettaApplyError, match="can never read it"):
        access(environ).reveal({"TOKEN": {"env": "LETTA_API_KEY"}}, AGENT)


def test_unchanged_only_when_the_record_holds_the_declared_digest() -> None:
    sealed = secrets.SecretSpec("TOKEN", "SHOP_TOKEN", Location("m.yaml"), digest="d1")
    assert secrets.state(sealed, "d1", held=True) == secrets.SET
    assert secrets.state(sealed, "d0", held=True) == secrets.CHANGED
    assert secrets.state(sealed, None, held=True) == secrets.CHANGED
    assert secrets.state(sealed, "d1", held=False) == secrets.NEW


def test_in_ci_without_a_key_a_stack_with_secrets_is_refused_in_one_line(
    tmp_path: Path,
) -> None:
    environ = {"CI": "true", "SHOP_TOKEN": "v", "XDG_CONFIG_HOME": str(tmp_path)}
    with pytest.raises(LettaApplyError) as caught:
        access(environ, api_key=None).check(state(TOKEN))
    assert str(caught.value) == (
        "this stack declares secrets, and there is no key to keep secrets' digests with: set "
        "LETTA_APPLY_KEY (a long random value kept as a CI secret) or LETTA_API_KEY"
    )
    access(environ, api_key=None).check(DesiredState("acme"))  # no secrets: no key needed
    assert not (tmp_path / "letta-apply").exists()
