"""The dev server manager: failures that need no server, then real start/stop cycles that must
leave no process behind. Process checks here use os.kill and /proc, not the manager's helpers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from reconciler.devserver import DevServer, embeddings
from reconciler.errors import DevServerError


def _running(pid: int) -> bool:
    """True if `pid` runs; a zombie (exited, not yet reaped) does not count."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2] != "Z"


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat[stat.rfind(")") + 2 :].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def _eventually_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_running(pid) for pid in pids):
            return []
        time.sleep(0.1)
    return [pid for pid in pids if _running(pid)]


def _embedding_handles(url: str) -> list[str]:
    with urllib.request.urlopen(f"{url}/v1/models/embedding", timeout=5) as response:
        return [str(model["handle"]) for model in json.loads(response.read())]


def _health(url: str) -> dict[str, str]:
    with urllib.request.urlopen(f"{url}/v1/health/", timeout=5) as response:
        body: dict[str, str] = json.loads(response.read())
        return body


def test_port_in_use_fails_fast_without_starting_anything(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        began = time.monotonic()

        with pytest.raises(DevServerError, match=rf"port {port} .* already in use"):
            DevServer(tmp_path, port=port).up()

    assert time.monotonic() - began < 5
    assert not (tmp_path / "state.json").exists()
    assert not (tmp_path / "pgdata").exists()


def test_status_and_down_when_nothing_was_started(tmp_path: Path) -> None:
    server = DevServer(tmp_path / "state")

    assert server.status() is None
    assert server.down() == ()


def test_status_reports_recorded_processes_that_died(tmp_path: Path) -> None:
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    state = {"port": 1, "postgres_pid": exited.pid, "socket_dir": "", "server_pid": exited.pid}
    (tmp_path / "state.json").write_text(json.dumps(state))
    server = DevServer(tmp_path)

    with pytest.raises(DevServerError, match="not running"):
        server.status()
    assert not (tmp_path / "state.json").exists()
    assert server.status() is None


@pytest.fixture(scope="module")
def state_dir(server_state_root: Path) -> Path:
    """One state folder for the start/stop tests: the second start reuses its database."""
    return server_state_root / "lifecycle"


@pytest.mark.server
def test_up_is_idempotent_and_down_leaves_no_process(state_dir: Path) -> None:
    server = DevServer(state_dir)
    try:
        info = server.up()
        assert info.started
        assert _health(info.url) == {"version": "0.16.8", "status": "ok"}
        assert all(_running(pid) for pid in info.pids)
        assert info.embedding_pid in info.pids
        assert embeddings.HANDLE in _embedding_handles(info.url)
        again = DevServer(state_dir).up()
        assert (again.started, again.url, again.pids) == (False, info.url, info.pids)
        status = server.status()
        assert status is not None and status.version == "0.16.8"
        family = [*info.pids, *_children(info.postgres_pid), *_children(info.server_pid)]
    finally:
        stopped = server.down()

    assert set(info.pids) <= set(stopped)
    assert _eventually_gone(family, timeout=1.0) == []
    assert server.status() is None
    assert not (state_dir / "state.json").exists()


@pytest.mark.server
def test_status_after_the_server_is_killed_says_so_and_cleans_up(state_dir: Path) -> None:
    server = DevServer(state_dir)
    try:
        info = server.up()
        os.kill(info.server_pid, signal.SIGKILL)
        assert _eventually_gone([info.server_pid]) == []

        with pytest.raises(DevServerError, match=r"not running.*Letta server.*is gone"):
            server.status()
    finally:
        server.down()

    assert _eventually_gone([info.postgres_pid, info.embedding_pid], timeout=1.0) == []
    assert server.status() is None


@pytest.mark.server
def test_server_dying_during_start_is_reported_and_stops_the_database(state_dir: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    blocker = socket.socket()
    seen: dict[str, int] = {}

    def take_the_port(message: str) -> None:
        # Called right before the server is spawned: it will fail to bind and exit.
        if message.startswith("Starting the Letta server"):
            seen["postgres"] = json.loads((state_dir / "state.json").read_text())["postgres_pid"]
            blocker.bind(("127.0.0.1", port))
            blocker.listen()

    try:
        with pytest.raises(DevServerError, match=r"exited during start") as failure:
            DevServer(state_dir, port=port, progress=take_the_port).up()
    finally:
        blocker.close()

    assert str(state_dir / "logs" / "server.log") in str(failure.value)
    assert _eventually_gone([seen["postgres"]], timeout=1.0) == []
    assert not (state_dir / "state.json").exists()
