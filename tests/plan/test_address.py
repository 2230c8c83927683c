"""Addresses: one printer and one parser that agree, and what an address says about the user."""

from __future__ import annotations

import random

import pytest

from reconciler.address import Address, AddressError, Kind, Pattern, in_order

PRINTED = [
    "agent/user:alice",
    "agent/support",
    "block/company",
    "block/user:alice/human",
    "block/support/persona",
    "conversation/support/bob",
    "identity/carol",
    "lock/acme",
    "agent/user:first.last@example.com",
    "file/docs/guides/Getting started.md",
    "passage/faq/Frequent questions.md#2",
]


@pytest.mark.parametrize("text", PRINTED)
def test_parse_and_print_round_trip(text: str) -> None:
    assert str(Address.parse(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "agent",
        "agent/",
        "agent/a/b",
        "robot/x",
        "conversation/support",
        "block/a/b/c",
        "identity/with space",
        "identity/tab\there",
        "block/x/\x1b[31m",
        "folder/with space",
        "file/docs/two  spaces.md",
        "file/docs/ leading.md",
        "file/docs/trailing /x.md",
        "file/docs/tab\there.md",
        "file/docs/a/../b.md",
    ],
)
def test_not_an_address(text: str) -> None:
    with pytest.raises(AddressError):
        Address.parse(text)
    assert Address.parse_or_none(text) is None


def test_parse_or_none_takes_any_value() -> None:
    assert Address.parse_or_none(42) is None
    assert Address.parse_or_none(None) is None
    assert Address.parse_or_none("identity/carol") == Address.identity("carol")


@pytest.mark.parametrize(
    ("text", "user", "pattern", "owner"),
    [
        ("agent/user:alice", "alice", Pattern.DEDICATED, None),
        ("agent/support", None, None, None),
        ("block/company", None, None, None),
        ("block/user:alice/human", "alice", Pattern.DEDICATED, "agent/user:alice"),
        ("block/support/persona", None, None, "agent/support"),
        ("conversation/support/bob", "bob", Pattern.SHARED, "agent/support"),
        ("identity/carol", "carol", Pattern.IDENTITY, None),
        ("lock/acme", None, None, None),
    ],
)
def test_user_pattern_and_owner_follow_from_the_address(
    text: str, user: str | None, pattern: Pattern | None, owner: str | None
) -> None:
    address = Address.parse(text)
    assert address.user == user
    assert address.pattern is pattern
    assert (str(address.owner) if address.owner else None) == owner


def test_constructors_build_the_documented_shapes() -> None:
    alice = Address.dedicated_agent("alice")
    support = Address.agent("support")
    assert alice == Address(Kind.AGENT, ("user:alice",))
    assert str(Address.agent_block(alice, "human")) == "block/user:alice/human"
    assert str(Address.conversation(support, "bob")) == "conversation/support/bob"
    assert str(Address.shared_block("company")) == "block/company"
    assert str(Address.lock("acme")) == "lock/acme"


@pytest.mark.parametrize("name", ["lookup_order", "orders/get_order"])
def test_a_tool_reference_reads_back_as_the_same_tool(name: str) -> None:
    assert Address.tool(name).reference == name


def test_addresses_sort_by_kind_then_parts() -> None:
    texts = ["identity/b", "agent/z", "agent/a", "block/x"]
    assert [str(a) for a in sorted(map(Address.parse, texts))] == [
        "agent/a",
        "agent/z",
        "block/x",
        "identity/b",
    ]


def test_the_sort_key_orders_addresses_as_they_order_themselves() -> None:
    addresses = [Address.parse(text) for text in PRINTED * 2]
    addresses += [Address.conversation(Address.agent("support"), f"u{n}") for n in range(50)]
    random.Random(3).shuffle(addresses)
    assert sorted(addresses, key=in_order) == sorted(addresses)
