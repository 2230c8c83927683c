"""Whether an `ignoreTags` glob can match a reserved tag, decided on the pattern itself."""

from __future__ import annotations

import itertools
from fnmatch import fnmatchcase

import pytest

from reconciler.errors import Location
from reconciler.manifest.problems import Problems
from reconciler.manifest.reserved import (
    OWNERSHIP,
    USER_LOOKUPS,
    Reserved,
    glob_covers,
    reserved_forms,
)
from reconciler.manifest.variables import compile_text


@pytest.mark.parametrize(
    ("pattern", "covers"),
    [
        ("user:*", True),
        ("user:[!p]*", True),  # a sample tag starting with `p` would have missed it
        ("user:p*", True),
        ("[u]ser:*", True),
        ("?ser:*", True),
        ("*", True),
        ("u*", True),
        ("user", False),
        ("users:*", False),
        ("user[!:]*", False),
        ("session:*", False),
        ("*:x", True),
        ("user:", True),
        ("user:?", True),
        ("[!u]*", False),
        ("[", False),
        ("user[", False),  # an unclosed `[` is a plain character
    ],
)
def test_a_glob_covers_the_user_tags_exactly_when_it_can_match_one(
    pattern: str, covers: bool
) -> None:
    assert glob_covers(pattern, Reserved("user:", "", "")) == covers


def test_the_decision_agrees_with_every_short_tag_over_a_small_alphabet() -> None:
    alphabet = "u:ab"
    pieces = ["u", ":", "a", "*", "?", "[ab]", "[!a]", "[:]"]
    forms = [Reserved("u:", "", ""), Reserved("a", "b", ""), Reserved("", ":", "")]
    tags = ["".join(t) for n in range(7) for t in itertools.product(alphabet, repeat=n)]
    for size in range(1, 4):
        for parts in itertools.product(pieces, repeat=size):
            pattern = "".join(parts)
            for form in forms:
                matched = any(form.holds(tag) and fnmatchcase(tag, pattern) for tag in tags)
                assert glob_covers(pattern, form) == matched, (pattern, str(form))


def test_a_stacks_user_tag_format_is_reserved_around_the_users_id() -> None:
    def forms(text: str) -> tuple[Reserved, ...]:
        return reserved_forms(compile_text(text, Location("m.yaml", 1, 1), Problems()))

    [*_, own] = forms("acme-user:${user.id}")
    assert (own.before, own.after) == ("acme-user:", "")
    assert own.holds("acme-user:bob") and not own.holds("acme-users")
    [*_, suffix] = forms("${user.id}@acme")
    assert suffix.holds("bob@acme") and not suffix.holds("bob@acme.com")
    assert forms("user:${user.id}") == (OWNERSHIP, USER_LOOKUPS)
    assert forms("${user.id}") == (OWNERSHIP, USER_LOOKUPS)
