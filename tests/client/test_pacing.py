"""Request pacing (`--max-rps`): requests spaced so no second sees more than the rate."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from reconciler.client import Pacer
from tests.faultproxy import busiest_second


class FakeTime:
    """A clock that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now = max(self.now, self.now + seconds)


def test_requests_from_many_threads_never_exceed_the_rate() -> None:
    fake = FakeTime()
    pacer = Pacer(5, clock=fake.clock, sleep=fake.sleep)
    sent: list[float] = []
    lock = threading.Lock()

    def request(_n: int) -> None:
        pacer.wait()
        with lock:
            sent.append(fake.clock())

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(request, range(60)))
    assert len(sent) == 60
    assert busiest_second(sent) <= 5


def test_an_idle_pacer_does_not_wait() -> None:
    fake = FakeTime()
    slept: list[float] = []
    pacer = Pacer(2, clock=fake.clock, sleep=slept.append)
    pacer.wait()
    assert slept == []
