"""Process bookkeeping for the dev server: is a pid alive, is it ours, stop it and make sure.

Liveness ignores zombies: a killed child of the current process, or a daemon whose parent
never reaps it, still answers `kill(pid, 0)` although nothing runs any more.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterable
from pathlib import Path

_PROC = Path("/proc")
_POLL_INTERVAL = 0.1


def is_alive(pid: int) -> bool:
    """True if a process with this pid exists and is not a zombie."""
    if pid <= 0:
        return False  # kill(0) and kill(-n) address process groups, not a process
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return _state(pid) != "Z"


def command_line(pid: int) -> str | None:
    """The process's command line, or None where /proc is unavailable or the pid is gone."""
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def runs(pid: int, word: str) -> bool:
    """True if `pid` is alive and (where it can be checked) its command line contains `word`.

    Guards against signalling an unrelated process that got a recycled pid after a reboot.
    """
    if not is_alive(pid):
        return False
    cmdline = command_line(pid)
    return cmdline is None or word in cmdline


def group_members(pgid: int) -> list[int]:
    """Live processes in process group `pgid`."""
    if not _PROC.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    return [pid for pid, fields in _all_stats() if int(fields[2]) == pgid and fields[0] != "Z"]


def children(pid: int) -> list[int]:
    """Live direct children of `pid` (empty where /proc is unavailable)."""
    if not _PROC.is_dir():
        return []
    return [child for child, fields in _all_stats() if int(fields[1]) == pid and fields[0] != "Z"]


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll `predicate` until it holds or `timeout` seconds pass; returns the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_INTERVAL)


def stop_group(pgid: int, timeout: float) -> list[int]:
    """SIGTERM a whole process group, SIGKILL what is left after `timeout`; returns survivors."""
    _signal_group(pgid, signal.SIGTERM)
    if wait_until(lambda: not group_members(pgid), timeout):
        return []
    _signal_group(pgid, signal.SIGKILL)
    wait_until(lambda: not group_members(pgid), 5.0)
    return group_members(pgid)


def stop_tree(pid: int, first: signal.Signals, timeout: float) -> list[int]:
    """Send `first` to `pid`; SIGKILL it and its children after `timeout`; returns survivors.

    For daemons whose children are not in their process group (postgres backends each call
    setsid), so the children are looked up before the parent goes away.
    """
    family = [pid, *children(pid)]
    _signal(pid, first)
    if wait_until(lambda: not _alive_of(family), timeout):
        return []
    for member in _alive_of(family):
        _signal(member, signal.SIGKILL)
    wait_until(lambda: not _alive_of(family), 5.0)
    return _alive_of(family)


def _alive_of(pids: Iterable[int]) -> list[int]:
    return [pid for pid in pids if is_alive(pid)]


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _reap(pid: int) -> None:
    # Only succeeds for our own children; clears the zombie a killed child leaves behind.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _state(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[0] if fields else None


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, ..."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may itself contain spaces or parentheses.
    return raw[raw.rfind(")") + 2 :].split()


def _all_stats() -> list[tuple[int, list[str]]]:
    found = []
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields:
                found.append((int(entry.name), fields))
    return found
