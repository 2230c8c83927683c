"""The planner's shortcuts give what the general code gives: the fingerprint's writer the
canonical text, the field comparison's quick test the full comparison's answer, and
addresses made from parts of valid ones the same address."""

from __future__ import annotations

import copy
import hashlib
import math
import pickle
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from reconciler.address import Address, AddressError, Kind
from reconciler.kinds.registry import KINDS, fingerprint
from reconciler.live.state import LiveConversation, LiveState
from reconciler.plan import diff
from reconciler.values import Canonical, Frozen, canonical, freeze

from .data import load_case

CASES = Path(__file__).parent / "cases"


@dataclass(frozen=True)
class _Record:
    text: str
    number: int
    flag: bool
    nothing: None
    real: float
    kind: Kind
    address: Address
    nested: tuple[object, ...]
    mapping: Frozen


VALUES: list[object] = [
    "plain",
    'ünïcode \u2028 \x00 "quoted" \\',
    Kind.AGENT,
    0,
    -12345678901234567890,
    True,
    False,
    None,
    0.0,
    -0.0,
    1e300,
    math.inf,
    -math.inf,
    math.nan,
    (),
    (1, "a", (None, 2.5)),
    [1, 2],
    freeze({"b": 1, "a": {"z": [1, 2.0, True], "y": None}}),
    {"b": 1, "a": 2},
    Address.parse("conversation/support/bob"),
    _Record(
        "t",
        3,
        True,
        None,
        1.5,
        Kind.BLOCK,
        Address.agent("x"),
        (Address.identity("u"), freeze({"k": "v"})),
        freeze({"x": (1, 2)}),
    ),
]


@pytest.mark.parametrize("value", VALUES, ids=[repr(v)[:40] for v in VALUES])
def test_the_writer_gives_the_canonical_text(value: object) -> None:
    write = Canonical()
    assert write(value) == canonical(value)
    assert write(value) == canonical(value)  # again, a mapping's text now remembered


def test_the_writer_forgets_mappings_and_never_mixes_them_up() -> None:
    write = Canonical()
    mappings = [freeze({"n": n}) for n in range(Canonical.REMEMBERED * 3)]
    assert [write(m) for m in mappings] == [canonical(m) for m in mappings]
    shared = freeze({"shared": True})
    assert [write(shared) for _ in range(3)] == [canonical(shared)] * 3


@pytest.mark.parametrize("count", [0, 1, 63, 64, 65, 128, 200])
def test_the_fingerprint_is_one_documents_digest_at_any_count(count: int) -> None:
    """Hashed in pieces of 64 resources: the same bytes as the whole document."""
    _desired, live = load_case(min(CASES.iterdir()))
    from reconciler.kinds import conversation

    many = tuple(
        LiveConversation(f"conv-{n}", "agent-1", f"u{n}", f"chat {n}", "2026") for n in range(count)
    )
    live = live.with_part(conversation.LIVE, conversation.Conversations(many))
    document = [list(kind.fingerprinted(live)) for kind in KINDS]
    assert fingerprint(live) == hashlib.sha256(canonical(document).encode()).hexdigest()


def test_an_agents_tools_are_left_out_of_the_fingerprint_with_or_without_tools() -> None:
    from reconciler.kinds import agent
    from reconciler.live.state import LiveAgent, ToolRef

    plain = LiveAgent("agent-1", "a", Address.agent("a"), "2026")
    with_tools = replace(plain, tools=(ToolRef("tool-1", "t", "custom"),))
    for one in (plain, with_tools):
        live = LiveState("acme", {Kind.AGENT: agent.Agents((one,))})
        assert fingerprint(live) == fingerprint(
            LiveState("acme", {Kind.AGENT: agent.Agents((plain,))})
        )


SAME_CASES: list[tuple[object, object]] = [
    ("a", "a"),
    ("a", "b"),
    (1, 1),
    (1, 1.0),
    (1, True),
    (0, False),
    (0.0, -0.0),
    (math.nan, math.nan),
    (float("nan"), float("nan")),
    (1.5, 1.5),
    (None, None),
    (None, ""),
    ((1, 2), (1, 2)),
    ((1, 2), [1, 2]),
    ((1, 2), (2, 1)),
    (freeze({"a": 1}), {"a": 1}),
    (freeze({"a": 1}), {"a": 1.0}),
    (freeze({"a": 1}), {"b": 1}),
    (freeze({"a": {"b": (1, "x")}}), freeze({"a": {"b": (1, "x")}})),
    (freeze({"a": {"b": (1, "x")}}), freeze({"a": {"b": (1, "y")}})),
    (Kind.AGENT, "agent"),
]


@pytest.mark.parametrize(("before", "after"), SAME_CASES, ids=[repr(c)[:40] for c in SAME_CASES])
def test_the_quick_comparison_never_contradicts_the_full_one(before: object, after: object) -> None:
    """Surely the same only where the full comparison finds no change; the field changes are
    those of the full comparison with only the earlier shortcut (one object, or equal
    scalars of one type)."""
    quick = diff._same(before, after)
    found = diff.field_changes({"f": before}, {"f": after})
    if quick:
        assert found == ()
    saved = diff._same
    scalars = (str, int, bool, float, type(None))
    try:
        diff._same = lambda a, b: a is b or (type(a) is type(b) in scalars and a == b)  # type: ignore[assignment]
        assert diff.field_changes({"f": before}, {"f": after}) == found
    finally:
        diff._same = saved


def test_addresses_made_from_parts_of_valid_ones_are_those_parsed() -> None:
    agent = Address.agent("support")
    made = Address.conversation(agent, "bob")
    parsed = Address.parse("conversation/support/bob")
    assert made == parsed and hash(made) == hash(parsed) and str(made) == str(parsed)
    assert Address.agent_block(agent, "persona") == Address.parse("block/support/persona")
    assert made.owner == agent and hash(made.owner) == hash(agent)
    for bad in ("with space", "a/b", "", "\x1b[31m"):
        with pytest.raises(AddressError):
            Address.conversation(agent, bad)
        with pytest.raises(AddressError):
            Address.agent_block(agent, bad)


def test_addresses_compare_hash_copy_and_pickle_as_values() -> None:
    one, two = Address.parse("agent/user:alice"), Address.dedicated_agent("alice")
    assert one == two and one is not two and len({one, two}) == 1
    assert one != Address.parse("identity/user:alice") and one != "agent/user:alice"
    assert sorted([Address.agent("b"), Address.identity("a"), Address.agent("a")]) == [
        Address.agent("a"),
        Address.agent("b"),
        Address.identity("a"),
    ]
    for again in (copy.copy(one), copy.deepcopy(one), pickle.loads(pickle.dumps(one))):
        assert again == one and hash(again) == hash(one)
    assert not hasattr(one, "__dict__")


def test_the_users_patterns_are_worked_out_when_first_asked() -> None:
    from reconciler.planner import _Patterns

    desired, _live = load_case(min(CASES.iterdir()))
    lazy = _Patterns(desired)
    assert dict(lazy) == desired.patterns() and len(lazy) == len(desired.patterns())
