"""A server's answer is let go of as soon as it is decoded: httpx keeps a response and its
stream in a reference cycle, which alone would hold every page's body until Python's cyclic
collector ran (seldom, once a large live state is held)."""

from __future__ import annotations

import weakref

import httpx

from reconciler import collector
from reconciler.client import LettaApi, Target
from reconciler.errors import ServerError


def _api(status: int, body: bytes) -> tuple[LettaApi, list[weakref.ref[httpx.Response]]]:
    api = LettaApi(Target("http://letta.test"))
    answers: list[weakref.ref[httpx.Response]] = []
    headers = {"content-type": "application/json"}

    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers=headers)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    sent = client.request

    def request(*args: object, **kwargs: object) -> httpx.Response:
        answer = sent(*args, **kwargs)  # type: ignore[arg-type]
        answers.append(weakref.ref(answer))
        return answer

    client.request = request  # type: ignore[method-assign]
    api.http = client
    return api, answers


def test_a_decoded_answer_is_let_go_of_without_the_collector() -> None:
    api, answers = _api(200, b'[{"id": "agent-1"}]')
    with collector.paused():
        assert api.get("/v1/agents/") == [{"id": "agent-1"}]
        assert answers and all(answer() is None for answer in answers)


def test_a_refused_answer_is_let_go_of_too() -> None:
    api, answers = _api(422, b'{"detail": "no"}')

    def refused() -> str:
        try:
            api.get("/v1/agents/")
        except ServerError as exc:
            return str(exc)
        raise AssertionError("the server refused it")

    with collector.paused():
        assert "no" in refused()
        assert answers and all(answer() is None for answer in answers)
