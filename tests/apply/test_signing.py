"""Saved plans are signed with the operator's key: an edited plan is refused even when its
digest was recomputed (guards and destinations are signed content), as are an unsigned plan
wherever a key exists, a signed one where none does, and one whose secrets changed since."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.address import Address
from reconciler.cli import main
from reconciler.desired import DesiredState, McpServerSpec, PruneSettings, SecretSpec
from reconciler.environ import EnvGrant
from reconciler.errors import LettaApplyError, Location, UnsafePlanError
from reconciler.keys import OperatorKey
from reconciler.live import LiveState
from reconciler.plan.model import Plan
from reconciler.plan.serialize import plan_digest, plan_from_dict, saved_plan_from_json
from reconciler.plan.signing import check_signature, sign_plan
from reconciler.planner import build_plan
from reconciler.render import render_json
from reconciler.secrets import SecretAccess
from tests.cli import recorder as recording
from tests.cli.recorder import Recorder

ENVIRON = {"ORDERS_TOKEN": "tok-1", "LETTA_APPLY_KEY": "operator-key"}
TOKEN = SecretSpec("authToken", "ORDERS_TOKEN", Location("m.yaml", 5, 16))


def access(environ: dict[str, str] = ENVIRON) -> SecretAccess:
    return SecretAccess(EnvGrant(("ORDERS_*",), environ), OperatorKey(None, environ))


def mcp_plan(target: str = "http://letta.example") -> Plan:
    """The planner's plan creating an MCP server that sends the stack's credential."""
    server = McpServerSpec(
        Address.mcp_server("orders"),
        "streamable_http",
        url="https://mcp.example.com/orders",
        auth_header="Authorization",
        credentials=(TOKEN,),
    )
    desired = DesiredState("acme", mcp_servers=(server,), prune=PruneSettings(True, 10.0))
    sealed = access().seal(desired)
    return build_plan(sealed, LiveState("acme"), target=target, prune=True)


def signed_document(plan: Plan) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(render_json(plan, sign_plan(plan, access())))
    return document


def edited(document: dict[str, Any], edit: Callable[[dict[str, Any]], None]) -> str:
    """The document edited, its digest recomputed as an attacker would."""
    edit(document)
    about = {key: value for key, value in document.items() if key not in ("digest", "summary")}
    del about["signature"]
    document["digest"] = plan_digest(plan_from_dict(about))
    document.pop("summary")
    return json.dumps(document)


def raise_guard(document: dict[str, Any]) -> None:
    document["max_delete_percent"] = 100


def point_elsewhere(document: dict[str, Any]) -> None:
    [create] = document["changes"]
    create["body"]["config"]["server_url"] = "https://attacker.example/collect"


def read_token_from(variable: str) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        document["changes"][0]["body"]["credentials"]["authToken"]["env"] = variable

    return edit


def test_a_signed_plan_reads_back_and_checks() -> None:
    plan = mcp_plan()
    saved = saved_plan_from_json(json.dumps(signed_document(plan)))
    assert saved.signature is not None and check_signature(saved, access()) == plan


@pytest.mark.parametrize("edit", [raise_guard, point_elsewhere, read_token_from("ORDERS_OLD")])
def test_an_edited_plan_with_its_digest_recomputed_is_refused(
    edit: Callable[[dict[str, Any]], None],
) -> None:
    text = edited(signed_document(mcp_plan()), edit)
    saved = saved_plan_from_json(text)  # the digest matches: only the signature tells
    with pytest.raises(UnsafePlanError, match="signature does not match"):
        check_signature(saved, access({**ENVIRON, "ORDERS_OLD": "x"}))


def test_a_secret_changed_since_the_plan_is_refused() -> None:
    saved = saved_plan_from_json(json.dumps(signed_document(mcp_plan())))
    with pytest.raises(UnsafePlanError, match="a secret's value changed since"):
        check_signature(saved, access({**ENVIRON, "ORDERS_TOKEN": "tok-2"}))


def test_another_key_is_refused() -> None:
    saved = saved_plan_from_json(json.dumps(signed_document(mcp_plan())))
    with pytest.raises(UnsafePlanError):
        check_signature(saved, access({**ENVIRON, "LETTA_APPLY_KEY": "another"}))


@pytest.mark.parametrize("forged", ["hmac-sha256:\u00e9", "hmac-sha256:\ud800", ""])
def test_a_signature_that_is_not_ascii_is_refused_as_mismatched(forged: str) -> None:
    document = signed_document(mcp_plan())
    document["signature"] = forged
    saved = saved_plan_from_json(json.dumps(document))
    with pytest.raises(UnsafePlanError, match="signature does not match"):
        check_signature(saved, access())


def test_unsigned_is_refused_where_a_key_exists_and_signed_where_none_does(
    tmp_path: Path,
) -> None:
    plan = mcp_plan()
    unsigned = saved_plan_from_json(render_json(plan))
    with pytest.raises(UnsafePlanError, match="not signed"):
        check_signature(unsigned, access())
    keyless = {"CI": "true", "ORDERS_TOKEN": "tok-1", "XDG_CONFIG_HOME": str(tmp_path)}
    signed = saved_plan_from_json(json.dumps(signed_document(plan)))
    with pytest.raises(LettaApplyError, match="no key here to check it with"):
        check_signature(signed, access(keyless))


def test_the_signature_holds_no_secret_or_digest_of_one() -> None:
    document = signed_document(mcp_plan())
    text = json.dumps(document)
    assert "tok-1" not in text
    assert document["changes"][0]["body"]["credentials"] == {"authToken": {"env": "ORDERS_TOKEN"}}
    assert document["signature"].startswith("hmac-sha256:")


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with recording.running() as server:
        yield server


def test_apply_refuses_an_edited_plan_before_any_request(
    tmp_path: Path,
    recorder: Recorder,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in ENVIRON.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LETTA_APPLY_ALLOW_ENV", "ORDERS_*")
    path = tmp_path / "plan.json"
    path.write_text(edited(signed_document(mcp_plan(recorder.url)), raise_guard))
    with pytest.raises(SystemExit) as exited:
        main(["apply", str(path), "--base-url", recorder.url])
    assert exited.value.code == 1 and recorder.requests == []
    assert "signature does not match" in capsys.readouterr().err


def test_an_unsigned_plan_applied_where_there_is_no_key_says_so(
    tmp_path: Path,
    recorder: Recorder,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """CI without a key applies an unsigned plan, and says that an edit could not be told."""
    for name in ("LETTA_APPLY_KEY", "LETTA_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    path = tmp_path / "plan.json"
    path.write_text(
        render_json(build_plan(DesiredState("acme"), LiveState("acme"), target=recorder.url))
    )
    with pytest.raises(SystemExit):
        main(["apply", str(path), "--base-url", recorder.url])
    err = capsys.readouterr().err
    assert "Note: the saved plan is not signed (no LETTA_APPLY_KEY or API key here)" in err, err
