"""What a stack's manifests declare before its users files are read (`Opened.outline`): the
stack's name, every secret its definitions declare, and whether its agents' tools are
managed, or None when only the users tell."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import ManifestError
from reconciler.manifest import open_stack

HEAD = (
    "apiVersion: letta-apply/v1\nstack: demo\n"
    "defaults: {model: letta/letta-free, embedding: letta/letta-free}\n"
)
SECRET = "    secrets: {TOKEN: {valueFromEnv: SHOP_TOKEN}}\n"


def opened(tmp_path: Path, body: str, users: str = "id,pattern\n") -> Path:
    (tmp_path / "stack.yaml").write_text(HEAD + body + "usersFrom: users.csv\n")
    (tmp_path / "users.csv").write_text(users)
    return tmp_path


@pytest.mark.parametrize(
    ("body", "tools"),
    [
        ("agents:\n  desk: {}\ntemplates:\n  assistant: {}\n", False),
        ("agents:\n  desk: {tools: [web_search]}\n", True),
        ("agents:\n  desk: {toolPolicy: exact}\n", True),
        ("templates:\n  assistant: {tools: [web_search]}\n", None),
        (
            "templates:\n  assistant:\n    tools: [web_search]\n"
            "    toolRules: [{tool: web_search, type: terminal}]\n",
            None,
        ),
    ],
)
def test_whether_the_agents_tools_are_managed(
    tmp_path: Path, body: str, tools: bool | None
) -> None:
    outline = open_stack([opened(tmp_path, body)]).outline
    assert outline is not None and outline.stack == "demo"
    assert outline.agent_tools is tools


def test_every_secret_declared_is_in_it_used_or_not(tmp_path: Path) -> None:
    body = "templates:\n  assistant:\n" + SECRET + "agents:\n  desk:\n" + SECRET
    outline = open_stack([opened(tmp_path, body)]).outline
    assert outline is not None
    assert [(s.name, s.env, s.loc.line) for s in outline.secrets] == [
        ("TOKEN", "SHOP_TOKEN", 6),
        ("TOKEN", "SHOP_TOKEN", 9),
    ]


def test_there_is_none_when_the_manifests_have_problems(tmp_path: Path) -> None:
    folder = opened(tmp_path, "agents:\n  desk: {}\n")
    (folder / "more.yaml").write_text(HEAD + "templates:\n  assistant: {nmae: x}\n")
    assert open_stack([folder]).outline is None


def test_there_is_none_when_a_users_file_cannot_be_read(tmp_path: Path) -> None:
    folder = opened(tmp_path, "agents:\n  desk: {}\n")
    (folder / "users.csv").write_bytes(b"id,pattern\n\xff\n")
    assert open_stack([folder]).outline is None


def test_a_wrong_row_is_found_only_when_the_users_are_loaded(tmp_path: Path) -> None:
    folder = opened(tmp_path, "agents:\n  desk: {}\n", "id,pattern\nbad/id,shared\n")
    stack = open_stack([folder])
    assert stack.outline is not None
    with pytest.raises(ManifestError) as caught:
        stack.declared()
    assert str(caught.value.problems[0]).startswith(f"{folder / 'users.csv'}:2:1: ")


def test_an_opened_stack_keeps_only_its_manifests_users(tmp_path: Path) -> None:
    """The users files' users are checked into a copy: an opened stack held while its plan
    runs does not hold them all, and declaring it again reports no user twice."""
    body = "templates:\n  assistant: {}\nusers:\n  - {id: carol, pattern: dedicated}\n"
    rows = "id,pattern\nalice,dedicated\nbob,dedicated\n"
    stack = open_stack([opened(tmp_path, body, rows)])
    first, again = stack.declared(), stack.declared()
    assert [u.id for u in first.users] == [u.id for u in again.users] == ["carol", "alice", "bob"]
    assert [u.id for u in stack.users.listed] == ["carol"]
