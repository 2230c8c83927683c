"""Text values from the server as manifest text: escaped so `${` stays literal, and factored
across users into one text with `${user.id}` / `${user.name}` where every user's value
follows it.

Every factored text is checked by rendering it back with the manifest's own variable parser:
a pattern that would not give each user's value exactly is never used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reconciler.errors import Location
from reconciler.manifest import schema
from reconciler.manifest.problems import Problems
from reconciler.manifest.schema import fits
from reconciler.manifest.variables import compile_text, literal, user_values

_ID_CHAR = re.compile(r"[A-Za-z0-9._@+-]")
_NAME_CHAR = re.compile(r"\w")
_NOWHERE = Location("<export>")
ID_VARIABLE, NAME_VARIABLE = "${user.id}", "${user.name}"


def _common_prefix(texts: Sequence[str]) -> str:
    """The longest text every one of `texts` starts with."""
    shortest = min(texts, key=len, default="")
    for end, char in enumerate(shortest):
        if any(t[end] != char for t in texts):
            return shortest[:end]
    return shortest


def renders(text: str, user_id: str, name: str | None, value: str) -> bool:
    """Whether manifest `text` gives `value` for this user, as the manifest loader reads it."""
    problems = Problems()
    compiled = compile_text(text, _NOWHERE, problems)
    if problems or not compiled.variables <= {"user.id", "user.name"}:
        return False
    return compiled.render(user_values(user_id, name, {})) == value


@dataclass(frozen=True)
class Member:
    """One user's value of a field: the user's id, its name when known, the value."""

    user_id: str
    name: str | None
    value: str


@dataclass(frozen=True)
class Factored:
    """A text that gives every member's value; `names` are user names it found (user id ->
    name) that the text takes from `${user.name}`."""

    text: str
    names: Mapping[str, str]


def factor(members: Sequence[Member]) -> Factored | None:
    """One text for all members' values, or None when they follow no common pattern."""
    if not members:
        return None
    values = {m.value for m in members}
    if len(values) == 1:
        return Factored(literal(members[0].value), {})
    if len(members) < 2:
        return None
    with_ids = [_with_variables(m) for m in members]
    if len(set(with_ids)) == 1 and _all_render(with_ids[0], members, {}):
        return Factored(with_ids[0], {})
    if any(m.name is not None for m in members):
        return None
    # A user without a name shows its id where the others show their names.
    return _with_names(members, with_ids) or _with_names(
        members, [literal(m.value) for m in members]
    )


def _with_variables(member: Member) -> str:
    text = literal(member.value).replace(member.user_id, ID_VARIABLE)
    if member.name:
        text = text.replace(literal(member.name), NAME_VARIABLE)
    return text


def _with_names(members: Sequence[Member], texts: list[str]) -> Factored | None:
    """The texts differ in one place, a word or words: that is each user's name."""
    prefix = _common_prefix(texts)
    suffix = _common_prefix([t[len(prefix) :][::-1] for t in texts])[::-1]
    prefix = _back_to(prefix, _NAME_CHAR)
    suffix = _forward_to(suffix, _NAME_CHAR)
    names: dict[str, str] = {}
    for member, text in zip(members, texts, strict=True):
        middle = text[len(prefix) : len(text) - len(suffix)]
        if not _plausible_name(middle):
            return None
        names[member.user_id] = middle
    pattern = f"{prefix}{NAME_VARIABLE}{suffix}"
    if len(set(names.values())) < 2 or not _all_render(pattern, members, names):
        return None
    return Factored(pattern, names)


def _plausible_name(text: str) -> bool:
    return (
        0 < len(text) <= 100
        and text == text.strip()
        and not any(c in text for c in "\n\r${}")
        and text.isprintable()
    )


def _back_to(prefix: str, part: re.Pattern[str]) -> str:
    """The prefix without a partial word (or id) at its end."""
    end = len(prefix)
    while end > 0 and part.match(prefix[end - 1]):
        end -= 1
    return prefix[:end]


def _forward_to(suffix: str, part: re.Pattern[str]) -> str:
    start = 0
    while start < len(suffix) and part.match(suffix[start]):
        start += 1
    return suffix[start:]


def _all_render(text: str, members: Sequence[Member], names: Mapping[str, str]) -> bool:
    return all(renders(text, m.user_id, m.name or names.get(m.user_id), m.value) for m in members)


@dataclass(frozen=True)
class Split:
    """Texts that each hold a user id in one place: the text around it, and each id."""

    text: str
    ids: tuple[str, ...]


def split_ids(values: Sequence[str]) -> Split | None:
    """The user ids inside `values` (such as `Support chat for bob`): where all values differ
    only in one run of id characters, or, for one value, its last run. None when the ids
    would not be valid or distinct."""
    if not values:
        return None
    if len(values) == 1:
        found = list(re.finditer(r"[A-Za-z0-9._@+-]+", values[0]))
        if not found:
            return None
        prefix, suffix = values[0][: found[-1].start()], values[0][found[-1].end() :]
    else:
        prefix = _common_prefix(values)
        rest = [v[len(prefix) :][::-1] for v in values]
        suffix = _common_prefix(rest)[::-1]
        prefix, suffix = _back_to(prefix, _ID_CHAR), _forward_to(suffix, _ID_CHAR)
    ids = tuple(v[len(prefix) : len(v) - len(suffix)] for v in values)
    if len(set(ids)) != len(ids) or not all(fits(schema.USER_ID, i) for i in ids):
        return None
    text = f"{literal(prefix)}{ID_VARIABLE}{literal(suffix)}"
    if not all(renders(text, i, None, v) for i, v in zip(ids, values, strict=True)):
        return None
    return Split(text, ids)
