"""The collector is paused while any block in any thread asks for it, and only then."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from reconciler import collector


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    was_on = gc.isenabled()
    gc.enable()
    yield
    if not was_on:
        gc.disable()


def test_the_collector_is_on_again_after_the_block() -> None:
    with collector.paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_overlapping_blocks_in_two_threads_keep_it_off_until_the_last_ends() -> None:
    """The users load in one thread while the server is read in another; the load ends
    first, and the reads must not go on with the collector on."""
    reading_began, load_ended, reads_checked = (threading.Event() for _ in range(3))
    seen: list[bool] = []

    def read() -> None:
        with collector.paused():
            reading_began.set()
            load_ended.wait(5)
            seen.append(gc.isenabled())
        reads_checked.set()

    reader = threading.Thread(target=read)
    with collector.paused():
        reader.start()
        reading_began.wait(5)
    load_ended.set()  # the load's block ended first
    reads_checked.wait(5)
    reader.join(5)
    assert seen == [False]
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    with collector.paused():
        pass
    assert not gc.isenabled()
