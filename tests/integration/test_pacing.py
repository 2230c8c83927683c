"""`--max-rps` against the real server: an apply's requests, counted where the server
receives them, never exceed the rate in any second."""

from __future__ import annotations

from pathlib import Path

import pytest
from letta_client import Letta

from tests.faultproxy import running
from tests.integration.helpers import letta_apply, write_manifest

pytestmark = pytest.mark.server

MANIFEST = """
apiVersion: letta-apply/v1
stack: {stack}
defaults: {{model: letta/letta-free, embedding: letta/letta-free}}
agents:
  desk:
    blocks:
      persona: {{value: "I help."}}
users:
{users}
"""


def busiest_second(times: list[float]) -> int:
    ordered = sorted(times)
    return max(sum(1 for t in ordered if start <= t < start + 1.0) for start in ordered)


def test_max_rps_paces_every_request_of_an_apply(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    users = "\n".join(
        f"  - {{id: u{n}-{stack_name}, pattern: shared, agent: desk}}" for n in range(30)
    )
    path = tmp_path / "m"
    write_manifest(path, MANIFEST.format(stack=stack_name, users=users))
    with running(letta_url) as proxy:
        applied = letta_apply(str(path), "--max-rps", "5", "--parallelism", "8", url=proxy.url)
        assert applied.code == 0, applied.output
        assert len(proxy.times) > 30  # reads, the agent, 30 conversations, the lock
        assert busiest_second(proxy.times) <= 5
    [agent] = sdk.agents.list(tags=[f"letta-apply:{stack_name}"])
    sdk.agents.delete(agent.id)
