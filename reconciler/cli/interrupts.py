"""Ctrl-C while an apply runs: the first asks it to stop starting changes and to wait for the
ones in flight; the second stops the waiting too (KeyboardInterrupt, as without a handler).

Outside the apply itself (reading the server, planning, at the prompt) Ctrl-C stops at once:
nothing has been changed there.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from reconciler.workflow import StopRequested


@contextlib.contextmanager
def graceful_stop() -> Iterator[StopRequested]:
    """While the block runs, SIGINT sets a flag the applier reads instead of interrupting it;
    the previous handler is back when the block ends."""
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested.is_set  # signals reach the main thread only
        return

    def handle(_signum: int, _frame: FrameType | None) -> None:
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()  # nothing printed here: the main thread may be inside a write

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield requested.is_set
    finally:
        signal.signal(signal.SIGINT, previous)
