"""A dev server's state record pointing at a server of the test's choosing, for the commands
that look for the running dev server when no URL is set."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def recorded_dev_server(state_dir: Path, url: str) -> Iterator[None]:
    """A dev server state folder recording a server at `url`: the record `dev-server up`
    writes, with processes standing in for the server and its database."""
    stand_ins = [
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", word])
        for word in ("letta", "postgres")
    ]
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        record = {
            "port": int(url.rpartition(":")[2]),
            "server_pid": stand_ins[0].pid,
            "postgres_pid": stand_ins[1].pid,
            "socket_dir": str(state_dir),
        }
        (state_dir / "state.json").write_text(json.dumps(record))
        yield
    finally:
        for process in stand_ins:
            process.kill()
            process.wait()


@contextmanager
def only_the_dev_server(
    monkeypatch: pytest.MonkeyPatch, state_dir: Path, url: str
) -> Iterator[None]:
    """No LETTA_BASE_URL, and a dev server recorded in `state_dir` at `url`."""
    monkeypatch.delenv("LETTA_BASE_URL", raising=False)
    monkeypatch.setenv("LETTA_APPLY_DEV_SERVER_DIR", str(state_dir))
    with recorded_dev_server(state_dir, url):
        yield
