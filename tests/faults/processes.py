"""Running the command in the background, and waiting on the server with a deadline."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.integration.helpers import Result
from tests.requestledger import command, environment


def start(*args: str, url: str, log_dir: Path, name: str) -> subprocess.Popen[str]:
    """Start `letta-apply ARGS` as a CI job would; its output goes to files in `log_dir`."""
    environ = {**os.environ, **environment(), "LETTA_BASE_URL": url, "CI": "true", "NO_COLOR": "1"}
    log_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        command(*args),
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


def started_together(*args: str, url: str, log_dir: Path) -> list[Result]:
    """Start `letta-apply ARGS` twice at once, and wait for both."""
    runs = [start(*args, url=url, log_dir=log_dir, name=f"run{n}") for n in (1, 2)]
    return [finish(run, log_dir, f"run{n}", timeout=600) for n, run in enumerate(runs, 1)]


def assert_took_turns(results: list[Result], stack: str, lock_timeout: str) -> None:
    """Of two applies of `stack` started together, one applied; the other was refused by
    the lock (`--lock-timeout 0`), or waited for it and found nothing left to do."""
    for result in results:
        assert "Traceback" not in result.output
    applied = [r for r in results if r.code == 0 and "Apply complete" in r.stdout]
    assert len(applied) == 1, [r.output for r in results]
    [other] = [r for r in results if r is not applied[0]]
    if lock_timeout == "0":
        assert other.code == 1, other.output
        assert f"stack '{stack}' is locked by" in other.stderr
        assert "another apply is running" in other.stderr
    else:
        assert other.code == 0, other.output
        assert "No changes" in other.stdout


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
