"""The stack lock on the real server: one holder at a time, a dead holder on this host taken
over with a message, a live or remote holder refused with who holds it."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from reconciler.apply.lock import StackLock, force_unlock
from reconciler.client import LettaApi, Target
from reconciler.errors import LockError
from reconciler.ownership import lock_key

pytestmark = pytest.mark.server


def plant_lock(api: LettaApi, stack: str, holder: str) -> None:
    """A lock record as a run on `holder` (host:pid) would have left it."""
    properties = [
        {"key": "holder", "value": holder, "type": "string"},
        {"key": "started_at", "value": "2026-01-01T00:00:00+00:00", "type": "string"},
    ]
    body = {
        "identifier_key": lock_key(stack),
        "name": "lock",
        "identity_type": "other",
        "properties": properties,
    }
    api.create("/v1/identities/", body, address="lock", find_existing=lambda: None)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_second_holder_is_refused_then_admitted_after_release(
    letta_url: str, stack_name: str
) -> None:
    api = LettaApi(Target(letta_url))
    with StackLock(api, stack_name), pytest.raises(LockError, match="another apply is running"):
        StackLock(api, stack_name).__enter__()
    with StackLock(api, stack_name):
        pass


def test_lock_of_a_dead_run_on_this_host_is_taken_over(letta_url: str, stack_name: str) -> None:
    api = LettaApi(Target(letta_url))
    plant_lock(api, stack_name, f"{socket.gethostname()}:{dead_pid()}")
    said: list[str] = []
    waited: list[float] = []
    with StackLock(api, stack_name, notify=said.append, sleep=waited.append, settle=3):
        assert len(said) == 1 and said[0].startswith("Took over the lock of")
        assert waited == [3]
    assert force_unlock(api, stack_name) == 0


def test_lock_of_another_host_is_refused_until_unlocked(letta_url: str, stack_name: str) -> None:
    api = LettaApi(Target(letta_url))
    plant_lock(api, stack_name, "ci-runner-7:4242")
    with pytest.raises(LockError, match="ci-runner-7:4242"):
        StackLock(api, stack_name).__enter__()
    assert force_unlock(api, stack_name) == 1
    with StackLock(api, stack_name):
        pass
