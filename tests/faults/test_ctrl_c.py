"""Ctrl-C (SIGINT) in the middle of an apply: no change starts after it, the ones in flight
finish, the stack's lock is released, one summary line says what was done and what was not,
the exit code is 130, and the next run converges without duplicates."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest
from letta_client import Letta

from tests.faults.fleet import (
    agents_per_user,
    assert_converged,
    assert_outputs_match,
    converges,
    write_fleet,
)
from tests.faults.processes import finish, settled, start, wait_until
from tests.faults.test_interrupted import lock_records
from tests.integration.helpers import letta_apply

pytestmark = pytest.mark.server

SUMMARY = re.compile(
    r"^Interrupted: (\d+) change\(s\) done(?:, (\d+) failed)?, (\d+) not started\. "
    r"Run the same command again to converge\.$",
    re.MULTILINE,
)


def test_ctrl_c_stops_starting_changes_and_a_rerun_converges(
    tmp_path: Path, letta_url: str, stack: str, sdk: Letta
) -> None:
    fleet = write_fleet(tmp_path / "m", stack, dedicated=80, shared=2, identity=1)
    logs = tmp_path / "logs"
    apply = start(str(fleet.path), "--parallelism", "4", url=letta_url, log_dir=logs, name="c")
    wait_until(
        lambda: sum(agents_per_user(sdk, stack).values()) >= 10 or apply.poll() is not None,
        timeout=300,
        what="the apply to create 10 agents",
    )
    apply.send_signal(signal.SIGINT)
    stopped = finish(apply, logs, "c", timeout=120)

    assert stopped.code == 130, stopped.output
    assert "Traceback" not in stopped.output
    assert "failed" not in stopped.stderr.replace("0 failed", "")
    assert "Stopping: no new change is started" in stopped.stderr
    [summary] = SUMMARY.findall(stopped.stderr)
    done, failed, not_started = (int(n or 0) for n in summary)
    [plan_line] = [line for line in stopped.stdout.splitlines() if line.startswith("Plan: ")]
    planned = sum(int(n) for n in re.findall(r"(\d+) to ", plan_line))
    assert failed == 0
    assert done >= 10 and not_started > 0
    assert done + not_started == planned
    # What was in flight finished before the process ended: nothing more appears afterwards.
    made = sum(agents_per_user(sdk, stack).values())
    assert settled(lambda: sum(agents_per_user(sdk, stack).values()), timeout=60) == made
    assert made < len(fleet.dedicated)
    assert lock_records(sdk, stack) == []

    rerun = letta_apply(str(fleet.path), url=letta_url)
    assert rerun.code == 0, rerun.output
    converges(fleet, letta_url)
    assert_converged(sdk, fleet)
    assert_outputs_match(sdk, fleet, letta_url)
