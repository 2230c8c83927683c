"""What Letta Cloud answers differently, played by the fault proxy in front of the real
server: every request names the project, a quota answer (402) stops the apply with one
report and no retries, and a server without the identities API is said to be one."""

from __future__ import annotations

from pathlib import Path

import pytest
from letta_client import Letta

from tests.faultproxy import Rule, running
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
    missing = Rule("status", "GET", r"^/v1/identities/", status=404)
    with running(letta_url, [missing]) as proxy:
        identity = manifest(tmp_path / "i", stack_name, 2, pattern="identity")
        planned = letta_apply("plan", str(identity), url=proxy.url)
        assert planned.code == 1, planned.output
        assert "has no identities API" in planned.stderr
        assert "Traceback" not in planned.output
        shared = manifest(tmp_path / "s", stack_name, 2)
        assert letta_apply("plan", str(shared), url=proxy.url).code == 0
