"""Running the command in the background, and waiting on the server with a deadline."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.integration.helpers import Result


def start(*args: str, url: str, log_dir: Path, name: str) -> subprocess.Popen[str]:
    """Start `letta-apply ARGS` as a CI job would; its output goes to files in `log_dir`."""
    environ = {**os.environ, "LETTA_BASE_URL": url, "CI": "true", "NO_COLOR": "1"}
    log_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        stdout=(log_dir / f"{name}.out").open("w"),
        stderr=(log_dir / f"{name}.err").open("w"),
        stdin=subprocess.DEVNULL,
        text=True,
        env=environ,
    )


def finish(process: subprocess.Popen[str], log_dir: Path, name: str, timeout: float) -> Result:
    """Wait for a started command and collect what it printed."""
    code = process.wait(timeout=timeout)
    out = (log_dir / f"{name}.out").read_text()
    err = (log_dir / f"{name}.err").read_text()
    return Result(code, out, err)


def settled(read: Callable[[], int], timeout: float, quiet: float = 3.0) -> int:
    """Poll `read` until its value has not changed for `quiet` seconds; return that value."""
    deadline = time.monotonic() + timeout
    value, since = read(), time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise AssertionError(f"the value kept changing for {timeout:.0f} s (last {value})")
        time.sleep(0.5)
        current = read()
        if current != value:
            value, since = current, time.monotonic()
    return value


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` until it holds; fail the test with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)
