"""Listings are read a page ahead: the next page is asked for as soon as a page comes, while
the caller goes through it, no more than two pages are held, and the requests are those of
one page after another. A first page may be asked for before anyone lists
(`LettaApi.ask_first_page`): the listing of the same query takes it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from reconciler.errors import ServerError
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


def wait_for_listings(server: Server, count: int) -> int:
    """The agent listings sent, once there are `count` (or after a second, however many)."""
    deadline = time.monotonic() + 1
    while len(agent_listings(server)) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return len(agent_listings(server))


def test_no_more_than_two_pages_are_held(server: Server) -> None:
    made = [server.letta.agent(name=f"a{n}", tags=["t"])["id"] for n in range(7)]
    pages = server.api.paginate("/v1/agents/", {"tags": ["t"]}, page_size=2)
    taken = [next(pages)["id"], next(pages)["id"]]  # the first page, not yet gone through
    assert wait_for_listings(server, 3) == 2  # its next page, and no third
    taken.append(next(pages)["id"])  # the first page is gone through: the third is asked for
    assert wait_for_listings(server, 3) == 3
    assert [*taken, *(a["id"] for a in pages)] == made
    assert len(agent_listings(server)) == 4


def test_a_listing_the_caller_stops_going_through_asks_for_no_more(server: Server) -> None:
    for n in range(7):
        server.letta.agent(name=f"a{n}", tags=["t"])
    pages = server.api.paginate("/v1/agents/", {"tags": ["t"]}, page_size=2)
    next(pages)
    assert wait_for_listings(server, 2) == 2
    pages.close()
    assert wait_for_listings(server, 3) == 2


def test_a_full_last_page_costs_one_more_request_as_before(server: Server) -> None:
    for n in range(4):
        server.letta.agent(name=f"a{n}", tags=["t"])
    assert len(list(server.api.paginate("/v1/agents/", {"tags": ["t"]}, page_size=2))) == 4
    assert len(agent_listings(server)) == 3


def test_a_first_page_asked_for_ahead_is_the_one_its_listing_takes(server: Server) -> None:
    made = [server.letta.agent(name=f"a{n}", tags=["t"])["id"] for n in range(3)]
    server.api.ask_first_page("/v1/agents/", {"tags": ["t"]}, 2)
    deadline = time.monotonic() + 10
    while not agent_listings(server) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(agent_listings(server)) == 1  # sent before anyone lists
    assert [a["id"] for a in server.api.paginate("/v1/agents/", {"tags": ["t"]}, 2)] == made
    cursors = [q.get("after") for q in agent_listings(server)]
    assert cursors == [None, [made[1]]]  # the first page once, as one page after another


def test_a_listing_of_another_query_or_page_size_asks_for_its_own(server: Server) -> None:
    made = [server.letta.agent(name=f"a{n}", tags=["t"])["id"] for n in range(3)]
    server.letta.agent(name="other", tags=["u"])
    server.api.ask_first_page("/v1/agents/", {"tags": ["u"]}, 2)
    assert [a["id"] for a in server.api.paginate("/v1/agents/", {"tags": ["t"]}, 2)] == made
    assert [a["id"] for a in server.api.paginate("/v1/agents/", {"tags": ["u"]}, 3)] != []
    tags = sorted(str(q["tags"]) for q in agent_listings(server))
    assert tags == ["['t']", "['t']", "['u']", "['u']"]  # the page of 2 asked ahead, unused


def test_a_first_page_asked_for_twice_is_sent_once(server: Server) -> None:
    server.letta.agent(name="a", tags=["t"])
    for _ in range(2):
        server.api.ask_first_page("/v1/agents/", {"tags": ["t"]}, 2)
    assert len(list(server.api.paginate("/v1/agents/", {"tags": ["t"]}, 2))) == 1
    assert len(agent_listings(server)) == 1


def test_the_listing_raises_what_its_first_page_asked_ahead_got(server: Server) -> None:
    server.api.ask_first_page("/v1/no-such-listing/", None, 2)
    with pytest.raises(ServerError) as raised:
        list(server.api.paginate("/v1/no-such-listing/", None, 2))
    assert raised.value.status == 404


LEFT_UNFINISHED = """
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from reconciler.client import LettaApi, Target

ITEMS = [{"id": f"a{n}"} for n in range(5)]

class Pages(BaseHTTPRequestHandler):
    def do_GET(self):
        query = parse_qs(urlparse(self.path).query)
        after = query.get("after", [None])[0]
        start = next((i + 1 for i, item in enumerate(ITEMS) if item["id"] == after), 0)
        body = json.dumps(ITEMS[start : start + int(query["limit"][0])]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
threading.Thread(target=server.serve_forever, daemon=True).start()
api = LettaApi(Target(f"http://127.0.0.1:{server.server_port}"))
LISTING = api.paginate("/v1/agents/", None, page_size=1)
print(next(LISTING)["id"], flush=True)  # the next page held, the one after it waiting
"""


def test_a_listing_left_unfinished_does_not_keep_the_process_from_ending() -> None:
    done = subprocess.run(
        [sys.executable, "-c", LEFT_UNFINISHED],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )
    assert (done.returncode, done.stdout.strip()) == (0, "a0"), done.stderr
