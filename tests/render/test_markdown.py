"""The PR-comment renderer: the size limit, what it says it folded, and inert user values."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from reconciler.render import render_markdown
from tests.plan.data import plan_case

from .plans import (
    HOSTILE_LINE,
    SAMPLES,
    hostile_plan,
    many_users_plan,
    mixed_plan,
    pattern_rows_plan,
)

if TYPE_CHECKING:
    from reconciler.plan.model import Plan

LIMIT = 65536
FENCE = re.compile(r"^(`{3,})diff$")
OUR_TAGS = {"<details>", "<details open>", "<summary>", "</summary>", "</details>"}


def utf16_size(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_code(markdown: str) -> tuple[str, list[str]]:
    """(the text outside fenced blocks and code spans, the fenced blocks' contents).

    Follows CommonMark for what these documents contain: a block opened by N backticks closes
    only at a line of at least N backticks and nothing else.
    """
    outside: list[str] = []
    blocks: list[str] = []
    block: list[str] = []
    fence: str | None = None
    for line in markdown.split("\n"):
        if fence is None:
            opening = FENCE.match(line)
            if opening:
                fence, block = opening.group(1), []
            else:
                outside.append(line)
        elif re.fullmatch(f"{fence}`*", line):
            blocks.append("\n".join(block))
            fence = None
        else:
            block.append(line)
    assert fence is None, "a code block is never closed"
    text = re.sub(r"(`+)(.+?)\1", "", "\n".join(outside))
    return text, blocks


def test_two_thousand_users_fit_and_the_comment_says_what_it_folded() -> None:
    markdown = render_markdown(many_users_plan(2000))
    assert len(markdown) <= LIMIT and utf16_size(markdown) <= LIMIT
    assert "Field details for 2,000 changes omitted to fit the 65,536-character" in markdown
    assert "run `letta-apply plan --format text` for all." in markdown
    assert "**Plan: 1,000 to create, 1,000 to update, 0 to attach" in markdown
    assert "| dedicated | 1,000 | 1,000 | 0 | 0 | 0 | 2,000 |" in markdown


def test_when_addresses_do_not_fit_sections_end_with_and_n_more() -> None:
    markdown = render_markdown(many_users_plan(2000, id_suffix="-" + "r" * 40))
    assert utf16_size(markdown) <= LIMIT
    note = re.search(
        r"Field details omitted and ([\d,]+) changes not listed \(at most ([\d,]+)", markdown
    )
    assert note is not None
    unlisted, cap = (int(n.replace(",", "")) for n in note.groups())
    assert unlisted == 2000 - 2 * cap
    assert markdown.count(f"_... and {1000 - cap:,} more not listed._") == 2
    _, blocks = split_code(markdown)
    assert [block.count("\n") + 1 for block in blocks] == [cap, cap]


@pytest.mark.parametrize("limit", [120, 300, 700, 1500, 4000, 9000, 30000])
def test_never_exceeds_any_limit(limit: int) -> None:
    for plan in [many_users_plan(300), mixed_plan(), hostile_plan()]:
        assert utf16_size(render_markdown(plan, max_chars=limit)) <= limit


def test_counts_only_when_no_entry_fits() -> None:
    markdown = render_markdown(many_users_plan(300), max_chars=700)
    assert "Details for all 300 changes omitted" in markdown
    assert "<details" not in markdown


def test_small_plan_is_not_folded() -> None:
    markdown = render_markdown(mixed_plan())
    assert "Note:" not in markdown
    assert "<details open><summary>Delete: 2</summary>" in markdown
    assert "+     memory_blocks[0].limit: 2000" in markdown


def test_size_counts_utf16_units() -> None:
    plan = mixed_plan()
    full = render_markdown(plan)
    assert utf16_size(full) > len(full), "the sample must hold characters outside the BMP"
    limit = utf16_size(full) - 1
    assert utf16_size(render_markdown(plan, max_chars=limit)) <= limit


def test_hostile_values_stay_inside_code() -> None:
    markdown = render_markdown(hostile_plan())
    outside, blocks = split_code(markdown)
    assert set(re.findall(r"(?<!\\)<[^>\n]*>", outside)) <= OUR_TAGS
    sections = ["Create", "Update", "Attach", "Drift", "Conflicts"]
    assert re.findall(r"<summary>(\w+)", outside) == sections
    assert outside.count("<details") == outside.count("</details>") == len(sections)
    assert "@" not in outside and "script" not in outside and "s3cret" not in markdown
    assert len(blocks) == len(sections)
    assert [HOSTILE_LINE in block for block in blocks] == [True, True, False, True, False]
    assert "x```</summary></details><details open> @acme/admins" in blocks[-1]
    assert "\x1b" not in markdown and "\u202e" not in markdown


def test_hostile_values_cannot_add_table_rows_or_columns() -> None:
    outside, _ = split_code(render_markdown(hostile_plan()))
    rows = [line for line in outside.splitlines() if line.startswith("|")]
    assert [row.split("|")[1].strip() for row in rows] == [
        "Pattern",
        "---",
        "dedicated",
        "identity",
        "stack",
        "**Total**",
    ]
    assert all(row.count("|") - row.count("\\|") == 8 for row in rows)


def table_counts(markdown: str) -> dict[str, list[int]]:
    """The summary table's rows: pattern label -> counts (create ... delete, total)."""
    rows = [line for line in markdown.splitlines() if re.match(r"\| [^-|]", line)]
    return {
        cells[0]: [int(c.replace(",", "")) for c in cells[1:]]
        for cells in ([c.strip() for c in row.strip("|").split("|")] for row in rows[1:])
    }


def test_summary_table_files_each_change_under_its_users_pattern() -> None:
    """A dedicated user's agent deleted and a shared block attached to it count as dedicated,
    a conversation deleted as shared, an identity moved to another agent (attached, detached)
    and one deleted as identity; only the stack's own shared agents and blocks count under
    "stack"."""
    assert table_counts(render_markdown(pattern_rows_plan())) == {
        #              create update attach detach delete total
        "dedicated": [0, 0, 1, 0, 1, 2],
        "shared": [0, 0, 0, 0, 1, 1],
        "identity": [0, 0, 1, 1, 1, 3],
        "stack": [2, 2, 0, 0, 0, 4],
        "**Total**": [2, 2, 2, 1, 3, 10],
    }


@pytest.mark.parametrize(
    "plan", [factory() for factory in SAMPLES.values()] + [hostile_plan(), pattern_rows_plan()]
)
def test_code_blocks_are_closed(plan: Plan) -> None:
    split_code(render_markdown(plan))


def test_one_huge_value_does_not_hide_the_other_fields(tmp_path: Path) -> None:
    """A knowledge block rewritten as one 90,000-character line next to a system prompt
    change: the comment still shows the prompt change, field details included."""
    case = Path(__file__).parents[1] / "plan" / "cases" / "02-converged-server-is-a-no-op"
    huge = "Acme Corp\n" + "x" * 90_000
    desired = (case / "desired.yaml").read_text()
    desired = desired.replace(
        'company: {value: "Acme Corp", policy: enforce}',
        f'company: {{value: "{huge}", policy: enforce, limit: 100000}}'.replace("\n", "\\n"),
    )
    desired = desired.replace("  support:\n", '  support:\n    system: "You answer in French."\n')
    (tmp_path / "desired.yaml").write_text(desired)
    shutil.copy(case / "live.json", tmp_path / "live.json")
    markdown = render_markdown(plan_case(tmp_path))
    assert "You answer in French." in markdown
    assert "omitted" not in markdown
    assert "more chars" in markdown
