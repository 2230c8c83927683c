"""`export` of agent settings against the real server: what a fresh agent gets is what the
export knows as the server's defaults (and leaves out), settings set by hand are exported and
managed once adopted (a changed value shows in a plan), and an export matching nothing
writes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from letta_client import Letta

from reconciler.export.defaults import (
    BLOCK_DESCRIPTIONS,
    DEFAULT_TIMEZONE,
    is_default_system,
    model_defaults,
    tool_options,
)
from reconciler.kinds import tool
from reconciler.kinds.agent_settings import COMPACTION_SETTINGS, MODEL_SETTINGS
from reconciler.manifest.blueprints import DEFAULT_BLOCK_LIMIT
from reconciler.values import thaw
from tests.integration.helpers import letta_apply

pytestmark = pytest.mark.server

MODEL = "letta/letta-free"
SOURCE = '''def {name}(order_id: str) -> str:
    """Look up an order.

    Args:
        order_id: The order id.

    Returns:
        str: The order's status.
    """
    return order_id
'''


def _raw(url: str, path: str) -> Any:
    answer = httpx.get(f"{url}{path}", params={"include": ["agent.blocks", "agent.tools"]})
    answer.raise_for_status()
    return answer.json()


def _at(held: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        held = held.get(name) if isinstance(held, dict) else None
    return held


def test_what_a_fresh_agent_gets_is_what_export_leaves_out(
    letta_url: str, stack_name: str, sdk: Letta
) -> None:
    name = f"lookup_{stack_name}".replace("-", "_")
    made_tool = sdk.tools.create(source_code=SOURCE.format(name=name))
    made = sdk.agents.create(
        name=f"fresh-{stack_name}",
        model=MODEL,
        embedding=MODEL,
        memory_blocks=[{"label": "persona", "value": "p"}, {"label": "human", "value": "h"}],
    )
    raw = _raw(letta_url, f"/v1/agents/{made.id}")
    [entry] = [m for m in _raw(letta_url, "/v1/models/") if m["handle"] == MODEL]
    defaults = model_defaults(entry)
    assert is_default_system(raw["system"])
    assert raw["timezone"] == DEFAULT_TIMEZONE
    assert raw["llm_config"]["context_window"] == defaults.context_window
    for block in raw["blocks"]:
        assert (block["limit"], block["description"]) == (
            DEFAULT_BLOCK_LIMIT,
            BLOCK_DESCRIPTIONS[block["label"]],
        )
    for key, path in MODEL_SETTINGS.items():
        assert _at(raw["model_settings"], path) in defaults.model_settings[key], key
    for key, path in COMPACTION_SETTINGS.items():
        assert _at(raw["compaction_settings"], path) in defaults.compaction[key], key
    # An update of some model settings fills in the others: those are defaults too.
    sdk.agents.update(made.id, model_settings={"provider_type": "openai", "temperature": 0.2})
    updated = _raw(letta_url, f"/v1/agents/{made.id}")["model_settings"]
    for key, path in MODEL_SETTINGS.items():
        if key != "temperature":
            assert _at(updated, path) in defaults.model_settings[key], key
    raw_tool = tool.SHAPE.parse(_raw(letta_url, f"/v1/tools/{made_tool.id}"), "GET /v1/tools/")
    assert tool_options(raw_tool, thaw(tool.from_server(raw_tool, "").settings)) == {}


def _fleet(sdk: Letta, stack: str) -> str:
    """Two agents made by hand with model settings, a tool with a return limit and a tool
    rule; the tool's name."""
    name = f"lookup_{stack}".replace("-", "_")
    made_tool = sdk.tools.create(source_code=SOURCE.format(name=name), return_char_limit=1000)
    for user in ("u0", "u1"):
        made = sdk.agents.create(
            name=f"assistant-{stack}-{user}",
            model=MODEL,
            embedding=MODEL,
            memory_blocks=[{"label": "persona", "value": "I am a personal assistant."}],
            tool_ids=[made_tool.id],
            tool_rules=[{"type": "max_count_per_step", "tool_name": name, "max_count_limit": 2}],
            tags=[f"user:{stack}-{user}", f"app:{stack}"],
        )
        settings = {"provider_type": "openai", "temperature": 0.2, "max_output_tokens": 1024}
        sdk.agents.update(made.id, model_settings=settings)
    return name


def test_settings_set_by_hand_are_exported_and_then_managed(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    name = _fleet(sdk, stack_name)
    out = tmp_path / "exported"
    args = ("export", "--out", str(out), "--tag", f"app:{stack_name}", "--name", stack_name)
    exported = letta_apply(*args, url=letta_url)
    assert exported.code == 0, exported.output
    assert "Note:" not in exported.stdout, exported.stdout
    document = yaml.safe_load((out / "stack.yaml").read_text())
    assert document["defaults"] == {
        "model": MODEL,
        "embedding": MODEL,
        "modelSettings": {"temperature": 0.2, "maxOutputTokens": 1024},
    }
    [template] = document["templates"].values()
    assert template["toolRules"] == [{"type": "maxCountPerStep", "tool": name, "maxCount": 2}]
    assert template["blocks"]["persona"] == {
        "value": "I am a personal assistant.",
        "policy": "seed",
    }
    assert document["tools"][name] == {"source": f"tools/{name}.py", "returnCharLimit": 1000}

    planned = letta_apply("plan", str(out), "--adopt", "--format", "json", url=letta_url)
    assert planned.code == 0, planned.output
    assert {c["action"] for c in json.loads(planned.stdout)["changes"]} == {"adopt"}
    applied = letta_apply(str(out), "--adopt", url=letta_url)
    assert applied.code == 0, applied.output
    again = letta_apply("plan", str(out), "--detailed-exitcode", url=letta_url)
    assert again.code == 0, again.output

    text = (out / "stack.yaml").read_text()
    changed = text.replace("temperature: 0.2", "temperature: 0.5").replace(
        "returnCharLimit: 1000", "returnCharLimit: 2000"
    )
    (out / "stack.yaml").write_text(changed)
    planned = letta_apply("plan", str(out), "--format", "json", url=letta_url)
    assert planned.code == 0, planned.output
    updates = {
        c["address"]: json.dumps(c)
        for c in json.loads(planned.stdout)["changes"]
        if c["action"] == "update"
    }
    assert set(updates) == {
        f"agent/user:{stack_name}-u0",
        f"agent/user:{stack_name}-u1",
        f"tool/{name}",
    }
    assert "0.5" in updates[f"agent/user:{stack_name}-u0"]
    assert "2000" in updates[f"tool/{name}"]


def test_an_export_matching_nothing_says_so_and_writes_nothing(
    tmp_path: Path, letta_url: str, stack_name: str
) -> None:
    out = tmp_path / "exported"
    exported = letta_apply(
        "export", "--out", str(out), "--tag", f"none:{stack_name}", url=letta_url
    )
    assert exported.code == 1, exported.output
    assert f"nothing to export: no agent carries a tag matching none:{stack_name}" in (
        exported.stderr
    )
    assert not out.exists()
