"""Agent secrets against the real server: values from the environment reach the server and
no output, file or error; changes and removals converge; a missing variable sends nothing."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from letta_client import Letta

from tests.integration.helpers import letta_apply, write_manifest

pytestmark = pytest.mark.server

MANIFEST = """
apiVersion: letta-apply/v1
stack: {stack}
defaults:
  model: letta/letta-free
  embedding: letta/letta-free
  secrets: {{REGION: {{valueFromEnv: SHOP_REGION}}}}
agents:
  desk:
    secrets:
{secrets}
"""


def write(path: Path, stack: str, names: dict[str, str]) -> None:
    lines = "\n".join(f"      {name}: {{valueFromEnv: {env}}}" for name, env in names.items())
    write_manifest(path, MANIFEST.format(stack=stack, secrets=lines or "      {}"))


def held(url: str, stack: str) -> dict[str, str]:
    """The agent's secrets as the server holds them."""
    answer = httpx.get(
        f"{url}/v1/agents/",
        params={"tags": [f"letta-apply:{stack}"], "include": ["agent.secrets"]},
    )
    answer.raise_for_status()
    [agent] = answer.json()
    found: list[dict[str, Any]] = agent["secrets"]
    return {s["key"]: s["value"] for s in found}


def test_secret_values_reach_the_server_and_no_output(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    token, region = f"tok-{uuid.uuid4().hex}", f"region-{uuid.uuid4().hex}"
    env = {
        "ORDERS_TOKEN": token,
        "SHOP_REGION": region,
        "LETTA_APPLY_ALLOW_ENV": "ORDERS_TOKEN,SHOP_REGION",
        "LETTA_APPLY_KEY": f"key-{uuid.uuid4().hex}",
    }
    path = tmp_path / "m"
    write(path, stack_name, {"ORDERS_API_TOKEN": "ORDERS_TOKEN"})

    outputs = []
    for fmt in ("text", "markdown", "json"):
        shown = letta_apply("plan", str(path), "--format", fmt, url=letta_url, **env)
        assert shown.code == 0, shown.output
        outputs.append(shown.output)
    saved = tmp_path / "plan.json"
    planned = letta_apply("plan", str(path), "--out", str(saved), url=letta_url, **env)
    outputs += [planned.output, saved.read_text()]
    assert "ORDERS_API_TOKEN" in outputs[0] and "(new)" in outputs[0]
    applied = letta_apply("apply", str(saved), url=letta_url, **env)
    assert applied.code == 0, applied.output
    outputs.append(applied.output)
    for fmt in ("json", "csv"):
        outputs.append(letta_apply("outputs", str(path), "--format", fmt, url=letta_url).output)
    again = letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url, **env)
    assert again.code == 0, again.output
    outputs.append(again.output)

    assert held(letta_url, stack_name) == {"ORDERS_API_TOKEN": token, "REGION": region}
    digests = recorded(letta_url, stack_name)
    assert set(digests) == {"ORDERS_API_TOKEN", "REGION"}
    for text in outputs:
        assert token not in text and region not in text
        assert not any(d[:8] in text for d in digests.values())  # no digest, whole or cut
        assert "digest" not in text.replace('"digest": "', "")  # only the plan's own

    # A new value: shown as changed (never the value), converged, then empty.
    rotated = f"tok-{uuid.uuid4().hex}"
    env["ORDERS_TOKEN"] = rotated
    changed = letta_apply("plan", str(path), url=letta_url, **env)
    assert 'secrets.ORDERS_API_TOKEN: "(set)" -> "(changed)"' in changed.stdout, changed.output
    assert "REGION" not in changed.stdout
    assert rotated not in changed.output and token not in changed.output
    assert letta_apply(str(path), url=letta_url, **env).code == 0
    assert held(letta_url, stack_name)["ORDERS_API_TOKEN"] == rotated

    # A saved plan whose value changed before the apply is refused, nothing sent.
    write(path, stack_name, {"ORDERS_API_TOKEN": "ORDERS_TOKEN", "EXTRA": "ORDERS_TOKEN"})
    assert letta_apply("plan", str(path), "--out", str(saved), url=letta_url, **env).code == 0
    stale = letta_apply("apply", str(saved), url=letta_url, **{**env, "ORDERS_TOKEN": "tok-3f9e"})
    assert stale.code == 1, stale.output
    assert "signature does not match" in stale.stderr
    assert "a secret's value changed since" in stale.stderr
    assert "tok-3f9e" not in stale.output and rotated not in stale.output
    assert "EXTRA" not in held(letta_url, stack_name)

    # Removed from the manifest: removed from the server.
    write(path, stack_name, {})
    removed = letta_apply("plan", str(path), url=letta_url, **env)
    assert 'secrets.ORDERS_API_TOKEN: "(set)" -> null' in removed.stdout, removed.output
    assert letta_apply(str(path), url=letta_url, **env).code == 0
    assert held(letta_url, stack_name) == {"REGION": region}
    assert letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url, **env).code == 0
    [agent] = sdk.agents.list(tags=[f"letta-apply:{stack_name}"])
    sdk.agents.delete(agent.id)


def recorded(url: str, stack: str) -> dict[str, str]:
    """The digests the stack's ownership record keeps for the agent's secrets."""
    answer = httpx.get(f"{url}/v1/agents/", params={"tags": [f"letta-apply:{stack}"]})
    answer.raise_for_status()
    [agent] = answer.json()
    found: dict[str, str] = agent["metadata"]["letta_apply"]["secrets"]
    return found


def test_a_missing_variable_is_an_error_before_any_request(tmp_path: Path, stack_name: str) -> None:
    path = tmp_path / "m"
    write(path, stack_name, {"ORDERS_API_TOKEN": "NOT_SET_ANYWHERE_42"})
    # Nothing listens there: an error about the variable proves no request was attempted.
    allowed = "NOT_SET_ANYWHERE_42 SHOP_REGION"
    result = letta_apply(
        "plan", str(path), url="http://127.0.0.1:9", SHOP_REGION="x", LETTA_APPLY_ALLOW_ENV=allowed
    )
    assert result.code == 1
    assert "stack.yaml:" in result.stderr
    assert "secret ORDERS_API_TOKEN: environment variable NOT_SET_ANYWHERE_42 is not set" in (
        result.stderr
    )
    assert "Traceback" not in result.output
