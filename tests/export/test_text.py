"""Per-user values factored into manifest text: only where every user's value renders back
exactly through the manifest's own variable parser."""

from __future__ import annotations

from reconciler.export.text import Member, factor, literal, renders, split_ids


def test_literal_text_keeps_dollar_braces_literal() -> None:
    for value in ("cost ${price}", "$${x}", "a $ b {c}", "${user.id}", "$$${"):
        assert renders(literal(value), "u1", None, value)


def test_equal_values_are_one_literal() -> None:
    found = factor([Member("a", None, "I help. ${x}"), Member("b", None, "I help. ${x}")])
    assert found is not None and found.text == "I help. $${x}" and not found.names


def test_values_holding_each_users_id_become_one_pattern() -> None:
    found = factor([Member(u, None, f"support-{u}") for u in ("t-1", "t-2", "t-10")])
    assert found is not None and found.text == "support-${user.id}"


def test_a_dollar_before_the_id_is_never_turned_into_an_escape() -> None:
    found = factor([Member(u, None, f"cost ${u}") for u in ("u1", "u2")])
    assert found is None or all(renders(found.text, u, None, f"cost ${u}") for u in ("u1", "u2"))


def test_the_users_names_are_found_where_values_differ_in_one_word() -> None:
    members = [
        Member("u1", None, "User ID: u1\nName: Alice\nPreferences: none"),
        Member("u2", None, "User ID: u2\nName: Alan\nPreferences: none"),
        Member("u3", None, "User ID: u3\nName: Bo\nPreferences: none"),
    ]
    found = factor(members)
    assert found is not None
    assert found.text == "User ID: ${user.id}\nName: ${user.name}\nPreferences: none"
    assert found.names == {"u1": "Alice", "u2": "Alan", "u3": "Bo"}


def test_values_following_no_pattern_are_not_factored() -> None:
    members = [
        Member("u1", None, "User ID: u1\nLikes tea"),
        Member("u2", None, "Something else entirely\nover two lines"),
    ]
    assert factor(members) is None
    assert factor([Member("u1", None, "alone")]) is not None  # one user: its value as it is


def test_ids_inside_summaries_keep_their_shared_prefix() -> None:
    split = split_ids(["Support chat for t-ab-g1", "Support chat for t-ab-g10"])
    assert split is not None
    assert split.text == "Support chat for ${user.id}"
    assert split.ids == ("t-ab-g1", "t-ab-g10")


def test_one_summary_takes_its_last_word_as_the_id() -> None:
    split = split_ids(["Support chat for bob"])
    assert split is not None and split.ids == ("bob",)


def test_summaries_without_distinct_valid_ids_are_not_split() -> None:
    assert split_ids(["Chat", "Chat"]) is None
    assert split_ids(["Chat with ü one", "Chat with ü two", "!"]) is None
    assert split_ids(["${x} a", "${x} b"]) == split_ids(["${x} a", "${x} b"])
    found = split_ids(["${x} a", "${x} b"])
    assert found is not None and found.text == "$${x} ${user.id}"


def test_a_user_without_a_name_shows_its_id_in_the_names_place() -> None:
    members = [
        Member("bob", None, "Support chat for Bob"),
        Member("dana", None, "Support chat for dana"),
        Member("erik", None, "Support chat for Erik"),
    ]
    found = factor(members)
    assert found is not None and found.text == "Support chat for ${user.name}"
    assert found.names == {"bob": "Bob", "dana": "dana", "erik": "Erik"}
