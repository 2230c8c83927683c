"""Measuring one step: wall-clock seconds and HTTP requests sent, repeated for a median.

Reference clients (the raw SDK listings and creates) count their requests the same way
`LettaApi` does: an httpx request hook, so retries and pages are all counted.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import letta_client

from bench.stacks import BENCH_SECRETS
from reconciler.client import LettaApi, Target
from reconciler.environ import EnvGrant
from reconciler.keys import OperatorKey
from reconciler.secrets import SecretAccess


@dataclass(frozen=True)
class Sample:
    """One measured step. `extrapolated_from` is set when a sample stands for a bigger whole."""

    seconds: float
    requests: int
    extrapolated_from: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 4),
            "requests": self.requests,
            "extrapolated_from": self.extrapolated_from,
        }


class CountingSdk:
    """The official SDK client (no retries) with a request counter, for reference figures."""

    def __init__(self, url: str, connections: int = 64) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        http = httpx.Client(
            timeout=120,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=32),
            event_hooks={"request": [self._count]},
        )
        self.sdk = letta_client.Letta(base_url=url, max_retries=0, timeout=120, http_client=http)

    def _count(self, _request: httpx.Request) -> None:
        with self._lock:
            self.requests += 1

    def close(self) -> None:
        self.sdk.close()


def new_api(url: str) -> LettaApi:
    """A letta-apply client as the CLI builds one (default retry policy and timeout), the
    operator letting manifests read the variables the benchmark's own stacks name."""
    target = Target(base_url=url)
    grant = EnvGrant.from_operator(BENCH_SECRETS)
    return LettaApi(target, secrets=SecretAccess(grant, OperatorKey(target.api_key)))


def measure(step: Callable[[], object], count: Callable[[], int]) -> Sample:
    """Run `step` once; `count` reads the request counter of the client the step uses."""
    before = count()
    began = time.perf_counter()
    step()
    return Sample(time.perf_counter() - began, count() - before)


def median(step: Callable[[], object], count: Callable[[], int], reps: int) -> Sample:
    """The median time of `reps` runs (requests are the same each run; the last is kept)."""
    samples = [measure(step, count) for _ in range(max(1, reps))]
    seconds = statistics.median(s.seconds for s in samples)
    return Sample(seconds, samples[-1].requests)


def scaled(sample: Sample, done: int, whole: int) -> Sample:
    """Extrapolate a sample over `done` items to `whole` items (linear)."""
    if done >= whole:
        return sample
    factor = whole / done
    return Sample(sample.seconds * factor, round(sample.requests * factor), extrapolated_from=done)
