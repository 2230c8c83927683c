"""Failures the real server makes hard to stage: answers lost after the server acted (each
kind's create reads back instead of creating twice), a change failing mid-apply (the rest
runs, dependants are skipped, a re-run converges), a server that stops answering or refuses
more for the account, and duplicates left by an earlier run."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import ApplyFailed
from reconciler.plan.model import Delete, NoticeKind
from tests.letta_memory import Request
from tests.offline.stacks import Server, desired
from tests.offline.test_apply import MIXED, mixed

CREATES = [
    ("/v1/agents/", "agents"),
    ("/v1/blocks/", "blocks"),
    ("/v1/conversations/", "conversations"),
    ("/v1/identities/", "identities"),
    ("/v1/tools/", "tools"),
]


@pytest.mark.parametrize("status", [502, None], ids=["bad-gateway", "dropped"])
@pytest.mark.parametrize(("path", "collection"), CREATES, ids=[c for _, c in CREATES])
def test_a_create_whose_answer_is_lost_is_read_back_not_repeated(
    server: Server, tmp_path: Path, path: str, collection: str, status: int | None
) -> None:
    wanted = mixed(tmp_path)
    fault = server.letta.fail("POST", f"^{path}$", status=status, acted=True, when=_not_the_lock)
    results = server.apply(wanted)
    assert fault.times == 0 and all(r.ok for r in results)
    records = getattr(server.letta, collection).rows.values()
    stacks = [r for r in records if "lock" not in str(r.get("identifier_key", ""))]
    assert len(stacks) == len({_key(r) for r in stacks})  # one of each, none twice
    assert not server.plan(wanted).has_changes


def _not_the_lock(request: Request) -> bool:
    return "letta-apply-lock" not in str(request.body)


def _key(record: dict[str, object]) -> object:
    return (
        record.get("name")
        or record.get("identifier_key")
        or record.get("summary")
        or (
            record.get("label"),
            record.get("value"),
        )
    )


def test_a_failed_create_is_tried_again_once_the_server_answers(
    server: Server, tmp_path: Path
) -> None:
    server.letta.fail("POST", "^/v1/agents/$", status=503, times=2)
    results = server.apply(mixed(tmp_path))
    assert all(r.ok for r in results)
    assert len(server.letta.agents.rows) == 2


def test_a_change_failing_mid_apply_skips_its_dependants_and_a_rerun_converges(
    server: Server, tmp_path: Path
) -> None:
    wanted = mixed(tmp_path)

    def support(request: Request) -> bool:
        return isinstance(request.body, dict) and request.body.get("name") == "support"

    server.letta.fail("POST", "^/v1/agents/$", status=500, times=3, when=support)
    with pytest.raises(ApplyFailed) as failed:
        server.apply(wanted)
    lines = failed.value.lines()
    assert any(line.startswith("  agent/support: ") and "HTTP 500" in line for line in lines)
    assert "  conversation/support/bob: skipped: agent/support does not exist" in lines
    assert [a["name"] for a in server.letta.agents.rows.values()] == ["assistant-alice"]
    assert not server.letta.conversations.rows  # needs the agent: skipped, not attempted
    assert server.apply(wanted)
    assert not server.plan(wanted).has_changes


def test_once_the_server_stops_answering_the_rest_is_not_attempted(
    server: Server, tmp_path: Path
) -> None:
    wanted = mixed(tmp_path)
    server.letta.fail("POST", "^/v1/blocks/$", status=None, times=10)
    with pytest.raises(ApplyFailed) as failed:
        server.apply(wanted)
    assert "stopped answering" in str(failed.value)
    assert failed.value.not_attempted  # not each waiting out its retries
    server.letta.faults.clear()
    server.apply(wanted)
    assert not server.plan(wanted).has_changes


def test_a_quota_refusal_stops_the_apply(server: Server, tmp_path: Path) -> None:
    server.letta.fail("POST", "^/v1/agents/$", status=402, times=10)
    with pytest.raises(ApplyFailed) as failed:
        server.apply(mixed(tmp_path))
    assert "HTTP 402" in str(failed.value)
    assert not server.letta.agents.rows


def test_duplicates_keep_the_oldest_and_prune_deletes_the_others(
    server: Server, tmp_path: Path
) -> None:
    wanted = mixed(tmp_path)
    server.apply(wanted)
    alice = server.named("assistant-alice")
    twin = {k: v for k, v in alice.items() if k not in ("id", "block_ids")}
    # Made in the same instant: the id decides which is kept, on every run alike.
    copy = server.letta.new(server.letta.agents, {**twin, "block_ids": []})
    copy["created_at"] = alice["created_at"]
    plan = server.plan(wanted)
    [duplicate] = [n for n in plan.notices if n.kind is NoticeKind.DUPLICATE]
    assert duplicate.resource_ids == tuple(sorted((alice["id"], copy["id"])))
    assert not plan.has_changes  # reported only, until prune is on
    pruned = desired(tmp_path, MIXED + "prune: {enabled: true, maxDeletePercent: 100}\n")
    plan = server.plan(pruned)
    [delete] = [c for c in plan.changes if isinstance(c, Delete)]
    assert delete.resource_id == max(alice["id"], copy["id"])
    server.apply(pruned)
    assert [a["id"] for a in server.letta.agents.rows.values() if "alice" in a["name"]] == [
        min(alice["id"], copy["id"])
    ]


def test_a_tool_delete_whose_answer_is_lost_is_done(server: Server, tmp_path: Path) -> None:
    """The server answers 400, not 404, for a tool already gone: the retried delete of a tool
    the first attempt removed is done, not a failure."""
    wanted = mixed(tmp_path)
    server.apply(wanted)
    text = MIXED.replace("tools: [lookup_order, web_search]", "tools: [web_search]")
    text = text.replace("tools:\n  lookup_order: {source: tools/lookup_order.py}\n", "")
    without = desired(tmp_path, text + "prune: {enabled: true, maxDeletePercent: 100}\n")
    lost = server.letta.fail("DELETE", "^/v1/tools/", status=502, acted=True)
    server.apply(without)
    assert lost.times == 0
    assert not [t for t in server.letta.tools.rows.values() if t["name"] == "lookup_order"]
    assert not server.plan(without).has_changes
