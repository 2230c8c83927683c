"""Writing an export: hostile server values survive YAML exactly, writes stay in the output
folder, and a folder with files in it is not overwritten unless forced."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reconciler.errors import LettaApplyError
from reconciler.export import Snapshot, UsersFile, infer, write_stack
from reconciler.export.files import dump_yaml
from reconciler.manifest import load_desired

from .fleets import block, dedicated, server_agent

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
