"""`--max-rps` against the real server: an apply's requests, counted where the server
receives them, never exceed the rate in any second."""

from __future__ import annotations

from pathlib import Path

import pytest
from letta_client import Letta

from tests.faultproxy import busiest_second, running
from tests.integration.helpers import letta_apply, write_desk_stack

pytestmark = pytest.mark.server


def test_max_rps_paces_every_request_of_an_apply(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    users = [f"u{n}-{stack_name}" for n in range(30)]
    path = write_desk_stack(tmp_path / "m", stack_name, users)
    with running(letta_url) as proxy:
        applied = letta_apply(str(path), "--max-rps", "5", "--parallelism", "8", url=proxy.url)
        assert applied.code == 0, applied.output
        assert len(proxy.times) > 30  # reads, the agent, 30 conversations, the lock
        assert busiest_second(proxy.times) <= 5
    [agent] = sdk.agents.list(tags=[f"letta-apply:{stack_name}"])
    sdk.agents.delete(agent.id)
