"""Folders, files, archives and passages on the in-memory server: the edge cases of content
identity, ownership, failed processing, parallel uploads into one folder and the archive
listing's paging (the real server's behaviour is checked in tests/integration)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from reconciler.address import Address
from reconciler.errors import ApplyFailed
from reconciler.export.sources import read_sources
from reconciler.kinds import passage
from reconciler.plan.model import Create, Delete, Update
from tests.offline.stacks import Server, desired

BODY = """
prune: {{enabled: true, maxDeletePercent: 100}}
folders:
  docs: {{description: Docs, files: "docs/*.md"}}
archives:
  faq:
    passages: [Always be kind.]
    passagesFrom: [{{files: "docs/*.md", split: paragraphs}}]
agents:
  desk: {{folders: [docs], archives: [faq]}}
"""


def write_docs(tmp_path: Path, docs: dict[str, bytes]) -> None:
    folder = tmp_path / "stack" / "docs"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.md"):
        old.unlink()
    for name, content in docs.items():
        (folder / name).write_bytes(content)


def files_record(server: Server) -> dict[str, dict[str, str]]:
    [folder] = server.letta.sources["folders"].rows.values()
    files: dict[str, dict[str, str]] = folder["metadata"]["letta_apply"]["files"]
    return files


def changed(plan_changes: object) -> list[str]:
    return [f"{c.action.value} {c.address}" for c in plan_changes]  # type: ignore[attr-defined]


DOCS = {
    "a.md": b"# A\n\nFirst part.\n\nSecond part.\n",
    "b.md": b"# B\n\nOnly part.\n",
}


def test_unchanged_files_are_never_uploaded_again_and_a_changed_one_is_replaced(
    server: Server, tmp_path: Path
) -> None:
    write_docs(tmp_path, DOCS)
    wanted = desired(tmp_path, BODY.format())
    server.apply(wanted)
    assert not server.plan(wanted).has_changes
    record = files_record(server)
    assert set(record) == {"a.md", "b.md"} and all(e["sha256"] for e in record.values())
    assert "file-" not in str(record)  # the record names no server id

    write_docs(tmp_path, {**DOCS, "b.md": b"# B\n\nOnly part, now longer.\n"})
    wanted = desired(tmp_path, BODY.format())
    plan = server.plan(wanted)
    assert changed(plan.changes) == ["update file/docs/b.md", "update passage/faq/b.md#2"]
    [file_change] = [c for c in plan.changes if c.address.kind.value == "file"]
    assert isinstance(file_change, Update)
    assert {f.path for f in file_change.fields} == {"size", "content"}
    uploads = len([r for r in server.letta.writes() if r.path.endswith("/upload")])
    server.apply(wanted)
    assert len([r for r in server.letta.writes() if r.path.endswith("/upload")]) == uploads + 1
    assert not server.plan(wanted).has_changes


def test_what_others_put_in_the_stacks_folder_and_archive_is_never_touched(
    server: Server, tmp_path: Path
) -> None:
    write_docs(tmp_path, DOCS)
    wanted = desired(tmp_path, BODY.format())
    server.apply(wanted)
    [folder] = server.letta.sources["folders"].rows.values()
    [archive] = server.letta.sources["archives"].rows.values()
    server.letta.new(
        server.letta.sources["files"],
        {
            "source_id": folder["id"],
            "file_name": "hand.md",
            "file_size": 4,
            "bytes": b"hand",
            "processing_status": "completed",
            "error_message": None,
        },
    )
    server.letta.new(
        server.letta.sources["passages"],
        {"archive_id": archive["id"], "text": "learned", "metadata": {}, "tags": None},
    )
    write_docs(tmp_path, {"a.md": DOCS["a.md"]})
    plan = server.plan(desired(tmp_path, BODY.format()))
    assert sorted(changed(plan.changes)) == [
        "delete file/docs/b.md",
        "delete passage/faq/b.md#1",
        "delete passage/faq/b.md#2",
    ]
    server.apply(desired(tmp_path, BODY.format()))
    names = {f["file_name"] for f in server.letta.sources["files"].rows.values()}
    assert names == {"a.md", "hand.md"}
    texts = {p["text"] for p in server.letta.sources["passages"].rows.values()}
    assert "learned" in texts


def test_a_file_of_a_declared_name_the_stack_did_not_upload_blocks_it(
    server: Server, tmp_path: Path
) -> None:
    write_docs(tmp_path, DOCS)
    folder = server.letta.new(
        server.letta.sources["folders"],
        {
            "name": "docs",
            "metadata": {"letta_apply": {"stack": "acme", "address": "folder/docs"}},
            "description": "Docs",
            "instructions": None,
            "embedding_config": {},
            "agent_ids": [],
        },
    )
    server.letta.new(
        server.letta.sources["files"],
        {
            "source_id": folder["id"],
            "file_name": "a.md",
            "file_size": 4,
            "bytes": b"hand",
            "processing_status": "completed",
            "error_message": None,
        },
    )
    plan = server.plan(desired(tmp_path, BODY.format()))
    assert "create file/docs/a.md" not in changed(plan.changes)
    assert "create file/docs/b.md" in changed(plan.changes)
    assert [str(n.address) for n in plan.notices if n.kind.value == "blocked"] == ["file/docs/a.md"]


def test_a_file_the_server_cannot_process_fails_and_the_next_run_retries_it(
    server: Server, tmp_path: Path
) -> None:
    write_docs(tmp_path, {**DOCS, "bad.md": b"nul \x00 byte"})
    body = BODY.format().replace('passagesFrom: [{files: "docs/*.md", split: paragraphs}]', "")
    wanted = desired(tmp_path, body)
    with pytest.raises(ApplyFailed, match="could not process the file: invalid byte sequence"):
        server.apply(wanted)
    assert "bad.md" in files_record(server)  # the stack's, so it is retried, not blocked
    again = server.plan(wanted)
    [retry] = again.changes
    assert isinstance(retry, Update) and str(retry.address) == "file/docs/bad.md"
    assert retry.fields[0].path == "processing"
    write_docs(tmp_path, {**DOCS, "bad.md": b"fixed"})
    server.apply(desired(tmp_path, body))
    assert not server.plan(desired(tmp_path, body)).has_changes


def test_parallel_uploads_into_one_folder_are_all_recorded(server: Server, tmp_path: Path) -> None:
    write_docs(tmp_path, {f"f{n:02d}.md": f"file {n}".encode() for n in range(30)})
    body = 'folders:\n  docs: {files: "docs/*.md"}\n'
    wanted = desired(tmp_path, body)
    server.apply(wanted)
    assert len(files_record(server)) == 30
    patches = [r for r in server.letta.writes() if r.method == "PATCH"]
    assert len(patches) <= 30  # uploads finishing together share one write of the record
    assert not server.plan(wanted).has_changes


def test_an_archive_is_read_past_the_searchs_page_of_a_hundred(
    server: Server, tmp_path: Path
) -> None:
    texts = "\n".join(f"      - Passage number {n}." for n in range(230))
    wanted = desired(tmp_path, f"archives:\n  faq:\n    passages:\n{texts}\n")
    server.apply(wanted)
    plan = server.plan(wanted)
    assert not plan.has_changes
    [archive] = server.letta.sources["archives"].rows.values()
    assert len(list(passage.listed(server.api, archive["id"]))) == 230


def test_a_passage_removed_from_the_manifest_is_deleted_and_a_new_one_created(
    server: Server, tmp_path: Path
) -> None:
    prune = "prune: {enabled: true, maxDeletePercent: 100}\n"
    server.apply(desired(tmp_path, prune + "archives:\n  faq: {passages: [One., Two.]}\n"))
    kept = desired(tmp_path, "archives:\n  faq: {passages: [One., Three.]}\n")
    undeclared = server.plan(kept)
    assert [str(n.address) for n in undeclared.notices] == ["passage/faq/" + _key("Two.")]
    plan = server.plan(desired(tmp_path, prune + "archives:\n  faq: {passages: [One., Three.]}\n"))
    kinds = sorted(type(c).__name__ for c in plan.changes)
    assert kinds == [Create.__name__, Delete.__name__]
    assert all(c.address.owner == Address.archive("faq") for c in plan.changes)


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def test_an_export_reads_what_the_stack_made_of_its_folder_and_archive(
    server: Server, tmp_path: Path
) -> None:
    """With the stack, its folder's files and its archive's passages, not what others put
    there; without it, the stack's are named as another stack's, not exported."""
    write_docs(tmp_path, DOCS)
    server.apply(desired(tmp_path, BODY.format()))
    [folder] = server.letta.sources["folders"].rows.values()
    [archive] = server.letta.sources["archives"].rows.values()
    hand = {"source_id": folder["id"], "file_name": "hand.md", "bytes": b"hand"}
    server.letta.new(server.letta.sources["files"], {**hand, "processing_status": "completed"})
    learned = {"archive_id": archive["id"], "text": "learned", "metadata": {}, "tags": None}
    server.letta.new(server.letta.sources["passages"], learned)
    agent_ids = [a["id"] for a in server.letta.agents.rows.values()]

    mine = read_sources(server.api, "acme", agent_ids, every=False, parallelism=2, page_size=50)
    found = dict(mine.found)
    [docs] = found["folders"]
    assert {f.name: f.text for f in docs.files} == {k: v.decode() for k, v in DOCS.items()}
    assert docs.agent_ids == tuple(agent_ids)
    [faq] = found["archives"]
    assert "learned" not in {p.text for p in faq.passages}
    assert "Always be kind." in {p.text for p in faq.passages}
    assert mine.others == ()

    theirs = read_sources(server.api, None, agent_ids, every=False, parallelism=2, page_size=50)
    assert dict(theirs.found) == {"folders": (), "archives": ()}
    assert sorted(theirs.others) == [("docs", "acme"), ("faq", "acme")]
