"""What the text and markdown renderers show, as marked lines, so both show the same thing.

Owns the reading order (changes grouped by action in apply order, by address within a group;
notices by kind), the headings and summary sentence, and how values and multi-line diffs are
shortened. Every value from a manifest or the server is escaped with `reconciler.text.clean`.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import assert_never

from reconciler.kinds.registry import handler
from reconciler.ownership import METADATA_KEY
from reconciler.plan.deletions import deletions
from reconciler.plan.model import (
    Action,
    Adopt,
    Attach,
    Change,
    Create,
    Delete,
    Detach,
    FieldChange,
    Notice,
    NoticeKind,
    Plan,
    Update,
    kind_of,
)
from reconciler.text import clean
from reconciler.values import JSON, thaw

MAX_DIFF_LINES = 20
"""Lines of a multi-line value shown before the rest is summarised as "(N more lines)"."""

MAX_INLINE_CHARS = 160
"""Characters of a one-line value shown before the rest is summarised as "(N more chars)"."""

MAX_LINE_CHARS = 240
"""Characters of one line of a multi-line value shown: one long line cannot crowd a plan's
other fields out of a size-limited comment."""


@dataclass(frozen=True)
class Line:
    """One displayed line.

    `depth` 0 is a change or notice, 1 one of its fields, 2 a line of a multi-line value.
    `mark` is "+", "-", "~", ">" or "<" (what happens), or " " (context, information).
    """

    depth: int
    mark: str
    text: str


def changes_by_action(plan: Plan) -> list[tuple[Action, list[Change]]]:
    """Non-empty groups in apply order; within a group by address, so reruns diff cleanly."""
    groups = []
    for action in Action:
        members = [c for c in plan.changes if c.action is action]
        members.sort(key=_change_key)
        if members:
            groups.append((action, members))
    return groups


def _change_key(change: Change) -> tuple[str, str, str]:
    match change:
        case Attach() | Detach():
            other = str(change.agent)
        case Adopt() | Create() | Update() | Delete():
            other = ""
        case _:
            assert_never(change)
    return (str(change.address), kind_of(change).value, other)


def notices_by_kind(plan: Plan) -> list[tuple[NoticeKind, list[Notice]]]:
    """Non-empty groups in `NoticeKind` order; within a group by address and message."""
    groups = []
    for kind in NoticeKind:
        members = sorted(
            (n for n in plan.notices if n.kind is kind),
            key=lambda n: (_notice_address(n), n.message, n.resource_ids),
        )
        if members:
            groups.append((kind, members))
    return groups


def action_title(action: Action) -> str:
    """The section name of an action's changes."""
    match action:
        case Action.ADOPT:
            return "Adopt"
        case Action.CREATE:
            return "Create"
        case Action.UPDATE:
            return "Update"
        case Action.ATTACH:
            return "Attach"
        case Action.DETACH:
            return "Detach"
        case Action.DELETE:
            return "Delete"
        case _:
            assert_never(action)


def notice_title(kind: NoticeKind) -> tuple[str, str | None]:
    """A notice section's name and, when the name alone could alarm, what it means."""
    match kind:
        case NoticeKind.DRIFT:
            return "Drift", "kept; seeded memory belongs to the agent"
        case NoticeKind.CONFLICT:
            return "Conflicts", None
        case NoticeKind.BLOCKED:
            return "Blocked", "not created: adopt or remove what is in the way"
        case NoticeKind.DUPLICATE:
            return "Duplicates", None
        case NoticeKind.PROTECTED:
            return "Not deleted", "protected"
        case NoticeKind.UNDECLARED:
            return "No longer declared", "kept; enable prune to delete"
        case _:
            assert_never(kind)


def counted(number: int, noun: str) -> str:
    """`1 notice`, `2,000 notices`."""
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


def scope_sentence(plan: Plan, quote: Callable[[str], str] = lambda text: text) -> str | None:
    """For a partial plan, what it covers (each target or user id passed through `quote`);
    None for a plan of the whole stack."""
    if not plan.partial:
        return None
    given = ", ".join(
        f"{what} {quote(clean(value))}"
        for what, _, value in (part.partition(":") for part in plan.scope)
    )
    return (
        f"Partial plan ({given}): only these resources and what they need were read and "
        "planned; nothing else is changed, and nothing is deleted."
    )


def counted_actions(plan: Plan) -> list[Action]:
    """The actions a plan's counts are shown for: every one, adoption only when there is any
    (it is asked for by `--adopt`)."""
    adopting = any(change.action is Action.ADOPT for change in plan.changes)
    return [a for a in Action if a is not Action.ADOPT or adopting]


def summary_sentence(plan: Plan) -> str:
    """The closing line: counts for every action, or that nothing changes; then notices."""
    if plan.changes:
        counts = plan.counts()
        shown = counted_actions(plan)
        text = "Plan: " + ", ".join(f"{counts[a]:,} to {a.value}" for a in shown) + "."
    elif plan.blocked:
        text = "No changes can be made, but the server does not match the manifests."
    else:
        text = "No changes. The server matches the manifests."
    if plan.blocked:
        text += f" {counted(len(plan.blocked), 'declared resource')} blocked."
    if plan.notices:
        text += f" {counted(len(plan.notices), 'notice')}."
    return text


def deletion_sentence(plan: Plan) -> str | None:
    """What the plan deletes, counted as the deletion guards count it, and whether applying
    it needs `--allow-mass-delete`; None when it deletes nothing."""
    deleted = deletions(plan)
    if not deleted.total:
        return None
    text = f"Deletes {deleted.phrase()}."
    if deleted.over_share:
        text += f" That is {deleted.share()}: applying needs --allow-mass-delete."
    return text


def inline(value: JSON) -> str:
    """A value on one line, as JSON, shortened past `MAX_INLINE_CHARS`; a redacted value as
    its length."""
    if _is_redacted(value):
        return f"(redacted: {counted(int(value['length']), 'char')})"
    text = clean(json.dumps(thaw(value), ensure_ascii=False, sort_keys=True))
    extra = len(text) - MAX_INLINE_CHARS
    if extra > 0:
        return f"{text[:MAX_INLINE_CHARS]}... ({counted(extra, 'more char')})"
    return text


def change_lines(change: Change, *, details: bool) -> list[Line]:
    """A change's headline and, with `details`, what it sends or alters."""
    lines = [Line(0, change.action.symbol, _headline(change))]
    if details:
        lines += _action_lines(change)
    return lines


def _action_lines(change: Change) -> list[Line]:
    """What a reviewer needs besides field changes: what a create sends and links, which ids
    a delete removes (a link's headline already names both ends)."""
    match change:
        case Create():
            links = [Line(1, " ", f"links: {clean(str(a))}") for a in change.links]
            return links + _body_lines(change)
        case Delete():
            lines = [Line(1, " ", f"id: {clean(change.resource_id)}")]
            if change.owned_children:
                ids = ", ".join(map(clean, change.owned_children))
                lines.append(Line(1, "-", f"its own blocks: {ids}"))
            return lines
        case Update():
            return [line for field in change.fields for line in _field_lines(field)]
        case Attach() | Detach() | Adopt():
            return []
        case _:
            assert_never(change)


def notice_lines(notice: Notice, *, details: bool) -> list[Line]:
    """A notice's address and message and, with `details`, its ids and field differences."""
    lines = [Line(0, " ", f"{clean(_notice_address(notice))}: {clean(notice.message)}")]
    if details:
        if notice.resource_ids:
            lines.append(Line(1, " ", "ids: " + ", ".join(map(clean, notice.resource_ids))))
        for field in notice.fields:
            lines += _field_lines(field)
    return lines


def has_details(lines: list[Line]) -> bool:
    """Whether a change's or notice's lines hold more than its headline."""
    return len(lines) > 1


def _notice_address(notice: Notice) -> str:
    return str(notice.address) if notice.address else "(no address)"


def _headline(change: Change) -> str:
    match change:
        case Attach():
            return f"{clean(str(change.address))} to {clean(str(change.agent))}"
        case Detach():
            return f"{clean(str(change.address))} from {clean(str(change.agent))}"
        case Delete():
            return f"{clean(str(change.address))}  ({clean(change.reason)})"
        case Adopt():
            return f"{clean(str(change.address))}  (existing {clean(change.resource_id)})"
        case Create() | Update():
            return clean(str(change.address))
        case _:
            assert_never(change)


def _body_lines(change: Create) -> list[Line]:
    """A created resource's fields, nested objects flattened to dotted paths, without the
    ownership record."""
    lines: list[Line] = []
    for path, value in _flatten(handler(change.address.kind).shown(change), ""):
        if path.startswith(_OWNERSHIP_RECORD) or _OWN_BLOCK_TAGS.fullmatch(path):
            continue  # the same stack and address on every create; the headline says both
        if _is_multiline(value):
            lines.append(Line(1, "+", f"{clean(path)}:"))
            lines += _shortened([Line(2, "+", _text_line(v)) for v in value.splitlines()])
        else:
            lines.append(Line(1, "+", f"{clean(path)}: {inline(value)}"))
    return lines


_OWNERSHIP_RECORD = f"metadata.{METADATA_KEY}."
_OWN_BLOCK_TAGS = re.compile(r"memory_blocks\[\d+\]\.tags")
"""The stack's tag on each block an agent is created with: the same mark on every one."""


def _is_redacted(value: JSON) -> bool:
    """A value `redact_values` stood in for (see `reconciler.render.redact.marker`)."""
    return isinstance(value, Mapping) and value.get("redacted") is True and "length" in value


def _flatten(value: JSON, path: str) -> Iterator[tuple[str, JSON]]:
    """Leaf values by path; lists of objects (e.g. memory blocks) are indexed, others kept."""
    if isinstance(value, Mapping) and value and not _is_redacted(value):
        for key in sorted(value):
            yield from _flatten(value[key], f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple) and any(isinstance(v, Mapping) for v in value):
        for index, item in enumerate(value):
            yield from _flatten(item, f"{path}[{index}]")
    else:
        yield path, value


def _field_lines(field: FieldChange) -> list[Line]:
    path = clean(field.path)
    if _is_multiline(field.before) or _is_multiline(field.after):
        before, after = _as_text(field.before), _as_text(field.after)
        return [Line(1, "~", f"{path}:"), *_shortened(_diff(before, after))]
    return [Line(1, "~", f"{path}: {inline(field.before)} -> {inline(field.after)}")]


def _is_multiline(value: JSON) -> bool:
    return isinstance(value, str) and "\n" in value


def _as_text(value: JSON) -> str:
    """A side of a multi-line diff: a missing value diffs as empty, a non-string as JSON."""
    if value is None:
        return ""
    return value if isinstance(value, str) else inline(value)


def _diff(before: str, after: str) -> list[Line]:
    """Changed lines with one line of context; runs of unchanged lines are counted, not shown."""
    old, new = before.splitlines(), after.splitlines()
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    lines: list[Line] = []
    shown_to = 0
    for group in matcher.get_grouped_opcodes(1):
        lines += _unchanged(old[shown_to : group[0][1]])
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [Line(2, " ", _text_line(text)) for text in old[i1:i2]]
                continue
            lines += [Line(2, "-", _text_line(text)) for text in old[i1:i2]]
            lines += [Line(2, "+", _text_line(text)) for text in new[j1:j2]]
        shown_to = group[-1][2]
    return lines + _unchanged(old[shown_to:])


def _unchanged(hidden: list[str]) -> list[Line]:
    """Lines between hunks: counted, unless showing the one line is as short as counting it."""
    if len(hidden) == 1:
        return [Line(2, " ", _text_line(hidden[0]))]
    return [Line(2, " ", f"({counted(len(hidden), 'unchanged line')})")] if hidden else []


def _text_line(text: str) -> str:
    """One line of a multi-line value, escaped and shortened past `MAX_LINE_CHARS`."""
    extra = len(text) - MAX_LINE_CHARS
    if extra > 0:
        return f"{clean(text[:MAX_LINE_CHARS])}... ({counted(extra, 'more char')})"
    return clean(text)


def _shortened(lines: list[Line]) -> list[Line]:
    extra = len(lines) - MAX_DIFF_LINES
    if extra <= 0:
        return lines
    return [*lines[:MAX_DIFF_LINES], Line(2, " ", f"... ({counted(extra, 'more line')})")]
