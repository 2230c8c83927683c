"""Two applies of one stack started together: the stack lock lets one run at a time, so
nothing is created twice; the other refuses with a clear message, or waits with --lock-timeout."""

from __future__ import annotations

from pathlib import Path

import pytest
from letta_client import Letta

from tests import faultproxy
from tests.faultproxy import Rule
from tests.faults.fleet import assert_converged, assert_outputs_match, converges, write_fleet
from tests.faults.processes import assert_took_turns, started_together

pytestmark = pytest.mark.server

# Slow agent creates keep the first apply holding the lock while the second one asks for it.
SLOW_CREATES = [Rule("delay", "POST", r"^/v1/agents/?(\?|$)", delay=0.5)]


@pytest.mark.parametrize("lock_timeout", ["0", "600"])
def test_two_applies_at_once_create_everything_once(
    lock_timeout: str, tmp_path: Path, letta_url: str, stack: str, sdk: Letta
) -> None:
    fleet = write_fleet(tmp_path / "m", stack, dedicated=40, shared=2, identity=2)
    args = (str(fleet.path), "--lock-timeout", lock_timeout)
    with faultproxy.running(letta_url, SLOW_CREATES) as proxy:
        results = started_together(*args, url=proxy.url, log_dir=tmp_path / "logs")
    assert_took_turns(results, stack, lock_timeout)
    assert proxy.forwarded["POST /v1/agents/"] == len(fleet.dedicated) + 1
    converges(fleet, letta_url)
    assert_converged(sdk, fleet)
    assert_outputs_match(sdk, fleet, letta_url)
