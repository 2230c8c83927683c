"""The client wrapper against the real server behind a fault-injecting proxy: reads are
retried with backoff and Retry-After, creates are never blindly retried."""

from __future__ import annotations

from typing import Any

import pytest
from letta_client import Letta

from reconciler.client import LettaApi, RetryPolicy, Target
from reconciler.errors import ServerError
from tests import faultproxy
from tests.faultproxy import Rule

pytestmark = pytest.mark.server

AGENT = {"model": "letta/letta-free", "embedding": "letta/letta-free"}


def tagged(sdk: Letta, tag: str) -> list[Any]:
    return list(sdk.agents.list(tags=[tag], limit=50))


def api_for(url: str, delays: list[float]) -> LettaApi:
    return LettaApi(
        Target(base_url=url, timeout=30),
        RetryPolicy(attempts=4, base_delay=0.05),
        sleep=delays.append,
    )


def test_sdk_default_retries_duplicate_a_create_whose_answer_was_lost(
    letta_url: str, stack_name: str, sdk: Letta
) -> None:
    """The hazard the wrapper exists for: the SDK's own retry re-sends a create that worked."""
    tag = f"hazard:{stack_name}"
    with faultproxy.running(letta_url, [Rule("lose", "POST", r"^/v1/agents/?$", first=1)]) as proxy:
        naive = Letta(base_url=proxy.url, max_retries=2)
        naive.agents.create(name=tag.replace(":", "-"), tags=[tag], **AGENT)
    assert len(tagged(sdk, tag)) == 2


def test_create_whose_answer_was_lost_is_read_back_not_repeated(
    letta_url: str, stack_name: str, sdk: Letta
) -> None:
    tag = f"safe:{stack_name}"
    delays: list[float] = []
    with faultproxy.running(letta_url, [Rule("lose", "POST", r"^/v1/agents/?$", first=1)]) as proxy:
        api = api_for(proxy.url, delays)
        created = api.create(
            "/v1/agents/",
            {"name": tag.replace(":", "-"), "tags": [tag], **AGENT},
            address="agent/test",
            find_existing=lambda: next(iter(api.get("/v1/agents/", {"tags": [tag]})), None),
        )
        assert proxy.forwarded["POST /v1/agents/"] == 1
    assert [a.id for a in tagged(sdk, tag)] == [created["id"]]


def test_create_that_failed_before_the_server_acted_is_sent_again(
    letta_url: str, stack_name: str, sdk: Letta
) -> None:
    tag = f"again:{stack_name}"
    delays: list[float] = []
    rules = [Rule("status", "POST", r"^/v1/agents/?$", first=1, status=503)]
    with faultproxy.running(letta_url, rules) as proxy:
        api = api_for(proxy.url, delays)
        created = api.create(
            "/v1/agents/",
            {"name": tag.replace(":", "-"), "tags": [tag], **AGENT},
            address="agent/test",
            find_existing=lambda: next(iter(api.get("/v1/agents/", {"tags": [tag]})), None),
        )
    assert [a.id for a in tagged(sdk, tag)] == [created["id"]]
    assert len(delays) == 1


def test_reads_are_retried_honouring_retry_after(letta_url: str) -> None:
    delays: list[float] = []
    rules = [Rule("status", "GET", r"^/v1/health", first=2, status=429, retry_after=0.25)]
    with faultproxy.running(letta_url, rules) as proxy:
        api = api_for(proxy.url, delays)
        assert api.get("/v1/health/")["status"] == "ok"
        assert proxy.injected["status"] == 2
    assert delays == [0.25, 0.25]
    assert api.requests == 3


def test_dropped_connections_on_reads_are_retried(letta_url: str) -> None:
    delays: list[float] = []
    with faultproxy.running(letta_url, [Rule("drop", "GET", r"^/v1/health", first=2)]) as proxy:
        api = api_for(proxy.url, delays)
        assert api.get("/v1/health/")["status"] == "ok"
    assert len(delays) == 2


def test_client_errors_are_not_retried_and_name_the_resource(letta_url: str) -> None:
    delays: list[float] = []
    api = api_for(letta_url, delays)
    with pytest.raises(ServerError) as caught:
        api.get("/v1/agents/agent-00000000-0000-4000-8000-000000000000", address="agent/ghost")
    assert caught.value.status == 404
    assert str(caught.value).startswith("agent/ghost: ")
    assert delays == [] and api.requests == 1
