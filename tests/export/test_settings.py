"""Exported agent settings: what the server gives every agent is left out (`fresh-agent.json`
and `models.json` are a fresh agent and the model list as the real server answered them),
settings set by hand are exported and managed once the manifests are loaded again, tool
options come with the tools, and what a manifest cannot hold is noted."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from reconciler.export import ServerDefaults, Snapshot, UsersFile, infer, write_stack
from reconciler.export.defaults import model_defaults, tool_options
from reconciler.export.snapshot import ServerTool
from reconciler.kinds import agent, tool
from reconciler.kinds.agent_record import SHAPE as AGENT
from reconciler.live.state import LiveAgent
from reconciler.manifest import load_desired
from reconciler.values import thaw

HERE = Path(__file__).parent
FRESH: dict[str, Any] = json.loads((HERE / "fresh-agent.json").read_text())
SERVER = ServerDefaults(
    {e["handle"]: model_defaults(e) for e in json.loads((HERE / "models.json").read_text())}
)
TOOLS = [
    {"id": "tool-web", "name": "web_search", "tool_type": "letta_builtin"},
    {"id": "tool-replace", "name": "memory_replace", "tool_type": "letta_sleeptime_core"},
    {"id": "tool-lookup", "name": "lookup_order", "tool_type": "custom"},
    {"id": "tool-orders", "name": "get_order", "tool_type": "external_mcp"},
]
LOOKUP = '''def lookup_order(order_id: str) -> str:
    """Look up an order.

    Args:
        order_id: The order id.
    """
    return order_id
'''


def _agent(user: str, **changed: Any) -> LiveAgent:
    """The fresh agent as the server made it for `user`, with fields changed by hand."""
    raw = copy.deepcopy(FRESH)
    raw.update(id=f"agent-{user}", name=f"assistant-{user}", tags=[f"user:{user}"])
    for held in raw["blocks"]:
        held["id"] = f"block-{user}-{held['label']}"
    raw.update(changed)
    return agent.from_server(AGENT.parse(raw, "test"), "")


def test_what_the_server_gives_every_agent_is_left_out(tmp_path: Path) -> None:
    snapshot = Snapshot((_agent("ann"), _agent("ben")), (), ())
    exported = infer(snapshot, "acme", server=SERVER)
    assert exported.document["defaults"] == {
        "model": "letta/letta-free",
        "embedding": "letta/letta-free",
    }
    [template] = exported.document["templates"].values()
    assert template == {
        "name": "assistant-${user.id}",
        "blocks": {
            "human": {"value": "h", "policy": "seed"},
            "persona": {"value": "p", "policy": "seed"},
        },
    }
    assert exported.notes == ()


def test_an_agent_made_without_the_base_tools_keeps_them_off() -> None:
    bare = _agent("ann", tools=[], tool_rules=[{"type": "run_first", "tool_name": "memory_insert"}])
    exported = infer(Snapshot((bare,), (), ()), "acme", server=SERVER)
    [template] = exported.document["templates"].values()
    assert template["includeBaseTools"] is False
    assert "toolRules" not in template  # it names a base tool the agent does not have
    assert any("tool rules left as the server has them" in note for note in exported.notes)


def test_settings_set_by_hand_are_exported_and_managed(tmp_path: Path) -> None:
    settings = {
        **FRESH["model_settings"],
        # as the server reports an update of temperature and max_output_tokens only
        "temperature": 0.2,
        "max_output_tokens": 1024,
        "reasoning": {"reasoning_effort": "high"},
        "strict": True,
    }
    rules = [
        {"type": "max_count_per_step", "tool_name": "web_search", "max_count_limit": 2},
        {"type": "continue_loop", "tool_name": "memory_replace", "prompt_template": None},
    ]
    compaction = {**FRESH["compaction_settings"], "clip_chars": 20000}
    tuned = {
        "model_settings": settings,
        "compaction_settings": compaction,
        "tool_rules": rules,
        "tools": TOOLS[:3],
        "system": "You are Acme's assistant.",
        "timezone": "Europe/Paris",
    }
    lookup = ServerTool("lookup_order", LOOKUP, options={"returnCharLimit": 1000})
    snapshot = Snapshot((_agent("ann", **tuned), _agent("ben", **tuned)), (), (), tools=(lookup,))
    exported = infer(snapshot, "acme", server=SERVER)
    defaults = exported.document["defaults"]
    assert defaults["modelSettings"] == {"temperature": 0.2, "maxOutputTokens": 1024}
    assert defaults["compactionSettings"] == {"clipChars": 20000}
    assert (defaults["system"], defaults["timezone"]) == (
        "You are Acme's assistant.",
        "Europe/Paris",
    )
    [template] = exported.document["templates"].values()
    assert template["toolRules"] == [
        {"type": "maxCountPerStep", "tool": "web_search", "maxCount": 2}
    ]
    assert exported.document["tools"]["lookup_order"]["returnCharLimit"] == 1000
    write_stack(tmp_path / "out", exported, UsersFile.NEVER)
    state = load_desired([tmp_path / "out"], tmp_path / "out")
    managed = thaw(state.agents[0].settings)
    assert managed["model_settings"] == {"temperature": 0.2, "max_output_tokens": 1024}
    assert managed["compaction_settings"] == {"clip_chars": 20000}
    assert managed["tool_rules"] == [
        {"type": "max_count_per_step", "tool_name": "web_search", "max_count_limit": 2}
    ]
    assert state.tools[0].return_char_limit == 1000


def test_what_a_manifest_cannot_hold_is_noted() -> None:
    secrets = [{"key": "ORDERS_TOKEN", "value": ""}]
    mcp_rule = [{"type": "run_first", "tool_name": "get_order"}]
    settings = {**FRESH["model_settings"], "response_format": {"type": "json_object"}}
    odd = _agent("ann", secrets=secrets, tool_rules=mcp_rule, tools=TOOLS, model_settings=settings)
    theirs = ServerTool("lookup_order", LOOKUP, owner="billing", options={"returnCharLimit": 9})
    exported = infer(Snapshot((odd,), (), (), tools=(theirs,)), "acme", server=SERVER)
    [template] = exported.document["templates"].values()
    assert "toolRules" not in template
    assert list(exported.notes) == [
        "agent 'assistant-ann': tool(s) 'get_order' not listed (MCP tools and names no manifest "
        "can hold are left as they are)",
        "agent 'assistant-ann': its model's response_format is left as the server has it",
        "agent 'assistant-ann': secret(s) ORDERS_TOKEN not exported (values are never read); "
        "declare them with valueFromEnv to manage them",
        "agent 'assistant-ann': tool rules left as the server has them (one names a tool the "
        "exported agent does not list, or is not one a manifest can hold)",
        "tool 'lookup_order': option(s) returnCharLimit left as the server has them (the tool "
        "is listed by name, not defined here)",
    ]


def test_tool_options_leave_out_what_the_server_sets_by_itself() -> None:
    made = {
        "id": "tool-1",
        "name": "lookup_order",
        "tool_type": "custom",
        "source_code": LOOKUP,
        "description": "Look up an order.",
        "json_schema": {"name": "lookup_order", "description": "Look up an order."},
        "return_char_limit": 50000,
        "pip_requirements": None,
        "default_requires_approval": None,
        "tags": [],
        "metadata_": None,
    }
    assert (
        tool_options(made, thaw(tool.from_server(tool.SHAPE.parse(made, "test"), "").settings))
        == {}
    )
    tuned = {
        **made,
        "description": "Find an order by id.",
        "return_char_limit": 1000,
        "pip_requirements": [{"name": "requests", "version": "2.32.3"}],
        "default_requires_approval": True,
    }
    assert tool_options(
        tuned, thaw(tool.from_server(tool.SHAPE.parse(tuned, "test"), "").settings)
    ) == {
        "description": "Find an order by id.",
        "pipRequirements": ["requests==2.32.3"],
        "returnCharLimit": 1000,
        "requiresApproval": True,
    }
