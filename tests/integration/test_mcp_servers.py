"""MCP servers against the real server and a real MCP server (the `mcp` package, started by
the Letta server as a command): created, marked, their tools attached by `<server>/<tool>`,
changed in place, removed; credentials in no output; a same-named server not made by the
stack blocks."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from letta_client import Letta

from reconciler.devserver.venv import ServerVenv
from tests.integration.helpers import letta_apply, write_manifest

pytestmark = pytest.mark.server

SCRIPT = '''
"""A small MCP server speaking stdio, with one tool."""
from mcp.server.fastmcp import FastMCP

app = FastMCP("orders")


@app.tool()
def {tool}(order_id: str) -> str:
    """Look up an order by id."""
    return "order " + order_id + ": shipped"


if __name__ == "__main__":
    app.run()
'''

MANIFEST = """
apiVersion: letta-apply/v1
stack: {stack}
defaults: {{model: letta/letta-free, embedding: letta/letta-free}}
prune: {{enabled: true}}
mcpServers:
{servers}
agents:
  desk:
    tools: [{tools}]
"""


def mcp_python() -> str:
    """A Python with the `mcp` package: the local Letta server's own."""
    if os.environ.get("LETTA_APPLY_TEST_SERVER"):
        pytest.skip("needs the local server the suite starts (stdio MCP servers enabled)")
    return str(ServerVenv.default().python)


def servers(url: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/v1/mcp-servers/")
    answer.raise_for_status()
    found: list[dict[str, Any]] = answer.json()
    return found


def agent_tools(url: str, stack: str) -> set[str]:
    answer = httpx.get(
        f"{url}/v1/agents/",
        params={"tags": [f"letta-apply:{stack}"], "include": ["agent.tools"]},
    )
    answer.raise_for_status()
    [agent] = answer.json()
    return {t["name"] for t in agent["tools"]}


def test_an_mcp_server_is_made_its_tool_attached_changed_and_removed(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    python = mcp_python()
    tool = f"get_order_{uuid.uuid4().hex[:8]}"
    script = tmp_path / "orders_mcp.py"
    script.write_text(SCRIPT.format(tool=tool))
    name = f"orders-{stack_name}"
    entry = (
        f"  {name}:\n    command: {python}\n    args: [{script}]\n"
        "    env: {ORDERS_KEY: {valueFromEnv: ORDERS_KEY}}"
    )
    path = tmp_path / "m"
    write_manifest(path, MANIFEST.format(stack=stack_name, servers=entry, tools=f"{name}/{tool}"))
    key = f"key-{uuid.uuid4().hex}"
    outputs = []
    planned = letta_apply(
        "plan",
        str(path),
        "--format",
        "json",
        url=letta_url,
        ORDERS_KEY=key,
        LETTA_APPLY_ALLOW_ENV="ORDERS_KEY",
        LETTA_APPLY_KEY="mcp-test-key",
    )
    outputs.append(planned.output)
    applied = letta_apply(
        str(path),
        url=letta_url,
        ORDERS_KEY=key,
        LETTA_APPLY_ALLOW_ENV="ORDERS_KEY",
        LETTA_APPLY_KEY="mcp-test-key",
    )
    outputs.append(applied.output)
    assert applied.code == 0, applied.output
    [made] = [s for s in servers(letta_url) if s["server_name"] == name]
    record = made["env"].pop("LETTA_APPLY_RECORD")
    assert made["env"] == {"ORDERS_KEY": key, "LETTA_APPLY_STACK": stack_name}
    assert re.fullmatch("env:ORDERS_KEY=[0-9a-f]{32}", record), record
    assert not any(record.split("=")[1][:8] in text for text in outputs)
    assert tool in agent_tools(letta_url, stack_name)
    again = letta_apply(
        "plan",
        str(path),
        "--detailed-exitcode",
        url=letta_url,
        ORDERS_KEY=key,
        LETTA_APPLY_ALLOW_ENV="ORDERS_KEY",
        LETTA_APPLY_KEY="mcp-test-key",
    )
    assert again.code == 0, again.output
    outputs.append(again.output)

    rotated = f"key-{uuid.uuid4().hex}"
    changed = letta_apply(
        "plan",
        str(path),
        url=letta_url,
        ORDERS_KEY=rotated,
        LETTA_APPLY_ALLOW_ENV="ORDERS_KEY",
        LETTA_APPLY_KEY="mcp-test-key",
    )
    assert 'values.env:ORDERS_KEY: "(set)" -> "(changed)"' in changed.stdout, changed.output
    outputs.append(changed.output)
    assert (
        letta_apply(
            str(path),
            url=letta_url,
            ORDERS_KEY=rotated,
            LETTA_APPLY_ALLOW_ENV="ORDERS_KEY",
            LETTA_APPLY_KEY="mcp-test-key",
        ).code
        == 0
    )
    [kept] = [s for s in servers(letta_url) if s["server_name"] == name]
    assert kept["id"] == made["id"] and kept["env"]["ORDERS_KEY"] == rotated
    for text in outputs:
        assert key not in text and rotated not in text

    # Removed from the manifest (and from the agent): deleted with prune.
    write_manifest(path, MANIFEST.format(stack=stack_name, servers="  {}", tools=""))
    text = (path / "stack.yaml").read_text().replace("mcpServers:\n  {}", "mcpServers: {}")
    (path / "stack.yaml").write_text(text)
    removed = letta_apply(str(path), "--allow-delete", "--allow-mass-delete", url=letta_url)
    assert removed.code == 0, removed.output
    assert name not in {s["server_name"] for s in servers(letta_url)}
    [agent] = sdk.agents.list(tags=[f"letta-apply:{stack_name}"])
    sdk.agents.delete(agent.id)


def test_a_same_named_mcp_server_not_made_by_the_stack_blocks(
    tmp_path: Path, letta_url: str, stack_name: str
) -> None:
    python = mcp_python()
    tool = f"get_order_{uuid.uuid4().hex[:8]}"
    script = tmp_path / "orders_mcp.py"
    script.write_text(SCRIPT.format(tool=tool))
    name = f"hand-{stack_name}"
    config = {"mcp_server_type": "stdio", "command": python, "args": [str(script)]}
    made = httpx.post(
        f"{letta_url}/v1/mcp-servers/", json={"server_name": name, "config": config}, timeout=120
    )
    made.raise_for_status()
    entry = f"  {name}:\n    command: {python}\n    args: [other.py]"
    path = tmp_path / "m"
    write_manifest(path, MANIFEST.format(stack=stack_name, servers=entry, tools=""))
    applied = letta_apply(str(path), url=letta_url)
    assert applied.code == 3, applied.output
    assert f"mcp-server/{name}: an MCP server named" in applied.stdout
    [hand] = [s for s in servers(letta_url) if s["server_name"] == name]
    assert hand["args"] == [str(script)] and "LETTA_APPLY_STACK" not in (hand.get("env") or {})
    httpx.delete(f"{letta_url}/v1/mcp-servers/{made.json()['id']}").raise_for_status()


def test_a_server_forged_with_the_stacks_mark_answers_no_guess(
    tmp_path: Path, letta_url: str, stack_name: str
) -> None:
    """Someone makes a server of the declared name carrying the stack's mark and the right
    credential: without the stack's keyed record it shows as changed, as a wrong guess would."""
    python = mcp_python()
    script = tmp_path / "orders_mcp.py"
    script.write_text(SCRIPT.format(tool=f"get_order_{uuid.uuid4().hex[:8]}"))
    name = f"forged-{stack_name}"
    key = f"key-{uuid.uuid4().hex[:4]}"
    env = {"ORDERS_KEY": key, "LETTA_APPLY_STACK": stack_name}
    config = {"mcp_server_type": "stdio", "command": python, "args": [str(script)], "env": env}
    made = httpx.post(
        f"{letta_url}/v1/mcp-servers/", json={"server_name": name, "config": config}, timeout=120
    )
    made.raise_for_status()
    entry = (
        f"  {name}:\n    command: {python}\n    args: [{script}]\n"
        "    env: {ORDERS_KEY: {valueFromEnv: ORDERS_KEY}}"
    )
    path = tmp_path / "m"
    write_manifest(path, MANIFEST.format(stack=stack_name, servers=entry, tools=""))
    shown = {}
    for guess in (key, "wrong-guess"):
        planned = letta_apply(
            "plan",
            str(path),
            url=letta_url,
            ORDERS_KEY=guess,
            LETTA_APPLY_ALLOW_ENV="ORDERS_KEY",
            LETTA_APPLY_KEY="mcp-test-key",
        )
        assert planned.code == 0, planned.output
        shown[guess] = [line for line in planned.stdout.splitlines() if "ORDERS_KEY" in line]
    assert shown[key] == shown["wrong-guess"]
    assert any('"(set)" -> "(changed)"' in line for line in shown[key]), shown
    httpx.delete(f"{letta_url}/v1/mcp-servers/{made.json()['id']}").raise_for_status()


def test_a_url_servers_token_and_headers_once_applied_plan_as_unchanged(
    tmp_path: Path, letta_url: str, stack_name: str
) -> None:
    """The server keeps a token without a `Bearer ` prefix and answers with one: a token
    applied shows as unchanged afterwards, not as changed on every plan."""
    name = f"url-{stack_name}"
    entry = (
        f"  {name}:\n    url: https://mcp.example.com/orders\n    authHeader: Authorization\n"
        "    authToken: {valueFromEnv: ORDERS_TOKEN}\n"
        "    headers: {X-Shop: {valueFromEnv: ORDERS_TOKEN}}"
    )
    path = write_manifest(
        tmp_path / "m", MANIFEST.format(stack=stack_name, servers=entry, tools="")
    )
    env = {
        "ORDERS_TOKEN": f"tok-{uuid.uuid4().hex[:8]}",
        "LETTA_APPLY_ALLOW_ENV": "ORDERS_TOKEN",
        "LETTA_APPLY_KEY": "mcp-test-key",
    }
    applied = letta_apply(str(path), url=letta_url, **env)
    assert applied.code == 0, applied.output
    [made] = [s for s in servers(letta_url) if s["server_name"] == name]
    try:
        again = letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url, **env)
        assert again.code == 0, again.output
    finally:
        httpx.delete(f"{letta_url}/v1/mcp-servers/{made['id']}").raise_for_status()
