"""Applying a fleet through a server that fails about one request in ten: 500s, 429s with
Retry-After, dropped connections and lost responses. Nothing is duplicated, nothing foreign
is touched, and the run converges (or reports what failed and the next run converges)."""

from __future__ import annotations

from pathlib import Path

import pytest
from letta_client import Letta

from tests import faultproxy
from tests.faultproxy import Rule
from tests.faults.fleet import (
    assert_converged,
    assert_outputs_match,
    converges,
    write_fleet,
)
from tests.integration.helpers import letta_apply

pytestmark = pytest.mark.server

FAULTS = [
    Rule("status", rate=0.03, status=500),
    Rule("status", rate=0.02, status=429, retry_after=0.2),
    Rule("drop", rate=0.02),
    Rule("lose", "POST|PATCH|DELETE", rate=0.04),
]


def test_apply_through_faults_converges_without_duplicates(
    tmp_path: Path, letta_url: str, stack: str, sdk: Letta
) -> None:
    fleet = write_fleet(tmp_path / "m", stack, dedicated=200, shared=4, identity=3)
    foreign = sdk.agents.create(
        name="hand-made",
        model="letta/letta-free",
        embedding="letta/letta-free",
        tags=[f"user:{stack}-not-declared"],
        memory_blocks=[{"label": "human", "value": "not yours"}],
    )
    try:
        with faultproxy.running(letta_url, FAULTS, seed=7) as proxy:
            first = letta_apply(str(fleet.path), "--timeout", "20", url=proxy.url)
        assert sum(proxy.injected.values()) >= 20, proxy.injected
        assert {"status", "drop", "lose"} <= set(proxy.injected), proxy.injected
        assert first.code in (0, 3), first.output
        assert "Traceback" not in first.output
        if first.code == 3:
            assert "failed" in first.stderr
            second = letta_apply(str(fleet.path), url=letta_url)
            assert second.code == 0, second.output

        converges(fleet, letta_url)
        assert_converged(sdk, fleet)
        assert_outputs_match(sdk, fleet, letta_url)
        kept = sdk.agents.retrieve(foreign.id, include=["agent.blocks", "agent.tags"])
        assert kept.tags == [f"user:{stack}-not-declared"]
        assert [b.value for b in kept.blocks] == ["not yours"]
    finally:
        sdk.agents.delete(foreign.id)
