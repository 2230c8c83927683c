"""Fixtures of the command-line tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cli import recorder as recording
from tests.cli.recorder import Recorder


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """A server on a free local port that refuses every request (HTTP 400) and records it."""
    with recording.running() as server:
        yield server
