"""A change the server refuses is reported with its address and the server's answer; the
rest of the plan is still applied, and a re-run converges."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import faultproxy
from tests.faultproxy import Rule
from tests.integration.helpers import letta_apply, write_manifest

pytestmark = pytest.mark.server


def test_refused_change_names_its_address_and_the_rest_applies(
    tmp_path: Path, letta_url: str, stack_name: str
) -> None:
    path = write_manifest(
        tmp_path,
        f"""
        apiVersion: letta-apply/v1
        stack: {stack_name}
        defaults: {{model: letta/letta-free, embedding: letta/letta-free}}
        templates:
          assistant:
            blocks:
              human: {{value: "User ${{user.id}}"}}
        agents:
          support: {{}}
        users:
          - {{id: alice-{stack_name}, pattern: dedicated}}
          - {{id: bob, pattern: shared, agent: support}}
    """,
    )
    rules = [Rule("status", "POST", r"^/v1/conversations", status=400)]
    with faultproxy.running(letta_url, rules) as proxy:
        failed = letta_apply(str(path), url=proxy.url)
    assert failed.code == 3, failed.output
    assert "conversation/support/bob: injected fault (HTTP 400)" in failed.stderr
    assert "Traceback" not in failed.output

    remaining = letta_apply("plan", str(path), url=letta_url)
    assert "+ conversation/support/bob" in remaining.stdout
    assert f"agent/user:alice-{stack_name}" not in remaining.stdout

    assert letta_apply(str(path), url=letta_url).code == 0
    assert letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url).code == 0
