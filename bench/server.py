"""The server the benchmarks run against: `LETTA_BASE_URL` if set, else a throwaway local one.

A throwaway server lives in a scratch state folder and is stopped (and the folder removed) at
the end, which also disposes of everything the benchmarks created on it.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from reconciler.devserver import DevServer


@dataclass(frozen=True)
class BenchServer:
    """Where the benchmarks send requests; `throwaway` when this run started the server."""

    url: str
    version: str | None
    throwaway: bool


@contextmanager
def bench_server() -> Iterator[BenchServer]:
    external = os.environ.get("LETTA_BASE_URL")
    if external:
        yield BenchServer(external.rstrip("/"), _version(external), throwaway=False)
        return
    state_dir = Path(tempfile.mkdtemp(prefix="letta-apply-bench-"))
    server = DevServer(state_dir, progress=_say)
    try:
        _say("starting a throwaway Letta server ...")
        info = server.up()
        yield BenchServer(info.url, info.version, throwaway=True)
    finally:
        server.down()
        shutil.rmtree(state_dir, ignore_errors=True)


def _version(url: str) -> str | None:
    try:
        version = httpx.get(f"{url.rstrip('/')}/v1/health/", timeout=10).json().get("version")
    except (httpx.HTTPError, ValueError):
        return None
    return str(version) if version else None


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
