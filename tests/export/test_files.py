"""Writing an export: hostile server values survive YAML exactly, writes stay in the output
folder, and a folder with files in it is not overwritten unless forced."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reconciler.errors import LettaApplyError
from reconciler.export import Snapshot, UsersFile, infer, write_stack
from reconciler.export.files import dump_yaml
from reconciler.export.fleet import ExportedStack
from reconciler.export.snapshot import ServerTool
from reconciler.manifest import load_desired

from .fleets import block, dedicated, server_agent, server_identity

HOSTILE = [
    "yes",
    "null",
    "1.0",
    "- item",
    "key: value",
    "#comment",
    "&anchor *alias",
    "!!python/object:os.system",
    "line\nbreak  \n trailing spaces \n",
    "\x1b[31mred\x1b[0m",
    "'quotes' and \"quotes\"",
    "${user.id} literal",
    "tab\there",
    "",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_any_server_text_reads_back_exactly(value: str) -> None:
    document = {"value": value, value or "empty": [value]}
    assert yaml.safe_load(dump_yaml(document)) == document


@pytest.mark.parametrize("value", ["tag\u202eexe.txt", "a\u2066b", "c1\x85d", "ln\u2028x"])
def test_text_that_reorders_what_a_reviewer_sees_is_written_escaped(value: str) -> None:
    document = {"tags": [value], "name": "Zoë"}
    text = dump_yaml(document)
    assert yaml.safe_load(text) == document
    assert value not in text and text.isascii()


def test_hostile_values_on_the_server_load_as_they_were(tmp_path: Path) -> None:
    values = [v for v in HOSTILE if "\x1b" not in v]
    support = server_agent(
        "agent-s",
        "support",
        [block(f"b{n}", f"label{n}", v) for n, v in enumerate(values)],
        ["${user.id}", "yes"],
        description="${user.name} desk",
    )
    write_stack(tmp_path, infer(Snapshot((support,), (), ()), "acme"), UsersFile.AUTO)
    [spec] = load_desired([tmp_path], tmp_path).agents
    assert {b.label: b.value for b in spec.blocks} == {f"label{n}": v for n, v in enumerate(values)}
    assert spec.tags == ("${user.id}", "yes")
    assert spec.settings["description"] == "${user.name} desk"


def test_a_folder_with_files_is_refused_unless_forced(tmp_path: Path) -> None:
    exported = infer(Snapshot((dedicated("a", "assistant-a", "x"),), (), ()), "acme")
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(LettaApplyError, match="not empty"):
        write_stack(tmp_path, exported, UsersFile.AUTO)
    assert not (tmp_path / "stack.yaml").exists()
    write_stack(tmp_path, exported, UsersFile.AUTO, force=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert load_desired([tmp_path], tmp_path).stack == "acme"


def test_a_symlink_in_the_folder_is_replaced_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("keep me")
    out = tmp_path / "out"
    out.mkdir()
    (out / "stack.yaml").symlink_to(outside)
    exported = infer(Snapshot((dedicated("a", "assistant-a", "x"),), (), ()), "acme")
    write_stack(out, exported, UsersFile.AUTO, force=True)
    assert outside.read_text() == "keep me"
    assert not (out / "stack.yaml").is_symlink()
    assert sorted(p.name for p in out.iterdir()) == ["stack.yaml"]


def tool_export() -> ExportedStack:
    refs = [{"id": "tool-1", "name": "sitecustomize", "tool_type": "custom"}]
    desk = server_agent("agent-s", "support", [], tools=refs)
    source = "def sitecustomize() -> None:\n    return None\n"
    snapshot = Snapshot((desk,), (), (), tools=(ServerTool("sitecustomize", source),))
    return infer(snapshot, "acme")


def test_a_linked_folder_in_the_output_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "tools").symlink_to(outside)
    with pytest.raises(LettaApplyError, match="tools is a link or not a folder"):
        write_stack(out, tool_export(), UsersFile.AUTO, force=True)
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in out.iterdir()) == ["tools"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "outside"]  # no staging left


def test_an_export_that_is_no_valid_stack_writes_nothing(tmp_path: Path) -> None:
    """A name the server holds that no manifest can (here `${`): refused before any file."""
    odd = server_agent("agent-1", "desk ${user.id} x", [block("b1", "persona", "hi")])
    out = tmp_path / "out"
    with pytest.raises(LettaApplyError) as caught:
        write_stack(out, infer(Snapshot((odd,), (), ()), "acme"), UsersFile.AUTO)
    assert str(caught.value).startswith("the export would not be a valid stack; nothing written")
    assert f"{out.as_posix()}/stack.yaml:" in str(caught.value)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "carol\u202e"])
def test_users_a_spreadsheet_would_run_as_formulas_go_to_json_lines(
    tmp_path: Path, start: str
) -> None:
    """So do names holding a bidi control, which JSON Lines writes as an escape."""
    evil = server_identity("identity-1", "carol", f'{start}HYPERLINK("http://x")')
    support = server_agent("agent-s", "support", [], identities=[{"id": "identity-1"}])
    written = write_stack(
        tmp_path, infer(Snapshot((support,), (), (evil,)), "acme"), UsersFile.ALWAYS
    )
    assert sorted(p.name for p in written) == ["stack.yaml", "users.jsonl"]
    assert (tmp_path / "users.jsonl").read_text().isascii()
    [identity] = load_desired([tmp_path], tmp_path).identities
    assert identity.name == f'{start}HYPERLINK("http://x")'
