"""Editing where users are declared: inline `users:` entries, CSV records and JSON Lines,
removed or moved to a shared agent, every other byte kept; forms that cannot be edited
safely are refused with the reason. Each edited stack is loaded again: it must stay valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.address import Address
from reconciler.desired import DesiredState
from reconciler.errors import LettaApplyError
from reconciler.manifest import load_declared, load_desired
from reconciler.manifest.edits import Edits, Move, Remove, Request, edit_users, write
from reconciler.manifest.edits.base import Span, apply_spans

HEAD = """\
apiVersion: letta-apply/v1
stack: demo   # the stack
defaults: {model: letta/letta-free, embedding: letta/letta-free}
templates:
  assistant:
    blocks:
      human: {value: "User ${user.id}"}
agents:
  desk: {}
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def stack(files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        data = content.encode() if isinstance(content, str) else content
        Path(name).write_bytes(data)


def edit(removed: tuple[str, ...] = (), moved: tuple[str, ...] = ()) -> Edits:
    """Edit the stack in the current folder: remove `removed`, move `moved` to `desk`."""
    declared = load_declared([Path(".")])
    users = {user.id: user for user in declared.users}
    requests: list[Request] = [Remove(users[u]) for u in removed]
    requests += [Move(users[u], "desk") for u in moved]
    return edit_users(requests, declared.root)


def written(edits: Edits) -> DesiredState:
    """Write the edit, then load the stack again (it must be valid)."""
    write(edits, load_declared([Path(".")]).root)
    return load_desired([Path(".")])


def dedicated(desired: DesiredState) -> set[str]:
    return {spec.user_id for spec in desired.agents if spec.user_id}


def conversations(desired: DesiredState) -> set[str]:
    return {spec.user_id for spec in desired.conversations}


INLINE = (
    HEAD
    + """\
users:
  # premium users
  - {id: alice, name: Alice, pattern: dedicated, template: assistant, tags: [pro]}  # VIP
  - id: bob
    pattern: dedicated   # was a trial
    # bob's agent keeps its tags
    tags:
      - beta
    properties: {plan: pro}

  # shared ones
  - {id: carol, pattern: shared, agent: desk}
  - id: dave
    pattern: dedicated
    name: |
      Dave
      Jones

  - id: erin
    pattern: dedicated
    template: assistant
# the end
"""
)


def test_inline_users_are_removed_line_by_line_and_everything_else_kept() -> None:
    stack({"stack.yaml": INLINE})
    edits = edit(removed=("alice", "carol", "dave"))
    assert edits.edited == ("alice", "carol", "dave") and edits.not_edited == ()
    [file] = edits.files
    assert file.after.decode() == INLINE.replace(
        "  - {id: alice, name: Alice, pattern: dedicated, template: assistant, tags: [pro]}"
        "  # VIP\n",
        "",
    ).replace("  - {id: carol, pattern: shared, agent: desk}\n", "").replace(
        "  - id: dave\n    pattern: dedicated\n    name: |\n      Dave\n      Jones\n", ""
    )
    desired = written(edits)
    assert dedicated(desired) == {"bob", "erin"} and conversations(desired) == set()


def test_the_diff_names_the_file_as_the_manifests_do() -> None:
    stack({"stack.yaml": INLINE})
    diff = edit(removed=("carol",)).diff()
    assert diff.startswith("--- a/stack.yaml\n+++ b/stack.yaml\n@@ ")
    assert "\n-  - {id: carol, pattern: shared, agent: desk}\n" in diff
    assert sum(line.startswith(("-", "+")) for line in diff.splitlines()) == 3


def test_a_list_left_without_users_becomes_an_empty_list() -> None:
    stack({"stack.yaml": HEAD + "users:   # everyone\n  - id: solo\n    pattern: dedicated\n"})
    edits = edit(removed=("solo",))
    assert edits.files[0].after.decode() == HEAD + "users: []   # everyone\n"
    assert dedicated(written(edits)) == set()


def test_dedicated_users_move_to_the_shared_agent_in_place() -> None:
    stack({"stack.yaml": INLINE})
    edits = edit(moved=("alice", "bob", "dave", "erin"))
    text = edits.files[0].after.decode()
    assert "  - {id: alice, name: Alice, pattern: shared, agent: desk}  # VIP\n" in text
    assert (
        "  - id: bob\n    pattern: shared   # was a trial\n    agent: desk\n"
        "    # bob's agent keeps its tags\n    properties: {plan: pro}\n"
    ) in text
    assert "  - id: dave\n    pattern: shared\n    agent: desk\n    name: |\n" in text
    assert "  - id: erin\n    pattern: shared\n    agent: desk\n# the end\n" in text
    desired = written(edits)
    assert dedicated(desired) == set()
    assert conversations(desired) == {"alice", "bob", "carol", "dave", "erin"}


def test_a_flow_entry_without_template_gains_the_agent_after_its_pattern() -> None:
    stack({"stack.yaml": HEAD + "users:\n  - {tags: [x], id: ann, pattern: dedicated, name: A}\n"})
    edits = edit(moved=("ann",))
    assert (
        edits.files[0]
        .after.decode()
        .endswith("users:\n  - {id: ann, pattern: shared, agent: desk, name: A}\n")
    )
    assert conversations(written(edits)) == {"ann"}


def test_an_agent_name_yaml_would_read_as_another_type_is_quoted() -> None:
    stack({"stack.yaml": HEAD + "  'yes': {}\nusers:\n  - {id: ann, pattern: dedicated}\n"})
    declared = load_declared([Path(".")])
    edits = edit_users([Move(declared.users[0], "yes")], declared.root)
    assert '{id: ann, pattern: shared, agent: "yes"}' in edits.files[0].after.decode()
    desired = written(edits)
    [spec] = desired.conversations
    assert spec.address == Address.conversation(Address.agent("yes"), "ann")


CSV = (
    b"\xef\xbb\xbfid,name,pattern,template,agent,tags,properties.plan\r\n"
    b"frank,Frank,dedicated,assistant,,a;b,pro\r\n"
    b'gina,"Gina\nGee",shared,,desk,,\r\n'
    b'hal,"Hal, Jr.",dedicated,,,,\r\n'
    b"ivy,Ivy,shared,,desk,,free"
)


def test_csv_records_are_removed_whole_keeping_line_endings_and_byte_order_mark() -> None:
    stack({"stack.yaml": HEAD + "usersFrom: users.csv\n", "users.csv": CSV})
    edits = edit(removed=("gina", "ivy"))
    assert edits.files[0].after == CSV.replace(b'gina,"Gina\nGee",shared,,desk,,\r\n', b"").replace(
        b"ivy,Ivy,shared,,desk,,free", b""
    )
    desired = written(edits)
    assert dedicated(desired) == {"frank", "hal"} and conversations(desired) == set()


def test_a_moved_csv_record_is_rewritten_and_the_others_kept() -> None:
    stack({"stack.yaml": HEAD + "usersFrom: users.csv\n", "users.csv": CSV})
    edits = edit(moved=("frank", "hal"))
    assert edits.files[0].after == CSV.replace(
        b"frank,Frank,dedicated,assistant,,a;b,pro\r\n", b"frank,Frank,shared,,desk,,pro\r\n"
    ).replace(b'hal,"Hal, Jr.",dedicated,,,,\r\n', b'hal,"Hal, Jr.",shared,,desk,,\r\n')
    desired = written(edits)
    assert conversations(desired) == {"frank", "gina", "hal", "ivy"}


def test_a_csv_file_without_an_agent_column_is_not_edited_for_a_move() -> None:
    rows = "id,pattern\njo,dedicated\nkim,dedicated\n"
    stack({"stack.yaml": HEAD + "usersFrom: users.csv\n", "users.csv": rows})
    edits = edit(removed=("kim",), moved=("jo",))
    assert edits.edited == ("kim",)
    [refused] = edits.not_edited
    assert (refused.user, str(refused.where)) == ("jo", "users.csv:2:1")
    assert "no 'agent' column" in refused.reason
    assert edits.files[0].after.decode() == "id,pattern\njo,dedicated\n"


def test_json_lines_are_removed_or_rewritten() -> None:
    lines = (
        '{"id": "lu", "pattern": "dedicated", "tags": ["x"], "properties": {"n": 1}}\n'
        '{"id": "mo", "pattern": "shared", "agent": "desk"}\n'
        '{"id": "ned", "pattern": "dedicated"}\n'
    )
    stack({"stack.yaml": HEAD + "usersFrom: users.jsonl\n", "users.jsonl": lines})
    edits = edit(removed=("mo",), moved=("lu",))
    assert edits.files[0].after.decode() == (
        '{"id": "lu", "pattern": "shared", "agent": "desk", "properties": {"n": 1}}\n'
        '{"id": "ned", "pattern": "dedicated"}\n'
    )
    desired = written(edits)
    assert dedicated(desired) == {"ned"} and conversations(desired) == {"lu"}


def test_users_in_several_files_are_edited_file_by_file() -> None:
    stack(
        {
            "a.yaml": HEAD + "usersFrom: users.csv\n",
            "b.yaml": "apiVersion: letta-apply/v1\nstack: demo\nusers:\n"
            "  - {id: pat, pattern: dedicated}\n  - {id: quinn, pattern: dedicated}\n",
            "users.csv": "id,pattern,agent\nray,shared,desk\n",
        }
    )
    edits = edit(removed=("pat", "ray"))
    assert [f.path for f in edits.files] == [Path("b.yaml"), Path("users.csv")]
    assert dedicated(written(edits)) == {"quinn"}


ANCHORS = (
    HEAD
    + """\
users:
  - &shared {id: s1, pattern: shared, agent: desk}
  - {<<: *shared, id: s2}
  - {id: d1, pattern: dedicated, properties: &props {plan: pro}}
  - {id: d2, pattern: dedicated, properties: *props}
  - {id: d3, pattern: dedicated}
"""
)


def test_entries_built_with_anchors_aliases_or_merge_keys_are_left_with_the_reason() -> None:
    stack({"stack.yaml": ANCHORS})
    edits = edit(removed=("s1", "s2", "d1", "d2", "d3"))
    assert edits.edited == ("d3",)
    assert {(n.user, str(n.where)) for n in edits.not_edited} == {
        ("s1", "stack.yaml:11:18"),
        ("s2", "stack.yaml:12:23"),
        ("d1", "stack.yaml:13:10"),
        ("d2", "stack.yaml:14:10"),
    }
    assert {n.reason for n in edits.not_edited} == {
        "it is built with YAML anchors, aliases or merge keys (&, *, <<)"
    }
    assert edits.files[0].after.decode() == ANCHORS.replace(
        "  - {id: d3, pattern: dedicated}\n", ""
    )


@pytest.mark.parametrize(
    ("users", "reason"),
    [
        (
            "users: [{id: u1, pattern: dedicated}, {id: u2, pattern: dedicated}]\n",
            "it is in a flow-style list ([...]); edit that list by hand",
        ),
        (
            "users:\n  -\n    id: u1\n    pattern: dedicated\n  - {id: u2, pattern: dedicated}\n",
            "its first line holds more than the list's '- ' and the entry",
        ),
    ],
)
def test_forms_a_line_edit_could_break_are_refused(users: str, reason: str) -> None:
    stack({"stack.yaml": HEAD + users})
    edits = edit(removed=("u1",))
    assert edits.files == () and edits.edited == ()
    assert [(n.user, n.reason) for n in edits.not_edited] == [("u1", reason)]


def test_tags_sharing_the_entry_line_refuse_a_move_but_not_a_removal() -> None:
    stack({"stack.yaml": HEAD + "users:\n  - tags: [x]\n    id: u1\n    pattern: dedicated\n"})
    moved = edit(moved=("u1",))
    assert moved.files == ()
    assert moved.not_edited[0].reason == (
        "its 'tags' shares a line with the list's '- '; edit it by hand"
    )
    assert dedicated(written(edit(removed=("u1",)))) == set()


def test_writing_refuses_a_file_changed_since_the_edit_was_made() -> None:
    stack({"stack.yaml": INLINE})
    edits = edit(removed=("alice",))
    Path("stack.yaml").write_text(INLINE + "# changed meanwhile\n")
    with pytest.raises(LettaApplyError, match=r"stack\.yaml changed while it was being edited"):
        write(edits, load_declared([Path(".")]).root)
    assert Path("stack.yaml").read_text() == INLINE + "# changed meanwhile\n"


def test_spans_apply_in_order_and_never_overlap() -> None:
    spans = [Span(3, 8, ""), Span(3, 3, ", agent: desk"), Span(0, 3, "one")]
    assert apply_spans("abc xyzw!", spans) == "one, agent: desk!"
    with pytest.raises(ValueError, match="overlapping edits"):
        apply_spans("abcdef", [Span(0, 3, ""), Span(2, 4, "x")])
