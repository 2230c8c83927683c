"""Fixtures of the offline tests: the in-memory Letta server, served on a local port, and a
client of letta-apply's own for it (retries without waiting)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reconciler.client import LettaApi, RetryPolicy, Target
from reconciler.environ import EnvGrant
from reconciler.keys import KEY_VARIABLE, OperatorKey
from reconciler.secrets import SecretAccess
from tests.letta_memory import MemoryLetta, serving
from tests.offline.stacks import Cli, Server


@pytest.fixture
def server() -> Iterator[Server]:
    """A fresh in-memory server, its URL and a client for it."""
    letta = MemoryLetta()
    with serving(letta) as (_, url), client(url) as api:
        yield Server(letta, url, api)


def client(url: str, api_key: str | None = None) -> LettaApi:
    """letta-apply's client, retrying at once (tests never wait on a clock), with a key of its
    own (no key file is made in the user's folder) and no variables manifests may read."""
    retry = RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0)
    access = SecretAccess(EnvGrant(), TEST_KEY)
    target = Target(url, api_key=api_key)
    return LettaApi(target, retry=retry, sleep=lambda _s: None, secrets=access)


TEST_KEY = OperatorKey(None, environ={KEY_VARIABLE: "offline tests"})


@pytest.fixture
def cli(server: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """`letta-apply` against the in-memory server."""
    return Cli(server.url, monkeypatch, capsys)
