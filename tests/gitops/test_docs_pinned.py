"""The workflows the docs show pin what they run: every action by a full commit, and
letta-apply itself by commit, as docs/gitops.md asks of its readers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
USES = re.compile(r"uses:\s*(?P<action>[\w.-]+/[\w./-]+)@(?P<ref>\S+)")
PIP_GIT = re.compile(r"pip install [^\n]*git\+https://\S+")
COMMIT = re.compile(r"[0-9a-f]{40}")
PLACEHOLDER = "<commit"


@pytest.mark.parametrize("doc", DOCS, ids=[doc.name for doc in DOCS])
def test_actions_are_pinned_to_commits(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    loose = [
        found.group(0)
        for found in USES.finditer(text)
        if not (COMMIT.fullmatch(found["ref"]) or found["ref"].startswith(PLACEHOLDER))
    ]
    assert loose == [], doc.name


@pytest.mark.parametrize("doc", DOCS, ids=[doc.name for doc in DOCS])
def test_letta_apply_is_installed_at_a_commit(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    loose = [line for line in PIP_GIT.findall(text) if f"@{PLACEHOLDER}" not in line]
    assert loose == [], doc.name


def test_the_recipes_are_checked_at_all() -> None:
    text = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    assert len(USES.findall(text)) >= 5
    assert len(PIP_GIT.findall(text)) >= 2
