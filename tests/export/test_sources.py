"""Exporting folders and archives: files written below the export folder under their names
on the server and read back with the same content, passages inline, agents listing what is
attached to them; what cannot be written back (names no path below the folder can carry,
files the server converted) left out with a note, and nothing ever written outside."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from reconciler.address import Address
from reconciler.errors import LettaApplyError
from reconciler.export import Snapshot, UsersFile, infer, write_stack
from reconciler.export.sources import Sources
from reconciler.kinds.archive import ExportedArchive
from reconciler.kinds.folder import ExportedFile, ExportedFolder
from reconciler.kinds.passage import ExportedPassage
from reconciler.manifest import load_desired

from .fleets import block, server_agent

MD = "text/markdown"


def text_file(name: str, text: str, file_type: str = MD) -> ExportedFile:
    return ExportedFile(name, file_type, "completed", text)


def snapshot(*folders: ExportedFolder, archives: tuple[ExportedArchive, ...] = ()) -> Snapshot:
    support = server_agent("agent-s", "support", [block("b1", "persona", "I help.")])
    return Snapshot(
        (support,), (), (), sources=Sources((("folders", folders), ("archives", archives)))
    )


def docs(*files: ExportedFile, name: str = "acme-docs") -> ExportedFolder:
    return ExportedFolder(name, "Docs", "Answer from these.", "ollama/m", ("agent-s",), files)


def test_files_and_passages_are_written_back_and_read_as_declared(tmp_path: Path) -> None:
    files = (
        text_file("billing.md", "# Billing\n\nInvoices monthly.\n"),
        text_file("setup/sso.md", "SSO with ${user.id} left as it is\n"),
        text_file("data.json", '{"a": 1}', "application/json"),
    )
    faq = ExportedArchive(
        "acme-faq",
        "Answers ${literal}",
        "ollama/m",
        ("agent-s",),
        (ExportedPassage("  Refunds within 30 days.\n", ()), ExportedPassage("Tagged", ("a", "b"))),
    )
    exported = infer(snapshot(docs(*files), archives=(faq,)), "acme")
    write_stack(tmp_path, exported, UsersFile.AUTO)
    desired = load_desired([tmp_path], tmp_path)
    [folder] = desired.folders
    assert folder.description == "Docs" and folder.instructions == "Answer from these."
    assert {f.name: f.content.decode() for f in folder.files} == {f.name: f.text for f in files}
    for spec in folder.files:
        assert spec.digest == hashlib.sha256(spec.content).hexdigest()
    [archive] = desired.archives
    assert archive.description == "Answers ${literal}"
    assert {(p.text, p.tags) for p in archive.passages} == {
        ("  Refunds within 30 days.\n", ()),
        ("Tagged", ("a", "b")),
    }
    [agent] = desired.agents
    assert agent.attached == (Address.archive("acme-faq"), Address.folder("acme-docs"))
    assert (tmp_path / "folders" / "acme-docs" / "setup" / "sso.md").is_file()


@pytest.mark.parametrize(
    "name",
    [
        "../escape.md",
        "/etc/passwd",
        "a/../../b.md",
        ".hidden.md",
        "dir/.env",
        "two  spaces.md",
        "tab\tname.md",
        " leading.md",
    ],
)
def test_a_name_no_path_below_the_folder_carries_is_left_out(tmp_path: Path, name: str) -> None:
    out = tmp_path / "out"
    exported = infer(snapshot(docs(text_file(name, "x"), text_file("ok.md", "fine"))), "acme")
    assert any(repr(name) in note and "left out" in note for note in exported.notes)
    write_stack(out, exported, UsersFile.AUTO)
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert written == [
        "out",
        "out/folders",
        "out/folders/acme-docs",
        "out/folders/acme-docs/ok.md",
        "out/stack.yaml",
    ]


def test_files_the_server_converted_or_holds_no_text_of_are_left_out() -> None:
    pdf = text_file("manual.pdf", "extracted text", "application/pdf")
    failed = ExportedFile("broken.md", MD, "error", None)
    exported = infer(snapshot(docs(pdf, failed)), "acme")
    notes = " ".join(exported.notes)
    assert "'manual.pdf' left out" in notes and "'broken.md' left out" in notes
    assert exported.files == {}
    assert "files" not in exported.document["folders"]["acme-docs"]


def test_a_folder_or_archive_of_another_stack_is_named_not_exported() -> None:
    sources = Sources(others=(("their-docs", "billing-stack"),))
    support = server_agent("agent-s", "support", [block("b1", "persona", "I help.")])
    exported = infer(Snapshot((support,), (), (), sources=sources), "acme")
    assert "folders" not in exported.document
    assert any("'their-docs' belongs to stack 'billing-stack'" in n for n in exported.notes)


def test_a_name_written_twice_in_an_archive_is_written_once() -> None:
    twice = ExportedArchive("faq", None, None, (), (ExportedPassage("Same", ()),) * 2)
    exported = infer(snapshot(archives=(twice,)), "acme")
    assert exported.document["archives"]["faq"]["passages"] == ["Same"]
    assert any("written twice" in note for note in exported.notes)


def test_an_export_with_only_a_folder_is_not_empty() -> None:
    sources = Sources((("folders", (docs(text_file("a.md", "a")),)),))
    exported = infer(Snapshot((), (), (), sources=sources), "s")
    assert not exported.empty


def test_files_of_an_earlier_export_in_a_folders_directory_are_refused(tmp_path: Path) -> None:
    stale = tmp_path / "folders" / "acme-docs" / "old.md"
    stale.parent.mkdir(parents=True)
    stale.write_text("from before")
    exported = infer(snapshot(docs(text_file("a.md", "a"))), "acme")
    with pytest.raises(LettaApplyError, match=r"old\.md"):
        write_stack(tmp_path, exported, UsersFile.AUTO, force=True)
    assert not (tmp_path / "stack.yaml").exists()


def test_a_link_for_a_folders_directory_is_never_written_through(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    (out / "folders").mkdir(parents=True)
    (out / "folders" / "acme-docs").symlink_to(outside)
    exported = infer(snapshot(docs(text_file("a.md", "a"))), "acme")
    with pytest.raises(LettaApplyError, match="link"):
        write_stack(out, exported, UsersFile.AUTO, force=True)
    assert list(outside.iterdir()) == []


def test_a_name_with_single_spaces_is_written_back(tmp_path: Path) -> None:
    out = tmp_path / "out"
    exported = infer(snapshot(docs(text_file("Getting started.md", "x"))), "acme")
    assert not [note for note in exported.notes if "Getting started.md" in note]
    write_stack(out, exported, UsersFile.AUTO)
    assert (out / "folders" / "acme-docs" / "Getting started.md").read_text() == "x"
