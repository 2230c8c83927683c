"""Who is inactive, from activity values and a fixed time; what the edit does for them; and
the report as printed. No server: `tests/integration/test_inactive.py` reads real activity."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.address import Address
from reconciler.inactive import find_idle, render, report
from reconciler.live.state import Activity, Basis
from reconciler.manifest import Declared, load_declared

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ALICE = Address.dedicated_agent("alice")
BOB = Address.conversation(Address.agent("desk"), "bob")


def ago(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat()


def used(address: Address, days: float | None, created: float = 400, id: str = "x") -> Activity:
    basis = Basis.LAST_MESSAGE if address == BOB else Basis.LAST_RUN
    return Activity(address, id, ago(created), None if days is None else ago(days), basis)


@pytest.mark.parametrize(
    ("activity", "expected"),
    [
        (used(ALICE, 90), [(ALICE, Basis.LAST_RUN, 90)]),
        (used(ALICE, 89.9), []),
        (used(BOB, 120.5), [(BOB, Basis.LAST_MESSAGE, 120)]),
        (used(ALICE, None, created=91), [(ALICE, Basis.CREATED, 91)]),
        (used(ALICE, None, created=3), []),
        (used(ALICE, -5), []),
    ],
)
def test_a_user_is_inactive_from_its_last_use_or_else_its_creation(
    activity: Activity, expected: list[tuple[Address, Basis, int]]
) -> None:
    idle = find_idle([ALICE, BOB], [activity], NOW, 90)
    assert [(i.address, i.basis, i.days) for i in idle] == expected


def test_the_latest_use_of_any_resource_at_an_address_counts() -> None:
    old, recent = used(ALICE, 200, id="a1"), used(ALICE, 10, id="a2")
    assert find_idle([ALICE], [old, recent], NOW, 90) == []
    older = used(ALICE, 300, id="a3")
    [idle] = find_idle([ALICE], [old, older], NOW, 90)
    assert (idle.resource_id, idle.days) == ("a1", 200)


def test_undeclared_addresses_and_unreadable_dates_are_never_listed() -> None:
    undeclared = used(Address.dedicated_agent("zed"), 500)
    garbled = Activity(ALICE, "a1", ago(400), "last tuesday", Basis.LAST_RUN)
    old = used(ALICE, 400, id="a2")
    assert find_idle([ALICE], [undeclared, garbled, old], NOW, 90) == []


def test_a_time_without_a_zone_is_read_as_utc() -> None:
    naive = Activity(ALICE, "a1", "2024-01-01T00:00:00", "2025-03-03T12:00:00", Basis.LAST_RUN)
    [idle] = find_idle([ALICE], [naive], NOW, 90)
    assert idle.last_active == datetime(2025, 3, 3, 12, tzinfo=UTC)
    assert idle.days == 90


STACK = """\
apiVersion: letta-apply/v1
stack: demo
defaults: {model: letta/letta-free, embedding: letta/letta-free}
templates:
  assistant: {}
agents:
  desk: {}
users:
  - {id: alice, pattern: dedicated}
  - {id: bob, pattern: shared, agent: desk}
  - {id: carl, pattern: dedicated, protected: true}
  - {id: dora, pattern: dedicated}
  - {id: ida, pattern: identity, agent: desk}
"""

ACTIVITY = [
    used(ALICE, 100, id="agent-1"),
    used(BOB, None, created=150, id="conv-2"),
    used(Address.dedicated_agent("carl"), 95, id="agent-3"),
    used(Address.dedicated_agent("dora"), 2, id="agent-4"),
]


@pytest.fixture
def declared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Declared:
    monkeypatch.chdir(tmp_path)
    Path("stack.yaml").write_text(STACK)
    return load_declared([Path(".")])


def test_inactive_users_are_removed_except_protected_ones(declared: Declared) -> None:
    result = report(declared, ACTIVITY, NOW, 90)
    assert [i.user for i in result.idle] == ["alice", "carl", "bob"]
    assert dict(result.changes) == {"alice": "remove", "bob": "remove"}
    [kept] = result.edits.not_edited
    assert (kept.user, str(kept.where)) == ("carl", "stack.yaml:11:10")
    assert kept.reason.startswith("it is protected (never deleted)")
    text = result.edits.files[0].after.decode()
    assert "alice" not in text and "bob" not in text and "dora" in text


def test_with_move_to_dedicated_users_move_and_shared_ones_stay(declared: Declared) -> None:
    result = report(declared, ACTIVITY, NOW, 90, move_to="desk")
    assert dict(result.changes) == {"alice": "move"}
    assert {(n.user, n.reason) for n in result.edits.not_edited} == {
        ("carl", "it is protected (never deleted); remove the protection first if it is to go"),
        (
            "bob",
            "already a conversation on the shared agent desk (--move-to moves dedicated users)",
        ),
    }
    assert "{id: alice, pattern: shared, agent: desk}" in result.edits.files[0].after.decode()


def test_the_text_report_lists_users_then_the_edit(declared: Declared) -> None:
    result = report(declared, ACTIVITY, NOW, 90)
    assert render(result, "text", written=False) == (
        "Stack demo: 3 user(s) inactive for 90 days or more (as of 2025-06-01 12:00 UTC):\n"
        "  user   pattern    address                last activity                     idle\n"
        "  alice  dedicated  agent/user:alice       2025-02-21 (last run)             100 days\n"
        "  carl   dedicated  agent/user:carl        2025-02-26 (last run)             95 days\n"
        "  bob    shared     conversation/desk/bob  2025-01-02 (created, never used)  150 days\n"
        "\n"
        "Left as declared (1):\n"
        "  carl: stack.yaml:11:10: it is protected (never deleted); remove the protection "
        "first if it is to go\n"
        "\n"
        "The manifest edit (--write applies it to the files):\n"
        "--- a/stack.yaml\n"
        "+++ b/stack.yaml\n"
        "@@ -6,8 +6,6 @@\n"
        " agents:\n"
        "   desk: {}\n"
        " users:\n"
        "-  - {id: alice, pattern: dedicated}\n"
        "-  - {id: bob, pattern: shared, agent: desk}\n"
        "   - {id: carl, pattern: dedicated, protected: true}\n"
        "   - {id: dora, pattern: dedicated}\n"
        "   - {id: ida, pattern: identity, agent: desk}\n"
        "\n"
        "Once merged, `letta-apply plan` shows the removed users' agents and conversations as "
        "no longer declared; they are deleted with prune.\n"
    )


def test_nobody_inactive_is_one_line(declared: Declared) -> None:
    result = report(declared, ACTIVITY, NOW, 365)
    assert render(result, "text", written=False) == (
        "Stack demo: no user inactive for 365 days or more (as of 2025-06-01 12:00 UTC).\n"
    )


def test_one_day_is_singular(declared: Declared) -> None:
    result = report(declared, [], NOW, 1)
    assert render(result, "text", written=False).startswith(
        "Stack demo: no user inactive for 1 day or more "
    )


def test_the_json_report_escapes_what_the_server_sent(declared: Declared) -> None:
    hostile = used(ALICE, 100, id="agent-\u202e\x1b[2J")
    result = report(declared, [hostile], NOW, 90)
    text = render(result, "json", written=True)
    assert "\u202e" not in text and "\x1b" not in text
    document = json.loads(text)
    assert document["users"] == [
        {
            "user": "alice",
            "pattern": "dedicated",
            "address": "agent/user:alice",
            "id": "agent-\u202e\x1b[2J",
            "last_activity": "2025-02-21T12:00:00+00:00",
            "basis": "last-run",
            "days_idle": 100,
            "change": "remove",
        }
    ]
    assert document["edit"]["written"] is True
    assert document["edit"]["files"] == ["stack.yaml"]
    assert document["edit"]["diff"].startswith("--- a/stack.yaml\n")
