"""Secrets: digests bound to key, agent and name; sealing reads the environment; revealing
refuses a value that is not the planned one; nothing holds a value it does not need."""

from __future__ import annotations

import pytest

from reconciler import secrets
from reconciler.address import Address
from reconciler.desired import AgentSpec, DesiredState, SecretSpec
from reconciler.environ import EnvGrant
from reconciler.errors import LettaApplyError, Location, UnsafePlanError

AGENT = Address.agent("desk")


def access(key: bytes = b"k") -> secrets.SecretAccess:
    return secrets.SecretAccess(EnvGrant(("SHOP_*", "NOT_SET_HERE")), key)


def state(*declared: SecretSpec) -> DesiredState:
    return DesiredState("acme", (AgentSpec(AGENT, "desk", secrets=declared),))


def test_a_digest_depends_on_key_agent_name_and_value() -> None:
    base = secrets.digest(b"k", AGENT, "TOKEN", "v")
    assert base == secrets.digest(b"k", AGENT, "TOKEN", "v")
    others = {
        secrets.digest(b"other", AGENT, "TOKEN", "v"),
        secrets.digest(b"k", Address.agent("other"), "TOKEN", "v"),
        secrets.digest(b"k", AGENT, "OTHER", "v"),
        secrets.digest(b"k", AGENT, "TOKEN", "w"),
    }
    assert base not in others and len(others) == 4
    assert "v" not in base


def test_the_key_prefers_the_dedicated_variable_then_the_api_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(secrets.KEY_VARIABLE, raising=False)
    assert secrets.digest_key("api-key") == b"api-key"
    local = secrets.digest_key(None)
    assert local and local != b"api-key"
    monkeypatch.setenv(secrets.KEY_VARIABLE, "chosen")
    assert secrets.digest_key("api-key") == b"chosen"


def test_sealing_reads_the_environment_and_keeps_only_digests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHOP_TOKEN", "s3cret-value")
    sealed = access().seal(state(SecretSpec("TOKEN", "SHOP_TOKEN", Location("m.yaml", 3, 5))))
    [secret] = sealed.agents[0].secrets or ()
    assert secret.digest == secrets.digest(b"k", AGENT, "TOKEN", "s3cret-value")
    assert "s3cret-value" not in repr(sealed)
    planned = secrets.planned((secret,))
    assert planned == {"TOKEN": {"env": "SHOP_TOKEN", "digest": secret.digest}}
    assert access().reveal(planned, AGENT) == {"TOKEN": "s3cret-value"}


def test_a_missing_variable_is_named_with_where_it_is_declared(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NOT_SET_HERE", raising=False)
    with pytest.raises(LettaApplyError) as caught:
        access().check(state(SecretSpec("TOKEN", "NOT_SET_HERE", Location("m.yaml", 7, 9))))
    assert str(caught.value) == (
        "m.yaml:7:9: secret TOKEN: environment variable NOT_SET_HERE is not set"
    )


def test_a_value_changed_since_the_plan_is_refused_without_showing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHOP_TOKEN", "planned-value")
    planned = {
        "TOKEN": {
            "env": "SHOP_TOKEN",
            "digest": secrets.digest(b"k", AGENT, "TOKEN", "planned-value"),
        }
    }
    monkeypatch.setenv("SHOP_TOKEN", "new-value")
    with pytest.raises(UnsafePlanError) as caught:
        access().check_plan([(AGENT, planned)])
    assert "not the one the plan was made with" in str(caught.value)
    assert "new-value" not in str(caught.value) and "planned-value" not in str(caught.value)
