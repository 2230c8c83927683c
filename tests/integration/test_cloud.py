"""What Letta Cloud answers differently, played by the fault proxy in front of the real
server: every request names the project, a quota answer (402) stops the apply with one
report and no retries, and a server without the identities API is said to be one and still
gets a stack lock: a memory block attached to no agent, in place of the lock identity."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from letta_client import Letta

from reconciler.client import LettaApi, Target
from reconciler.kinds.lock import BLOCK
from tests.faultproxy import Rule, running, without_identities
from tests.faults.processes import (
    assert_took_turns,
    finish,
    start,
    started_together,
    wait_until,
)
from tests.integration.helpers import letta_apply, write_desk_stack

pytestmark = pytest.mark.server


def manifest(path: Path, stack: str, count: int, pattern: str = "shared") -> Path:
    users = [f"c{n}-{stack}" for n in range(count)]
    return write_desk_stack(path, stack, users, pattern=pattern)


def test_every_request_names_the_project(tmp_path: Path, letta_url: str, stack_name: str) -> None:
    path = manifest(tmp_path / "m", stack_name, 3)
    with running(letta_url) as proxy:
        planned = letta_apply("plan", str(path), "--project-id", "proj-7", url=proxy.url)
        assert planned.code == 0, planned.output
        assert set(proxy.projects) == {"proj-7"}


def test_a_quota_answer_is_reported_once_and_not_retried(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    path = manifest(tmp_path / "m", stack_name, 20)
    quota = Rule("status", "POST", r"^/v1/conversations/", status=402)
    with running(letta_url, [quota]) as proxy:
        applied = letta_apply(str(path), "--parallelism", "2", url=proxy.url)
        refused = proxy.injected["status"]
    assert applied.code == 3, applied.output
    assert applied.stderr.count("HTTP 402: quota or plan limit") == 1, applied.stderr
    assert 1 <= refused <= 2  # those in flight when the first answer came; none again
    assert "not attempted" in applied.stderr
    [agent] = sdk.agents.list(tags=[f"letta-apply:{stack_name}"])
    sdk.agents.delete(agent.id)


def test_a_server_without_identities_says_so_for_identity_users(
    tmp_path: Path, letta_url: str, stack_name: str
) -> None:
    with running(letta_url, [without_identities()]) as proxy:
        identity = manifest(tmp_path / "i", stack_name, 2, pattern="identity")
        planned = letta_apply("plan", str(identity), url=proxy.url)
        assert planned.code == 1, planned.output
        assert "has no identities API" in planned.stderr
        assert "Traceback" not in planned.output
        shared = manifest(tmp_path / "s", stack_name, 2)
        assert letta_apply("plan", str(shared), url=proxy.url).code == 0


# Slow conversation creates keep an apply holding the lock while something else happens.
SLOW = Rule("delay", "POST", r"^/v1/conversations/", delay=0.7)


def lock_blocks(letta_url: str, stack: str) -> list[str]:
    """The ids of the stack's lock blocks, read from the server itself."""
    with LettaApi(Target(letta_url)) as api:
        return [record.id for record in BLOCK.records(api, stack)]


def plant_lock_block(letta_url: str, stack: str, holder: str) -> str:
    """A lock block as a run on `holder` (host:pid) that vanished would have left it."""
    said = {"token": "gone", "holder": holder, "started_at": "2026-01-01T00:00:00+00:00"}
    with LettaApi(Target(letta_url)) as api:
        return BLOCK.create(api, stack, said).id


def test_without_identities_an_apply_locks_with_a_block_and_leaves_none(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    path = manifest(tmp_path / "m", stack_name, 3)
    with running(letta_url, [without_identities()]) as proxy:
        applied = letta_apply(str(path), url=proxy.url)
        assert applied.code == 0, applied.output
        assert proxy.forwarded["POST /v1/blocks/"] == 1  # the lock, made once
        removed = [r for r in proxy.forwarded if r.startswith("DELETE /v1/blocks/")]
        assert len(removed) == 1  # and removed at the end
        assert not any("identities" in request for request in proxy.forwarded)
        # The lock block, made and removed, is nothing the stack's reads stumble on.
        again = letta_apply("plan", str(path), "--detailed-exitcode", url=proxy.url)
        assert again.code == 0, again.output
        audited = letta_apply("audit", str(path), url=proxy.url)
        assert audited.code == 0, audited.output
    assert lock_blocks(letta_url, stack_name) == []
    assert len(list(sdk.agents.list(tags=[f"letta-apply:{stack_name}"]))) == 1


@pytest.mark.parametrize("lock_timeout", ["0", "600"])
def test_without_identities_two_applies_at_once_take_turns(
    lock_timeout: str, tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    path = manifest(tmp_path / "m", stack_name, 4)
    args = (str(path), "--lock-timeout", lock_timeout, "--parallelism", "1")
    with running(letta_url, [without_identities(), SLOW]) as proxy:
        results = started_together(*args, url=proxy.url, log_dir=tmp_path / "logs")
    assert_took_turns(results, stack_name, lock_timeout)
    assert proxy.forwarded["POST /v1/conversations/"] == 4  # nothing made twice
    assert lock_blocks(letta_url, stack_name) == []
    [agent] = sdk.agents.list(tags=[f"letta-apply:{stack_name}"])
    assert len(sdk.conversations.list(agent_id=agent.id)) == 4


def test_without_identities_a_held_lock_block_names_its_holder_until_unlocked(
    tmp_path: Path, letta_url: str, stack_name: str
) -> None:
    path = manifest(tmp_path / "m", stack_name, 2)
    plant_lock_block(letta_url, stack_name, "ci-runner-7:4242")
    with running(letta_url, [without_identities()]) as proxy:
        locked = letta_apply(str(path), url=proxy.url)
        assert locked.code == 1, locked.output
        assert f"stack '{stack_name}' is locked by ci-runner-7:4242 since 2026-01-01" in (
            locked.stderr
        )
        assert "letta-apply unlock" in locked.stderr
        assert len(lock_blocks(letta_url, stack_name)) == 1  # only the holder's
        unlocked = letta_apply("unlock", str(path), url=proxy.url)
        assert unlocked.code == 0, unlocked.output
        assert "Removed 1 lock(s)" in unlocked.stdout
        assert lock_blocks(letta_url, stack_name) == []
        assert letta_apply(str(path), url=proxy.url).code == 0


def test_without_identities_the_lock_block_of_a_dead_local_run_is_taken_over(
    tmp_path: Path, letta_url: str, stack_name: str
) -> None:
    path = manifest(tmp_path / "m", stack_name, 1)
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    plant_lock_block(letta_url, stack_name, f"{socket.gethostname()}:{exited.pid}")
    with running(letta_url, [without_identities()]) as proxy:
        applied = letta_apply(str(path), url=proxy.url)
    assert applied.code == 0, applied.output
    assert f"Took over the lock of {socket.gethostname()}:{exited.pid}" in applied.stderr
    assert lock_blocks(letta_url, stack_name) == []


def test_unlock_removes_a_lock_block_where_identities_exist(
    tmp_path: Path, letta_url: str, stack_name: str
) -> None:
    """A lock left while the identities API was missing does not outlive its return."""
    path = manifest(tmp_path / "m", stack_name, 1)
    plant_lock_block(letta_url, stack_name, "ci-runner-7:4242")
    unlocked = letta_apply("unlock", str(path), url=letta_url)
    assert unlocked.code == 0, unlocked.output
    assert "Removed 1 lock(s)" in unlocked.stdout
    assert lock_blocks(letta_url, stack_name) == []


def test_a_lock_block_is_never_adopted(tmp_path: Path, letta_url: str, stack_name: str) -> None:
    path = manifest(tmp_path / "m", stack_name, 1)
    other = plant_lock_block(letta_url, f"{stack_name}-other", "ci-runner-7:4242")
    adopted = letta_apply(
        "adopt", str(path), "--address", "block/desk/persona", "--id", other, url=letta_url
    )
    assert adopted.code == 1, adopted.output
    assert "is an apply lock, not adopted" in adopted.stderr
    with LettaApi(Target(letta_url)) as api:
        assert [r.id for r in BLOCK.records(api, f"{stack_name}-other")] == [other]
        BLOCK.delete(api, f"{stack_name}-other", other)


def test_without_identities_ctrl_c_releases_the_lock_block(
    tmp_path: Path, letta_url: str, stack_name: str
) -> None:
    path = manifest(tmp_path / "m", stack_name, 6)
    logs = tmp_path / "logs"
    with running(letta_url, [without_identities(), SLOW]) as proxy:
        run = start(str(path), "--parallelism", "1", url=proxy.url, log_dir=logs, name="run")
        wait_until(lambda: proxy.forwarded["POST /v1/conversations/"] > 0, 120, "the apply")
        assert len(lock_blocks(letta_url, stack_name)) == 1
        run.send_signal(signal.SIGINT)
        interrupted = finish(run, logs, "run", 120)
    assert interrupted.code == 130, interrupted.output
    assert "Run the same command again to converge" in interrupted.output
    assert "Traceback" not in interrupted.output
    assert lock_blocks(letta_url, stack_name) == []
