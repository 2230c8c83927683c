"""Managed agent settings against the real server: declared, converged, changed in place."""

from __future__ import annotations

from pathlib import Path

import pytest
from letta_client import Letta

from tests.integration.helpers import letta_apply, write_manifest

pytestmark = pytest.mark.server

MANIFEST = """
apiVersion: letta-apply/v1
stack: {stack}
defaults: {{model: letta/letta-free, embedding: letta/letta-free}}
agents:
  desk:
    timezone: {timezone}
    contextWindowLimit: {window}
    blocks:
      persona: {{value: "I answer questions."}}
"""


def settings(sdk: Letta, stack: str) -> tuple[str | None, int | None]:
    [agent] = sdk.agents.list(tags=[f"letta-apply:{stack}"], include=["agent.tags"])
    return agent.timezone, agent.llm_config.context_window


def test_timezone_and_context_window_converge_and_change_in_place(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    path = tmp_path / "m"
    write_manifest(path, MANIFEST.format(stack=stack_name, timezone="Europe/Paris", window=16000))
    assert letta_apply(str(path), url=letta_url).code == 0
    assert settings(sdk, stack_name) == ("Europe/Paris", 16000)
    assert letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url).code == 0

    write_manifest(path, MANIFEST.format(stack=stack_name, timezone="Asia/Tokyo", window=12000))
    planned = letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url)
    assert planned.code == 2, planned.output
    assert "context_window_limit: 16000 -> 12000" in planned.stdout
    assert letta_apply(str(path), url=letta_url).code == 0
    assert settings(sdk, stack_name) == ("Asia/Tokyo", 12000)
    assert letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url).code == 0
    [agent] = sdk.agents.list(tags=[f"letta-apply:{stack_name}"], include=["agent.blocks"])
    sdk.agents.delete(agent.id)
    for block in agent.blocks:
        sdk.blocks.delete(block.id)
