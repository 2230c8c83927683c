"""The request ledger's rule, on requests as a run sends them (the server tests run it for real)."""

from __future__ import annotations

import json
import uuid

from reconciler.address import Address
from reconciler.plan.model import Create, FieldChange, Plan, Update
from reconciler.values import freeze
from tests.requestledger import Ledger


def server_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4()}"


AGENT, COMPANION, MADE, MADE_COMPANION, LOCK = (
    server_id("agent"),
    server_id("agent"),
    server_id("agent"),
    server_id("agent"),
    server_id("identity"),
)
ALICE = Address.dedicated_agent("alice")
SWITCH_OFF = Update(ALICE, AGENT, (FieldChange("enable_sleeptime", True, False),))
CREATE = Create(Address.dedicated_agent("bob"), freeze({"name": "bob", "enable_sleeptime": True}))


def ledger_after_reading() -> Ledger:
    """A run that read the stack's agents (and the group the server keeps for alice's)."""
    ledger = Ledger()
    listing = [{"id": AGENT, "managed_group": {"agent_ids": [COMPANION]}}]
    ledger.answered("/v1/agents/?tags=letta-apply%3As", json.dumps(listing))
    ledger.applying(Plan("s", "http://letta.test", changes=(SWITCH_OFF, CREATE)))
    return ledger


def test_a_change_writes_what_it_names_and_nothing_the_run_had_seen_before() -> None:
    ledger = ledger_after_reading()
    with ledger.running(SWITCH_OFF, {AGENT}):
        patched = ledger.sent("PATCH", f"/v1/agents/{AGENT}", '{"enable_sleeptime": false}')
        ledger.answered(f"/v1/agents/{AGENT}", json.dumps({"id": AGENT, "agent_ids": [COMPANION]}))
        deleted = ledger.sent("DELETE", f"/v1/agents/{COMPANION}", "")
        read = ledger.sent("GET", f"/v1/agents/{COMPANION}", "")
    assert patched is not None and patched["ok"], patched
    assert deleted is not None and not deleted["ok"]
    assert deleted["change"] == "agent/user:alice" and COMPANION in deleted["why"]
    assert read is None


def test_a_change_writes_what_its_own_requests_made() -> None:
    ledger = ledger_after_reading()
    with ledger.running(CREATE, set()):
        created = ledger.sent("POST", "/v1/agents/", '{"name": "bob"}')
        answer = {"id": MADE, "managed_group": {"agent_ids": [MADE_COMPANION]}}
        ledger.answered("/v1/agents/", json.dumps(answer))
        marked = ledger.sent("PATCH", f"/v1/agents/{MADE_COMPANION}", '{"metadata": {}}')
        other = ledger.sent("PATCH", f"/v1/agents/{AGENT}", '{"metadata": {}}')
    assert created is not None and created["ok"]
    assert marked is not None and marked["ok"], marked
    assert other is not None and not other["ok"]


def test_a_change_the_plan_does_not_hold_writes_nothing() -> None:
    ledger = ledger_after_reading()
    stray = Update(ALICE, AGENT, (FieldChange("name", "a", "b"),))
    with ledger.running(stray, {AGENT}):
        verdict = ledger.sent("PATCH", f"/v1/agents/{AGENT}", '{"name": "b"}')
    assert verdict is not None and not verdict["ok"]
    assert "does not hold" in verdict["why"]


def test_outside_changes_only_the_lock_records_are_written() -> None:
    ledger = ledger_after_reading()
    body = json.dumps({"identifier_key": "letta-apply-lock:s", "name": "lock"})
    made = ledger.sent("POST", "/v1/identities/", body)
    ledger.answered(
        "/v1/identities/", json.dumps({"id": LOCK, "identifier_key": "letta-apply-lock:s"})
    )
    removed = ledger.sent("DELETE", f"/v1/identities/{LOCK}", "")
    cleanup = ledger.sent("DELETE", f"/v1/agents/{COMPANION}", "")
    forged = ledger.sent("POST", "/v1/identities/", json.dumps({"identifier_key": "x"}))
    assert made is not None and made["ok"]
    assert removed is not None and removed["ok"]
    assert cleanup is not None and not cleanup["ok"] and cleanup["change"] is None
    assert forged is not None and not forged["ok"]


def test_pending_changes_ending_together_write_only_what_one_of_them_may() -> None:
    """A change left pending (an upload waiting for its processing) keeps what it may name:
    the write ending it with others (its folder's record) may name what any of them may, and
    nothing else."""
    ledger = ledger_after_reading()
    with ledger.running(CREATE, set()):
        ledger.sent("POST", "/v1/agents/", '{"name": "bob"}')
        ledger.answered("/v1/agents/", json.dumps({"id": MADE}))
    with ledger.running(SWITCH_OFF, {AGENT}):
        pass
    with ledger.finishing([CREATE, SWITCH_OFF]):
        own = ledger.sent("PATCH", f"/v1/agents/{MADE}", '{"metadata": {}}')
        other = ledger.sent("PATCH", f"/v1/agents/{AGENT}", '{"metadata": {}}')
        stray = ledger.sent("PATCH", f"/v1/agents/{COMPANION}", '{"metadata": {}}')
    assert own is not None and own["ok"], own
    assert other is not None and other["ok"], other
    assert stray is not None and not stray["ok"]
    assert stray["change"] == "agent/user:bob, agent/user:alice"
    with ledger.finishing([CREATE]):
        alone = ledger.sent("PATCH", f"/v1/agents/{AGENT}", '{"metadata": {}}')
    assert alone is not None and not alone["ok"]
