"""Listings at their page boundaries, and server data that is hostile or malformed: each read
once, nothing skipped or repeated, nothing of anyone else's changed or claimed."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from reconciler.errors import NotConverged, UnexpectedAnswer
from reconciler.plan.model import Create, NoticeKind
from tests.offline.stacks import Server, desired
from tests.offline.test_apply import mixed


@pytest.mark.parametrize("count", [0, 1, 4, 5, 9])
def test_a_listing_reads_every_item_once_across_pages(server: Server, count: int) -> None:
    made = [server.letta.block(label="page", value=str(n), tags=["p"]) for n in range(count)]
    since = len(server.letta.requests)
    read = list(server.api.paginate("/v1/blocks/", {"tags": ["p"]}, page_size=4))
    assert [b["id"] for b in read] == [b["id"] for b in made]
    assert len(server.letta.requests) - since == count // 4 + 1


def test_an_item_deleted_between_pages_moves_no_other_out_of_the_listing(server: Server) -> None:
    made = [server.letta.block(label="page", value=str(n), tags=["p"]) for n in range(6)]
    pages = server.api.paginate("/v1/blocks/", {"tags": ["p"]}, page_size=2)
    read = [next(pages), next(pages)]
    server.letta.blocks.remove(made[1]["id"])  # the cursor of the next page
    read += list(pages)
    assert [b["value"] for b in read] == ["0", "1", "2", "3", "4", "5"]


def test_a_stack_at_a_page_boundary_is_read_whole(server: Server, tmp_path: Path) -> None:
    users = "\n".join(f"  - {{id: u{n:03d}, pattern: dedicated}}" for n in range(201))
    wanted = desired(tmp_path, "templates:\n  assistant: {}\nusers:\n" + users + "\n")
    for n in range(201):
        server.letta.agent(
            name=f"assistant-u{n:03d}",
            tags=["letta-apply:acme", f"user:u{n:03d}"],
            metadata={"letta_apply": {"stack": "acme", "address": f"agent/user:u{n:03d}"}},
        )
    plan = server.plan(wanted)
    assert not [c for c in plan.changes if isinstance(c, Create)]
    listings = [r for r in server.letta.requests if r.path == "/v1/agents/" and "after" in r.query]
    assert len(listings) == 1  # the second page: 200 + 1


HOSTILE_RECORDS = (
    {"letta_apply": "not a record"},
    {"letta_apply": {"stack": "acme", "address": "block/company"}},
    {"letta_apply": {"stack": "acme", "address": "agent/../etc"}},
    {"letta_apply": {"stack": "acme", "address": ["agent/support"]}},
    ["a", "list"],
)


def test_hostile_records_claim_nothing_and_are_never_written(
    server: Server, tmp_path: Path
) -> None:
    wanted = mixed(tmp_path)
    letta = server.letta
    forged = [
        letta.agent(name=f"forged-{n}", tags=["letta-apply:acme", "user:alice"], metadata=record)
        for n, record in enumerate(HOSTILE_RECORDS)
    ]
    odd = letta.block(label="company", value="x\x1b[2J", tags=["letta-apply:acme"], metadata=[1])
    letta.new(
        letta.identities,
        {"identifier_key": "carol", "name": "Carol", "identity_type": "user", "properties": []},
    )
    plan = server.plan(wanted)
    conflicts = [n for n in plan.notices if n.kind is NoticeKind.CONFLICT]
    assert {i for n in conflicts for i in n.resource_ids} >= {a["id"] for a in forged}
    assert [n.kind for n in plan.notices if str(n.address) == "identity/carol"] == [
        NoticeKind.BLOCKED
    ]
    touched = {a["id"] for a in forged} | {odd["id"]}
    with pytest.raises(NotConverged, match="identity/carol"):
        server.apply(wanted)
    assert not [r for r in letta.writes() if set(r.path.split("/")) & touched]


def test_the_client_is_answered_as_a_1x_sdk(server: Server) -> None:
    """A client the server takes for a legacy SDK gets every relationship of every agent,
    whatever `include` asks (heavy listings, and tags where none were asked for)."""
    agent = server.letta.agent(name="desk", tags=["a"])
    assert server.api.get(f"/v1/agents/{agent['id']}")["tags"] == []
    legacy = httpx.get(f"{server.url}/v1/agents/{agent['id']}", headers={"User-Agent": "x/1"})
    assert legacy.json()["tags"] == ["a"]


def test_an_answer_of_another_shape_is_refused_not_read(server: Server) -> None:
    with pytest.raises(UnexpectedAnswer, match="the answer is not a list"):
        list(server.api.paginate("/v1/health/"))
