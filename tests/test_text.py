"""The one escaping of outside text, and URLs without their credentials."""

from __future__ import annotations

import json

import pytest

from reconciler.text import (
    clean,
    json_text,
    redact_url,
    redact_urls,
    shown,
    target_label,
    without_credentials,
)

HOSTILE = "a\x1b[2J\x07\r\nError: all fine\x9b31m\u202eevil\u2066\u2028\ud800\x7f\tb"


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("\x1b[31m", "\\x1b[31m"),
        ("\x07", "\\x07"),
        ("line\nError: forged", "line\\x0aError: forged"),
        ("\r", "\\x0d"),
        ("\x00", "\\x00"),
        ("\x7f", "\\x7f"),
        ("\x9b", "\\x9b"),
        ("\u202e", "\\u202e"),
        ("\u2067", "\\u2067"),
        ("\u200f", "\\u200f"),
        ("\u2028", "\\u2028"),
        ("\ud800", "\\ud800"),
        ("\udfff", "\\udfff"),
        ("tab\tkept", "tab\tkept"),
        ("ünïcødé 😀 ok", "ünïcødé 😀 ok"),
    ],
)
def test_clean_escapes_what_acts_on_a_terminal(raw: str, escaped: str) -> None:
    assert clean(raw) == escaped


def test_clean_leaves_one_line_that_can_be_written_as_utf8() -> None:
    text = clean(HOSTILE)
    assert "\n" not in text and "\r" not in text
    text.encode("utf-8")  # a lone surrogate would raise here
    assert clean(text) == text  # escaping twice changes nothing


def test_json_text_is_the_same_value_with_nothing_that_acts_on_a_terminal() -> None:
    document = json_text(json.dumps({"v": HOSTILE, "k\u202e": [1]}, indent=2, ensure_ascii=False))
    assert json.loads(document) == {"v": HOSTILE, "k\u202e": [1]}
    assert not set(document) & set("\x1b\x07\r\x9b\u202e\u2066\u2028\ud800\x7f")
    assert document.count("\n") == 5  # the layout's newlines stay
    document.encode("utf-8")


@pytest.mark.parametrize(
    ("url", "label"),
    [
        ("http://user:s3cret@host:8283/x?y=1", "http://***@host:8283/x?y=1"),
        ("https://token@host", "https://***@host"),
        ("http://us@er:p@ss@host/", "http://***@host/"),
        ("http://host:8283", "http://host:8283"),
        ("http://u:s3cret@[::1", "http://***@[::1"),  # not a valid URL: still redacted
        ("", ""),
    ],
)
def test_redact_url_replaces_user_and_password(url: str, label: str) -> None:
    assert redact_url(url) == label


def test_redact_urls_finds_every_url_in_a_message() -> None:
    message = "talking to http://a:s3cret@h1/ (then https://b:s3cret@h2:1) for mail@example.com"
    assert redact_urls(message) == (
        "talking to http://***@h1/ (then https://***@h2:1) for mail@example.com"
    )


def test_shown_and_target_label_do_both() -> None:
    assert shown("at http://u:s3cret@h\n") == "at http://***@h\\x0a"
    assert target_label("http://u:s3cret@h/\x1b") == "http://***@h/\\x1b"


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("http://***@host:1", "http://u:p@host:1/", True),
        ("http://host:1/", "http://u:p@host:1", True),
        ("http://host:1", "http://host:2", False),
        ("http://u:p@other:1", "http://u:p@host:1", False),
    ],
)
def test_servers_are_compared_without_credentials(a: str, b: str, same: bool) -> None:
    assert (without_credentials(a) == without_credentials(b)) is same
