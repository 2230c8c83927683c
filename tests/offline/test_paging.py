"""Listings are read a page ahead: the next page is asked for as soon as a page comes, while
the caller goes through it, and the requests are those of one page after another."""

from __future__ import annotations

import time

from tests.offline.stacks import Server


def agent_listings(server: Server) -> list[dict[str, list[str]]]:
    return [dict(r.query) for r in server.letta.requests if str(r) == "GET /v1/agents/"]


def test_the_next_page_is_asked_for_while_a_page_is_gone_through(server: Server) -> None:
    made = [server.letta.agent(name=f"a{n}", tags=["t"])["id"] for n in range(5)]
    pages = server.api.paginate("/v1/agents/", {"tags": ["t"]}, page_size=2)
    assert next(pages)["id"] == made[0]
    deadline = time.monotonic() + 10
    while len(agent_listings(server)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(agent_listings(server)) == 2  # the second page, before the first is gone through
    assert [made[0], *(a["id"] for a in pages)] == made
    cursors = [q.get("after") for q in agent_listings(server)]
    assert cursors == [None, [made[1]], [made[3]]]


def test_a_full_last_page_costs_one_more_request_as_before(server: Server) -> None:
    for n in range(4):
        server.letta.agent(name=f"a{n}", tags=["t"])
    assert len(list(server.api.paginate("/v1/agents/", {"tags": ["t"]}, page_size=2))) == 4
    assert len(agent_listings(server)) == 3
