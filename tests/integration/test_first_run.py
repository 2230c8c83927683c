"""A newcomer's first commands after `make demo`: in a fresh shell, with no variable set, the
commands find the running dev server by themselves."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.devserver.records import recorded_dev_server

pytestmark = pytest.mark.server

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "dedicated")


def test_a_fresh_shell_plans_against_the_running_dev_server(letta_url: str, tmp_path: Path) -> None:
    if urlsplit(letta_url).hostname not in ("127.0.0.1", "localhost"):
        pytest.skip("the dev server listens on 127.0.0.1; the test server is elsewhere")
    state_dir = tmp_path / "dev-server"
    fresh = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "NO_COLOR": "1"}
    with recorded_dev_server(state_dir, letta_url):
        planned = subprocess.run(
            [sys.executable, "-m", "reconciler", "plan", EXAMPLE],
            capture_output=True,
            text=True,
            env={**fresh, "LETTA_APPLY_DEV_SERVER_DIR": str(state_dir)},
            stdin=subprocess.DEVNULL,
            timeout=300,
        )
    assert planned.returncode == 0, planned.stderr
    port = urlsplit(letta_url).port
    assert planned.stderr.startswith(f"Using the local dev server at http://127.0.0.1:{port} ")
    assert "Plan: " in planned.stdout or "No changes" in planned.stdout
