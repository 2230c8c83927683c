"""A cancelled client sends nothing more: the reads of a plan whose users could not be loaded
end at their next request, and a wait before a retry ends at once."""

from __future__ import annotations

import threading
import time

import pytest

from reconciler.client import LettaApi, RetryPolicy, Target
from reconciler.errors import Cancelled
from tests.cli.answering import Answer, answering


def test_nothing_is_sent_once_cancelled() -> None:
    with (
        answering(lambda _method, _path: Answer.json({"status": "ok"})) as server,
        LettaApi(Target(server.url)) as api,
    ):
        assert api.get("/v1/health/") == {"status": "ok"}
        api.cancel()
        with pytest.raises(Cancelled):
            api.get("/v1/health/")
        with pytest.raises(Cancelled):
            api.patch("/v1/agents/agent-1", {"name": "x"})
    assert server.requests == ["GET /v1/health/"]


class MinuteWaits(RetryPolicy):
    """A minute between attempts."""

    def delay(self, attempt: int, retry_after: float | None) -> float:
        return 60.0


def test_a_wait_before_a_retry_ends_when_cancelled() -> None:
    """A retry a minute away: cancelling ends the wait, and the retry is not sent."""
    busy = Answer(503, b"{}")
    with (
        answering(lambda _method, _path: busy) as server,
        LettaApi(Target(server.url), retry=MinuteWaits()) as api,
    ):
        failed: list[BaseException] = []

        def read() -> None:
            try:
                api.get("/v1/health/")
            except BaseException as exc:
                failed.append(exc)

        reader = threading.Thread(target=read)
        began = time.monotonic()
        reader.start()
        deadline = time.monotonic() + 10
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        api.cancel()
        reader.join(timeout=10)
        assert not reader.is_alive() and time.monotonic() - began < 10
    assert len(server.requests) == 1
    assert [type(exc) for exc in failed] == [Cancelled]
