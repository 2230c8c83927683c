"""The terminal rendering of a plan, in the manner of `terraform plan`.

Layout: the target, a legend of the symbols used, the changes grouped by action in apply
order (a blank line between groups, by address within one), the notices by kind, what the
plan deletes in all (when it deletes), and a closing summary line. ANSI colour only when
the caller asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_never

from reconciler.plan.model import Action, Plan
from reconciler.render.lines import (
    Line,
    action_title,
    change_lines,
    changes_by_action,
    deletion_sentence,
    notice_lines,
    notice_title,
    notices_by_kind,
    scope_sentence,
    summary_sentence,
)
from reconciler.text import clean, target_label

_RESET = "\x1b[0m"
_GREEN = "\x1b[32m"
_YELLOW = "\x1b[33m"
_RED = "\x1b[31m"
_CYAN = "\x1b[36m"
_DIM = "\x1b[2m"
_BOLD = "\x1b[1m"


@dataclass(frozen=True)
class _Style:
    """Wraps text in ANSI codes, or leaves it alone when colour is off."""

    color: bool

    def __call__(self, code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if self.color and text else text


def render_text(plan: Plan, *, color: bool) -> str:
    """The plan as terminal text (no trailing newline)."""
    style = _Style(color)
    scope = scope_sentence(plan)
    out = [_header(plan), *((scope,) if scope else ()), ""]
    groups = changes_by_action(plan)
    if groups:
        out += [_legend([action for action, _ in groups]), ""]
    for _, changes in groups:
        for change in changes:
            out += [_line(line, style) for line in change_lines(change, details=True)]
        out.append("")
    out += _notices(plan, style)
    deleting = deletion_sentence(plan)
    if deleting:
        out.append(style(_RED, deleting))
    out.append(style(_BOLD, summary_sentence(plan)))
    return "\n".join(out)


def _header(plan: Plan) -> str:
    prune = "on" if plan.prune else "off"
    return f"Target: {target_label(plan.target)} · stack: {clean(plan.stack)} · prune: {prune}"


def _legend(actions: list[Action]) -> str:
    return "Symbols: " + ", ".join(f"{a.symbol} {action_title(a).lower()}" for a in actions)


def _notices(plan: Plan, style: _Style) -> list[str]:
    out = []
    for kind, notices in notices_by_kind(plan):
        name, meaning = notice_title(kind)
        out.append(style(_DIM, f"{name} ({meaning}):" if meaning else f"{name}:"))
        for notice in notices:
            out += [style(_DIM, _layout(line)) for line in notice_lines(notice, details=True)]
        out.append("")
    return out


def _layout(line: Line) -> str:
    """Indent by depth, then the mark, then the text; a blank mark keeps text aligned."""
    return f"{'  ' + '    ' * line.depth}{line.mark} {line.text}"


def _line(line: Line, style: _Style) -> str:
    """A change line; colour marks what happens: the symbol, or a whole diff line."""
    code = _mark_color(line.mark)
    if not code:
        return _layout(line)
    if line.depth == 2:
        return style(code, _layout(line))
    indent = "  " + "    " * line.depth
    return f"{indent}{style(code, line.mark)} {line.text}"


def _mark_color(mark: str) -> str:
    for action in Action:
        if action.symbol == mark:
            return _action_color(action)
    return ""


def _action_color(action: Action) -> str:
    match action:
        case Action.ADOPT:
            return _CYAN
        case Action.CREATE:
            return _GREEN
        case Action.UPDATE:
            return _YELLOW
        case Action.ATTACH | Action.DETACH:
            return _CYAN
        case Action.DELETE:
            return _RED
        case _:
            assert_never(action)
