"""Tools against the real server: the stack's own tools made, changed in place and removed,
built-in tools attached by name, tool rules kept, and a hand-made tool never overwritten."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from letta_client import Letta

from tests.integration.helpers import letta_apply, write_manifest

pytestmark = pytest.mark.server

SOURCE = '''def {name}(order_id: str) -> str:
    """Look up an order.

    Args:
        order_id: The order id.

    Returns:
        str: The order's status.
    """
    return "{status}"
'''

MANIFEST = """
apiVersion: letta-apply/v1
stack: {stack}
defaults: {{model: letta/letta-free, embedding: letta/letta-free}}
prune: {{enabled: true}}
tools:
{tools}
agents:
  desk:
    tools: [{attached}]
    toolPolicy: exact
    toolRules:
      - {{type: maxCountPerStep, tool: web_search, maxCount: 2}}
"""


def write(path: Path, stack: str, tools: dict[str, str], attached: list[str]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    lines = []
    for name, status in tools.items():
        (path / f"{name}.py").write_text(SOURCE.format(name=name, status=status))
        lines.append(f"  {name}: {{source: {name}.py, returnCharLimit: 3000}}")
    text = MANIFEST.format(
        stack=stack, tools="\n".join(lines) or "  {}", attached=", ".join(attached)
    )
    write_manifest(path, text.replace("tools:\n  {}", "tools: {}"))


def agent_tools(url: str, stack: str) -> dict[str, Any]:
    answer = httpx.get(
        f"{url}/v1/agents/",
        params={"tags": [f"letta-apply:{stack}"], "include": ["agent.tags", "agent.tools"]},
    )
    answer.raise_for_status()
    [agent] = answer.json()
    found: dict[str, Any] = agent
    return found


def tool_named(url: str, name: str) -> dict[str, Any] | None:
    answer = httpx.get(f"{url}/v1/tools/", params={"name": name})
    answer.raise_for_status()
    found: list[dict[str, Any]] = [t for t in answer.json() if t["name"] == name]
    return found[0] if found else None


def test_tools_are_created_changed_in_place_attached_and_removed(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    other = f"other_{stack_name}".replace("-", "_")
    hand_tool = sdk.tools.create(source_code=SOURCE.format(name=other, status="by hand"))
    hand_agent = sdk.agents.create(
        name=f"hand-{stack_name}",
        model="letta/letta-free",
        embedding="letta/letta-free",
        tool_ids=[hand_tool.id],
    )
    path = tmp_path / "m"
    lookup, track = (
        f"lookup_{stack_name}".replace("-", "_"),
        f"track_{stack_name}".replace("-", "_"),
    )
    write(path, stack_name, {lookup: "shipped", track: "moving"}, [lookup, track, "web_search"])
    applied = letta_apply(str(path), url=letta_url)
    assert applied.code == 0, applied.output
    agent = agent_tools(letta_url, stack_name)
    names = {t["name"] for t in agent["tools"]}
    assert {lookup, track, "web_search"} <= names
    assert {"type": "max_count_per_step", "tool_name": "web_search", "max_count_limit": 2} in [
        {k: v for k, v in r.items() if v is not None and k != "prompt_template"}
        for r in agent["tool_rules"]
    ]
    first = tool_named(letta_url, lookup)
    assert first is not None and first["return_char_limit"] == 3000
    assert letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url).code == 0

    # A changed source is an update in place, shown as a diff of the source.
    write(path, stack_name, {lookup: "delivered", track: "moving"}, [lookup, "web_search"])
    shown = letta_apply("plan", str(path), url=letta_url)
    assert '-     return "shipped"' in shown.stdout and '+     return "delivered"' in shown.stdout
    assert f"< tool/{track} from agent/desk" in shown.stdout
    assert letta_apply(str(path), url=letta_url).code == 0
    changed = tool_named(letta_url, lookup)
    assert changed is not None and changed["id"] == first["id"]
    assert 'return "delivered"' in changed["source_code"]
    assert track not in {t["name"] for t in agent_tools(letta_url, stack_name)["tools"]}
    assert letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url).code == 0

    # No longer declared: removed with prune (attached nowhere any more).
    write(path, stack_name, {lookup: "delivered"}, [lookup, "web_search"])
    assert letta_apply(str(path), "--allow-delete", "--allow-mass-delete", url=letta_url).code == 0
    assert tool_named(letta_url, track) is None
    assert letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url).code == 0

    # What others made is untouched: their tool, and their agent's tools.
    kept = tool_named(letta_url, other)
    assert kept is not None and 'return "by hand"' in kept["source_code"]
    hand = sdk.agents.retrieve(hand_agent.id, include=["agent.tools"])
    assert other in {t.name for t in hand.tools}

    sdk.agents.delete(agent_tools(letta_url, stack_name)["id"])
    sdk.agents.delete(hand_agent.id)
    sdk.tools.delete(first["id"])
    sdk.tools.delete(hand_tool.id)


def test_a_hand_made_tool_of_the_same_name_blocks_and_is_never_overwritten(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    name = f"hand_{stack_name}".replace("-", "_")
    hand = sdk.tools.create(source_code=SOURCE.format(name=name, status="hand-made"))
    path = tmp_path / "m"
    write(path, stack_name, {name: "from the stack"}, [name, "web_search"])
    planned = letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url)
    assert planned.code == 2, planned.output
    assert f"tool/{name}: a tool named '{name}' exists and is not owned" in planned.stdout
    applied = letta_apply(str(path), url=letta_url)
    assert applied.code == 3, applied.output
    kept = tool_named(letta_url, name)
    assert kept is not None and 'return "hand-made"' in kept["source_code"]
    # The agent was made without it: the stack never attaches a tool it could not make.
    assert name not in {t["name"] for t in agent_tools(letta_url, stack_name)["tools"]}

    adopted = letta_apply(
        "adopt", str(path), "--address", f"tool/{name}", "--id", hand.id, url=letta_url
    )
    assert adopted.code == 0, adopted.output
    assert letta_apply(str(path), url=letta_url).code == 0
    taken = tool_named(letta_url, name)
    assert taken is not None and taken["id"] == hand.id
    assert 'return "from the stack"' in taken["source_code"]
    assert name in {t["name"] for t in agent_tools(letta_url, stack_name)["tools"]}
    assert letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url).code == 0
    sdk.agents.delete(agent_tools(letta_url, stack_name)["id"])
    sdk.tools.delete(hand.id)


def test_a_saved_plan_attaches_the_servers_tools_it_names(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    path = tmp_path / "m"
    name = f"own_{stack_name}".replace("-", "_")
    write(path, stack_name, {name: "mine"}, [name, "web_search", "fetch_webpage"])
    saved = tmp_path / "plan.json"
    planned = letta_apply("plan", str(path), "--out", str(saved), url=letta_url)
    assert planned.code == 0, planned.output
    applied = letta_apply("apply", str(saved), url=letta_url)
    assert applied.code == 0, applied.output
    attached = {t["name"] for t in agent_tools(letta_url, stack_name)["tools"]}
    assert {name, "web_search", "fetch_webpage"} <= attached
    assert letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url).code == 0
    sdk.agents.delete(agent_tools(letta_url, stack_name)["id"])
    own = tool_named(letta_url, name)
    assert own is not None
    sdk.tools.delete(own["id"])


def test_a_custom_tool_claiming_an_mcp_server_in_its_metadata_is_not_that_servers_tool(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    """`metadata_` is anyone's to write: `<server>/<tool>` is resolved by the MCP server's own
    tool listing and the tool's type, so a tenant's custom tool is never attached as one."""
    fake, server = f"fake_{stack_name}".replace("-", "_"), f"srv-{stack_name}"
    forged = sdk.tools.create(source_code=SOURCE.format(name=fake, status="a tenant's"))
    claim = {"metadata_": {"mcp": {"server_name": server, "server_id": "mcp_server-x"}}}
    httpx.patch(f"{letta_url}/v1/tools/{forged.id}", json=claim).raise_for_status()
    path = tmp_path / "m"
    write(path, stack_name, {}, [f"{server}/{fake}", "web_search"])
    planned = letta_apply("plan", str(path), url=letta_url)
    assert f"no tool named '{server}/{fake}' on the server" in planned.stdout, planned.output
    applied = letta_apply(str(path), url=letta_url)
    assert applied.code == 3, applied.output  # the agent is made; the tool stays blocked
    agent = agent_tools(letta_url, stack_name)
    assert forged.id not in {t["id"] for t in agent["tools"]}
    sdk.agents.delete(agent["id"])
    sdk.tools.delete(forged.id)
