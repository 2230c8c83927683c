"""The server stops answering in the middle of an apply: the command ends with a clear,
non-zero report of what was applied and what was not (no traceback), and once the server is
back the next run converges without duplicates."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from letta_client import Letta

from tests import faultproxy
from tests.faults.conftest import remove_stack
from tests.faults.fleet import (
    Fleet,
    agents_per_user,
    assert_converged,
    assert_outputs_match,
    converges,
    write_fleet,
)
from tests.integration.helpers import Result, letta_apply

pytestmark = pytest.mark.server

STOP_AFTER_AGENTS = 20


@dataclass(frozen=True)
class Outage:
    """An apply the server stopped answering halfway through, and what it left."""

    fleet: Fleet
    result: Result
    agents_made: int
    dropped: int


@pytest.fixture(scope="module")
def outage(
    tmp_path_factory: pytest.TempPathFactory, letta_url: str, sdk: Letta
) -> Iterator[Outage]:
    stack = f"t-{uuid.uuid4().hex[:8]}"
    fleet = write_fleet(tmp_path_factory.mktemp("m"), stack, dedicated=60, shared=2, identity=1)
    with faultproxy.running(letta_url) as proxy:
        proxy.stop_after("POST", r"^/v1/agents/?(\?|$)", STOP_AFTER_AGENTS)
        result = letta_apply(str(fleet.path), "--timeout", "10", url=proxy.url)
    yield Outage(
        fleet, result, sum(agents_per_user(sdk, stack).values()), proxy.injected["stopped"]
    )
    if os.environ.get("LETTA_APPLY_TEST_SERVER"):
        remove_stack(sdk, stack)


def test_apply_against_a_stopped_server_fails_clearly_and_a_rerun_converges(
    outage: Outage, letta_url: str, sdk: Letta
) -> None:
    stopped = outage.result
    assert outage.dropped > 0
    assert stopped.code != 0, stopped.output
    assert "Traceback" not in stopped.output
    assert "connection failed" in stopped.stderr
    assert "stopped answering" in stopped.stderr  # the rest was not attempted
    assert outage.agents_made <= STOP_AFTER_AGENTS < len(outage.fleet.dedicated)

    rerun = letta_apply(str(outage.fleet.path), url=letta_url)
    assert rerun.code == 0, rerun.output
    converges(outage.fleet, letta_url)
    assert_converged(sdk, outage.fleet)
    assert_outputs_match(sdk, outage.fleet, letta_url)


def test_apply_against_a_stopped_server_reports_what_was_done(outage: Outage) -> None:
    stopped = outage.result
    report = re.search(r"(\d+) change\(s\) failed, (\d+) applied", stopped.stderr)
    assert report is not None, stopped.stderr
    assert int(report[2]) >= outage.agents_made and int(report[1]) > 0
    assert stopped.code == 3
