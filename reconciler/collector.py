"""Pausing Python's cyclic garbage collector while many objects that hold no cycles are made.

Reading 100,000 users makes millions of mappings, strings and tuples, none of them part of a
reference cycle, and so do reading the server's pages into the live state and planning; the
collector, started every few hundred allocations, would scan all of them again and again (a
third of the time of reading a users file; 30-40 ms of a plan of 1,000 users, most of its
work after the last page came). Reference counting still frees everything as usual while it
is paused: a whole plan, its reads included, leaves about fifty objects in cycles.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_pauses = 0
"""Blocks inside `paused` now, in every thread (the users load while the server is read)."""
_resume = False
"""Whether the collector was on when the first of them began."""


@contextmanager
def paused() -> Iterator[None]:
    """The collector off for the block: on again once the last block paused in any thread
    ends, if it was on when the first began."""
    global _pauses, _resume
    with _lock:
        if _pauses == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _resume:
                gc.enable()
