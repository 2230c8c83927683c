"""An apply killed with SIGKILL halfway leaves its stack lock behind, naming its holder.
On the same host the next run sees the holder is dead and takes the lock over; a lock left by
a run on another machine is refused with a clear message until `letta-apply unlock`. Either
way the next run finishes the job without duplicates."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path
from typing import Any

import pytest
from letta_client import Letta

from tests.faults.fleet import (
    Fleet,
    agents_per_user,
    assert_converged,
    assert_outputs_match,
    converges,
    list_identities,
    write_fleet,
)
from tests.faults.processes import finish, settled, start, wait_until
from tests.integration.helpers import letta_apply

pytestmark = pytest.mark.server

OTHER_HOST = "ci-runner-elsewhere"


def kill_halfway(fleet: Fleet, url: str, sdk: Letta, logs: Path) -> int:
    """Start an apply, SIGKILL it once 30 agents exist; return its pid."""
    apply = start(str(fleet.path), url=url, log_dir=logs, name="killed")
    try:
        wait_until(
            lambda: (
                sum(agents_per_user(sdk, fleet.stack).values()) >= 30 or apply.poll() is not None
            ),
            timeout=300,
            what="the apply to create 30 agents",
        )
    finally:
        os.kill(apply.pid, signal.SIGKILL)
    killed = finish(apply, logs, "killed", timeout=30)
    assert killed.code == -signal.SIGKILL, killed.output
    return apply.pid


def lock_records(sdk: Letta, stack: str) -> list[Any]:
    key = f"letta-apply-lock:{stack}"
    return [i for i in list_identities(sdk, identifier_key=key) if i["identifier_key"] == key]


def holder(record: Any) -> str:
    return str(next(p["value"] for p in record["properties"] if p["key"] == "holder"))


def move_holder_elsewhere(sdk: Letta, record: Any) -> None:
    """Make the left-behind lock look like a run on another machine (e.g. a CI runner)."""
    pid = holder(record).rpartition(":")[2]
    properties = [
        {**p, "value": f"{OTHER_HOST}:{pid}"} if p["key"] == "holder" else p
        for p in record["properties"]
    ]
    sdk.patch(f"/v1/identities/{record['id']}", cast_to=object, body={"properties": properties})


@pytest.mark.parametrize("where", ["same host", "other host"])
def test_kill_9_halfway_then_rerun_converges(
    where: str, tmp_path: Path, letta_url: str, stack: str, sdk: Letta
) -> None:
    fleet = write_fleet(tmp_path / "m", stack, dedicated=120, shared=3, identity=2)
    pid = kill_halfway(fleet, letta_url, sdk, tmp_path / "logs")
    # The server still finishes the creates the killed run had in flight.
    made = settled(lambda: sum(agents_per_user(sdk, stack).values()), timeout=120)
    assert 30 <= made < len(fleet.dedicated)
    [left] = lock_records(sdk, stack)
    assert holder(left) == f"{socket.gethostname()}:{pid}"

    if where == "other host":
        move_holder_elsewhere(sdk, left)
        locked = letta_apply(str(fleet.path), url=letta_url)
        assert locked.code == 1, locked.output
        assert f"stack '{stack}' is locked by {OTHER_HOST}:{pid}" in locked.stderr
        assert "letta-apply unlock" in locked.stderr
        assert "Traceback" not in locked.output
        assert sum(agents_per_user(sdk, stack).values()) == made  # refused before any change
        unlocked = letta_apply("unlock", str(fleet.path), url=letta_url)
        assert unlocked.code == 0, unlocked.output
        assert "Removed 1 lock(s)" in unlocked.stdout

    rerun = letta_apply(str(fleet.path), url=letta_url)
    assert rerun.code == 0, rerun.output
    assert lock_records(sdk, stack) == []
    converges(fleet, letta_url)
    assert_converged(sdk, fleet)
    assert_outputs_match(sdk, fleet, letta_url)
