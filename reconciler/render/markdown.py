"""The pull-request comment rendering of a plan (GitHub-flavoured markdown).

A title with stack and target, the summary sentence, a table of counts by pattern and action,
then one folded `<details>` section per action (deletes unfolded) and per notice kind.
Entries sit in ```diff blocks with the mark in column 0 so GitHub colours them; `~` becomes
`!`, which its diff highlighting shows as changed. Every user value is inside a code block or
code span, so markup, HTML and @mentions in it stay inert.

The comment never exceeds `max_chars`: it sheds field details, then lists at most N entries
per section, then keeps the counts only, and says in a note what it left out.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from reconciler.address import Pattern
from reconciler.plan.model import Action, Change, Notice, NoticeKind, Plan, pattern_of
from reconciler.render.lines import (
    Line,
    action_title,
    change_lines,
    changes_by_action,
    counted,
    counted_actions,
    deletion_sentence,
    has_details,
    notice_lines,
    notice_title,
    notices_by_kind,
    scope_sentence,
    summary_sentence,
)
from reconciler.text import clean, target_label

GITHUB_COMMENT_LIMIT = 65536
"""GitHub refuses a comment body longer than this many characters."""

_MARKS = {"=": "=", "+": "+", "-": "-", "~": "!", ">": ">", "<": "<", " ": " "}


@dataclass(frozen=True)
class _Detail:
    """How much the document shows: field details or not, and at most `cap` entries per
    section (None: all; 0: no sections, counts only)."""

    fields: bool
    cap: int | None = None


def render_markdown(plan: Plan, *, max_chars: int = GITHUB_COMMENT_LIMIT) -> str:
    """The plan as a PR comment of at most `max_chars` characters (counted in UTF-16 code
    units, as browsers do, which is never fewer than Python's count)."""
    levels = [_Detail(fields=True)]
    if _any_details(plan):
        levels.append(_Detail(fields=False))
    for detail in levels:
        document = _document(plan, detail, max_chars)
        if _size(document) <= max_chars:
            return document
    cap = _largest_cap(plan, max_chars)
    return _clip(_document(plan, _Detail(fields=False, cap=cap), max_chars), max_chars)


def _largest_cap(plan: Plan, max_chars: int) -> int:
    """The most entries per section that fit (0 when not even one does); listing all of
    them is known not to fit."""
    low, high = 0, max(_section_sizes(plan), default=1) - 1
    while low < high:
        middle = (low + high + 1) // 2
        if _size(_document(plan, _Detail(fields=False, cap=middle), max_chars)) <= max_chars:
            low = middle
        else:
            high = middle - 1
    return low


def _section_sizes(plan: Plan) -> list[int]:
    groups: list[list[Change] | list[Notice]] = [g for _, g in changes_by_action(plan)]
    groups += [g for _, g in notices_by_kind(plan)]
    return [len(g) for g in groups]


def _any_details(plan: Plan) -> bool:
    return any(has_details(change_lines(c, details=True)) for c in plan.changes) or any(
        has_details(notice_lines(n, details=True)) for n in plan.notices
    )


def _document(plan: Plan, detail: _Detail, max_chars: int) -> str:
    scope = scope_sentence(plan, inline_code)
    parts = [_title(plan), *((f"> {scope}",) if scope else ()), f"**{summary_sentence(plan)}**"]
    deleting = deletion_sentence(plan)
    if deleting:
        parts.append(deleting)
    note = _omission_note(plan, detail, max_chars)
    if note:
        parts.append(note)
    if plan.changes:
        parts.append(_table(plan))
    if detail.cap != 0:
        parts += [_change_section(a, cs, detail) for a, cs in changes_by_action(plan)]
        parts += [_notice_section(k, ns, detail) for k, ns in notices_by_kind(plan)]
    return "\n\n".join(parts)


def _title(plan: Plan) -> str:
    prune = "on" if plan.prune else "off"
    return (
        f"## letta-apply plan for {inline_code(clean(plan.stack))}\n\n"
        f"Target: {inline_code(target_label(plan.target))} · prune: **{prune}**"
    )


def _omission_note(plan: Plan, detail: _Detail, max_chars: int) -> str | None:
    """What was left out and where to see it, or None when nothing was."""
    if detail.fields:
        return None
    if detail.cap is None:
        changes = sum(has_details(change_lines(c, details=True)) for c in plan.changes)
        notices = sum(has_details(notice_lines(n, details=True)) for n in plan.notices)
        what = f"Field details for {_entries(changes, notices)} omitted"
    elif detail.cap == 0:
        what = f"Details for all {_entries(len(plan.changes), len(plan.notices))} omitted"
    else:
        changes = sum(max(0, len(g) - detail.cap) for _, g in changes_by_action(plan))
        notices = sum(max(0, len(g) - detail.cap) for _, g in notices_by_kind(plan))
        what = (
            f"Field details omitted and {_entries(changes, notices)} not listed "
            f"(at most {detail.cap:,} per section)"
        )
    return (
        f"> **Note:** {what} to fit the {max_chars:,}-character comment limit; "
        "run `letta-apply plan --format text` for all."
    )


def _entries(changes: int, notices: int) -> str:
    parts = [counted(changes, "change")] if changes else []
    parts += [counted(notices, "notice")] if notices else []
    return " and ".join(parts)


def _table(plan: Plan) -> str:
    """Counts by pattern (None: the stack's own shared resources) and action."""
    by_pattern: dict[Pattern | None, Counter[Action]] = {}
    for change in plan.changes:
        by_pattern.setdefault(pattern_of(change), Counter())[change.action] += 1
    actions = counted_actions(plan)
    rows = ["| Pattern | " + " | ".join(map(action_title, actions)) + " | Total |"]
    rows.append("| --- |" + " ---: |" * (len(actions) + 1))
    for pattern in sorted(by_pattern, key=_pattern_order):
        label = pattern.value if pattern else "stack"
        rows.append(_row(label, by_pattern[pattern], actions))
    rows.append(_row("**Total**", plan.counts(), actions))
    return "\n".join(rows)


def _pattern_order(pattern: Pattern | None) -> int:
    """Patterns in their declared order, the stack's own resources last."""
    patterns = list(Pattern)
    return len(patterns) if pattern is None else patterns.index(pattern)


def _row(label: str, counts: Counter[Action], actions: list[Action]) -> str:
    cells = [f"{counts[a]:,}" for a in actions] + [f"{sum(counts.values()):,}"]
    return f"| {label} | " + " | ".join(cells) + " |"


def _change_section(action: Action, changes: list[Change], detail: _Detail) -> str:
    shown = changes if detail.cap is None else changes[: detail.cap]
    lines = [line for c in shown for line in change_lines(c, details=detail.fields)]
    summary = f"{action_title(action)}: {len(changes):,}"
    return _section(summary, lines, len(changes) - len(shown), unfold=action.is_destructive)


def _notice_section(kind: NoticeKind, notices: list[Notice], detail: _Detail) -> str:
    shown = notices if detail.cap is None else notices[: detail.cap]
    lines = [line for n in shown for line in notice_lines(n, details=detail.fields)]
    name, meaning = notice_title(kind)
    summary = f"{name}: {len(notices):,}" + (f" ({meaning})" if meaning else "")
    return _section(summary, lines, len(notices) - len(shown), unfold=False)


def _section(summary: str, lines: list[Line], unlisted: int, *, unfold: bool) -> str:
    opening = "<details open>" if unfold else "<details>"
    body = _diff_block(lines)
    if unlisted:
        body += f"\n\n_... and {unlisted:,} more not listed._"
    return f"{opening}<summary>{summary}</summary>\n\n{body}\n\n</details>"


def _diff_block(lines: list[Line]) -> str:
    rows = [f"{_MARKS[line.mark]} {'    ' * line.depth}{line.text}" for line in lines]
    return code_block("\n".join(rows), "diff")


def code_block(text: str, info: str = "") -> str:
    """A fenced block holding `text` as it is (escape it first with `clean`): the fence is
    longer than any backtick run inside, so no value can close it."""
    fence = "`" * max(3, _longest_backtick_run(text) + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def inline_code(text: str) -> str:
    """An inline code span that holds any text, backticks included."""
    run = _longest_backtick_run(text)
    if run == 0:
        return f"`{text}`"
    fence = "`" * (run + 1)
    return f"{fence} {text} {fence}"


def _longest_backtick_run(text: str) -> int:
    return max((len(m) for m in re.findall("`+", text)), default=0)


def _size(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _clip(text: str, max_chars: int) -> str:
    """Cut to the limit; reached only when `max_chars` cannot hold even the counts."""
    excess = _size(text) - max_chars
    # Each dropped code point is at least one UTF-16 unit, so one cut is enough.
    return text[: len(text) - excess] if excess > 0 else text
