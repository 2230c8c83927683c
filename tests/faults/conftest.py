"""Fixtures for the fault tests: each test's stack is removed from the server afterwards."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from letta_client import Letta, NotFoundError

from tests.faults.fleet import list_identities, owned_agents, tagged_blocks


@pytest.fixture
def stack(stack_name: str, sdk: Letta) -> Iterator[str]:
    """A unique stack name. On a server the suite did not start, whatever the stack owns is
    deleted when the test ends; a server the suite started is thrown away whole."""
    yield stack_name
    if os.environ.get("LETTA_APPLY_TEST_SERVER"):
        remove_stack(sdk, stack_name)


def remove_stack(sdk: Letta, stack: str) -> None:
    agents = owned_agents(sdk, stack)
    blocks = {b.id for a in agents for b in a.blocks} | set(tagged_blocks(sdk, stack))
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda a: _quietly(sdk.agents.delete, a.id), agents))
        list(pool.map(lambda b: _quietly(sdk.blocks.delete, b), sorted(blocks)))
    for identity in list_identities(sdk, limit=1000):
        key = str(identity.get("identifier_key", ""))
        if key.startswith(stack) or key == f"letta-apply-lock:{stack}":
            _quietly(lambda i: sdk.delete(f"/v1/identities/{i}", cast_to=object), identity["id"])


def _quietly(delete: Callable[[str], object], resource_id: str) -> None:
    with contextlib.suppress(NotFoundError):
        delete(resource_id)
