"""Folders, files, archives and passages on the in-memory server: the edge cases of content
identity, ownership, failed processing, parallel uploads into one folder and the archive
listing's paging (the real server's behaviour is checked in tests/integration)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from reconciler.address import Address
from reconciler.apply.executor import carry_out
from reconciler.apply.results import ApplyResult
from reconciler.errors import ApplyFailed, NotConverged
from reconciler.export.sources import read_sources
from reconciler.kinds import passage
from reconciler.plan.model import Adopt, Create, Delete, Update
from reconciler.workflow import ApplyOptions, Hooks, plan_and_apply
from tests.letta_memory.server import Request
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


def test_uploads_are_sent_while_earlier_ones_are_still_processing(
    server: Server, tmp_path: Path
) -> None:
    """An upload holds its place among the requests in flight (4 here) only while it is sent:
    every upload reaches the server before it has processed any file, and each change still
    ends only once its file is processed. Their entries are written into the folder's record
    together, not once per upload."""
    count = 12
    write_docs(tmp_path, {f"f{n:02d}.md": f"file {n}".encode() for n in range(count)})
    wanted = desired(tmp_path, 'folders:\n  docs: {files: "docs/*.md"}\n')
    letta = server.letta
    letta.processing_held = True
    uploads_when_processed: list[int] = []

    def after(request: Request) -> None:
        uploads = sum(1 for r in letta.requests if r.path.endswith("/upload"))
        polls = sum(1 for r in letta.requests if r.method == "GET" and r.path.endswith("/files"))
        # Without a bound on the wait, every upload arrives; with one, the polls pile up.
        if (uploads == count or polls >= 20) and letta.process_files():
            uploads_when_processed.append(uploads)

    letta.after = after
    ended_while_processing: list[str] = []

    def progress(_done: int, _total: int, result: ApplyResult) -> None:
        name = result.change.address.name
        files = letta.sources["files"].rows.values()
        if any(f["file_name"] == name and f["processing_status"] == "parsing" for f in files):
            ended_while_processing.append(name)

    options = ApplyOptions(parallelism=4)
    results = plan_and_apply(server.api, wanted, options, Hooks(progress=progress))
    assert uploads_when_processed == [count]
    assert len(results) == count + 1 and all(r.ok for r in results)
    assert ended_while_processing == []
    assert len(files_record(server)) == count
    records = [r for r in letta.writes() if r.method == "PATCH"]
    assert 1 <= len(records) <= 3  # the entries of uploads pending together, written at once
    assert not server.plan(wanted).has_changes


def test_an_archive_is_read_past_the_searchs_page_of_a_hundred(
    server: Server, tmp_path: Path
) -> None:
    wanted = desired(tmp_path, passages_body(230))
    server.apply(wanted)
    plan = server.plan(wanted)
    assert not plan.has_changes
    [archive] = server.letta.sources["archives"].rows.values()
    assert len(list(passage.listed(server.api, archive["id"]))) == 230


FOLDER_ONLY = 'folders:\n  docs: {files: "docs/*.md"}\n'


def test_a_file_adopted_outside_an_apply_is_recorded_in_its_folder(
    server: Server, tmp_path: Path
) -> None:
    write_docs(tmp_path, {"a.md": DOCS["a.md"]})
    server.apply(desired(tmp_path, FOLDER_ONLY))
    [folder] = server.letta.sources["folders"].rows.values()
    by_hand = server.letta.new(
        server.letta.sources["files"],
        {
            "source_id": folder["id"],
            "file_name": "b.md",
            "file_size": len(DOCS["b.md"]),
            "bytes": DOCS["b.md"],
            "processing_status": "completed",
            "error_message": None,
        },
    )
    write_docs(tmp_path, DOCS)
    wanted = desired(tmp_path, FOLDER_ONLY)
    assert [str(n.address) for n in server.plan(wanted).blocked] == ["file/docs/b.md"]
    adopting = Adopt(Address.parse("file/docs/b.md"), by_hand["id"])
    assert carry_out(server.api, "acme", adopting, lambda _folder: folder["id"]) == by_hand["id"]
    assert set(files_record(server)) == {"a.md", "b.md"}
    assert not server.plan(wanted).has_changes


def test_uploads_whose_processing_cannot_be_polled_fail_with_the_servers_reason(
    server: Server, tmp_path: Path
) -> None:
    write_docs(tmp_path, DOCS)
    server.letta.processing_held = True
    server.letta.fail("GET", r"/folders/[^/]+/files$", status=503, times=100)
    with pytest.raises(ApplyFailed) as failed:
        server.apply(desired(tmp_path, FOLDER_ONLY))
    assert sorted(f.address for f in failed.value.failures) == ["file/docs/a.md", "file/docs/b.md"]
    assert {f.server_message for f in failed.value.failures} == {"injected failure (HTTP 503)"}


def test_an_upload_the_server_never_processes_fails_at_the_deadline(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.kinds import file

    monkeypatch.setattr(file, "PROCESSING_TIMEOUT", 0.0)
    write_docs(tmp_path, {"a.md": DOCS["a.md"]})
    server.letta.processing_held = True
    with pytest.raises(ApplyFailed, match="still processing after 0 s"):
        server.apply(desired(tmp_path, FOLDER_ONLY))
    assert "a.md" in files_record(server)  # recorded: the next plan replaces it if need be


def test_uploads_into_a_folder_that_lost_the_stacks_record_fail_and_are_not_recorded(
    server: Server, tmp_path: Path
) -> None:
    write_docs(tmp_path, {"a.md": DOCS["a.md"]})
    server.apply(desired(tmp_path, FOLDER_ONLY))
    [folder] = server.letta.sources["folders"].rows.values()

    def forget(request: Request) -> None:
        if request.path.endswith("/upload"):
            folder["metadata"] = {}

    server.letta.after = forget
    write_docs(tmp_path, DOCS)
    with pytest.raises(ApplyFailed, match="no longer carries the stack's record"):
        server.apply(desired(tmp_path, FOLDER_ONLY))
    assert folder["metadata"] == {}


def passages_body(count: int) -> str:
    texts = "\n".join(f"      - Passage number {n}." for n in range(count))
    return f"archives:\n  faq:\n    passages:\n{texts}\n"


def test_the_passages_of_an_archive_are_written_a_hundred_a_request(
    server: Server, tmp_path: Path
) -> None:
    wanted = desired(tmp_path, passages_body(230))
    results = server.apply(wanted)
    assert len(results) == 231 and all(r.ok for r in results)
    written = [r for r in server.letta.writes() if "/passages" in r.path]
    assert sorted(len(r.body["passages"]) for r in written) == [30, 100, 100]
    stored = list(server.letta.sources["passages"].rows.values())
    assert len({p["created_at"] for p in stored}) == 230  # each its own, so the search pages
    assert all(p["metadata"]["letta_apply"]["sha256"] for p in stored)
    assert {r.resource_id for r in results if r.change.address.kind.value == "passage"} == {
        p["id"] for p in stored
    }
    assert not server.plan(wanted).has_changes


def test_a_batch_the_server_refuses_fails_exactly_its_passages_and_a_rerun_writes_them(
    server: Server, tmp_path: Path
) -> None:
    wanted = desired(tmp_path, passages_body(230))

    def full(request: Request) -> bool:
        return len(request.body["passages"]) == 100

    server.letta.fail("POST", r"/passages/batch$", status=422, when=full)
    with pytest.raises(ApplyFailed) as failed:
        server.apply(wanted)
    assert len(failed.value.failures) == 100
    assert {f.server_message for f in failed.value.failures} == {"injected failure (HTTP 422)"}
    assert len(server.letta.sources["passages"].rows) == 130
    again = server.plan(wanted)
    assert len(again.changes) == 100 and all(isinstance(c, Create) for c in again.changes)
    server.apply(wanted)
    assert len(server.letta.sources["passages"].rows) == 230
    assert not server.plan(wanted).has_changes


def test_a_batch_written_whose_answer_is_lost_is_found_not_written_again(
    server: Server, tmp_path: Path
) -> None:
    wanted = desired(tmp_path, passages_body(150))
    server.letta.fail("POST", r"/passages/batch$", status=None, acted=True)
    results = server.apply(wanted)
    assert all(r.ok for r in results)
    sent = [r for r in server.letta.writes() if r.path.endswith("/passages/batch")]
    assert len(sent) == 2  # the lost answer's batch was found, not sent again
    assert len(server.letta.sources["passages"].rows) == 150
    assert not server.plan(wanted).has_changes


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


def test_a_passage_declared_under_another_key_with_the_same_text_is_the_same_passage(
    server: Server, tmp_path: Path
) -> None:
    """Passages are identified by their content: listed inline where they were read from a
    file (as an export writes them back), the stack's passages are neither written again nor
    reported; a text no passage holds is written, and the passage whose text went is deleted."""
    prune = "prune: {enabled: true, maxDeletePercent: 100}\n"
    write_docs(tmp_path, DOCS)
    from_files = 'archives:\n  faq: {passagesFrom: [{files: "docs/*.md", split: paragraphs}]}\n'
    server.apply(desired(tmp_path, prune + from_files))
    texts = ["# A", "First part.", "Second part.", "# B", "Only part."]
    inline = "archives:\n  faq:\n    passages: [" + ", ".join(f'"{t}"' for t in texts) + "]\n"
    assert not server.plan(desired(tmp_path, prune + inline)).has_changes
    edited = inline.replace('"Only part."]', '"Only part, edited.", "New."]')
    plan = server.plan(desired(tmp_path, prune + edited))
    made = sorted(dict(c.body)["text"] for c in plan.changes if isinstance(c, Create))
    gone = [c for c in plan.changes if isinstance(c, Delete)]
    assert made == ["New.", "Only part, edited."]
    assert [str(c.address) for c in gone] == ["passage/faq/b.md#2"]


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


DESK = "agents:\n  desk: {}\n"
DESK_WITH_FAQ = (
    "archives:\n  faq: {passages: [Always be kind.]}\nagents:\n  desk: {archives: [faq]}\n"
)


def test_an_agent_with_an_archive_of_its_own_is_not_attached_another(
    server: Server, tmp_path: Path
) -> None:
    """Letta allows one archive per agent, and the agent's own is its learned memory: the plan
    reports the link blocked, naming that archive, and the apply never touches it."""
    server.apply(desired(tmp_path, DESK))
    desk = server.named("desk")
    own = server.letta.new(
        server.letta.sources["archives"],
        {
            "name": "desk's Archive",
            "description": None,
            "embedding_config": {},
            "metadata": None,
            "agent_ids": [desk["id"]],
        },
    )
    wanted = desired(tmp_path, DESK_WITH_FAQ)
    plan = server.plan(wanted)
    assert sorted(changed(plan.changes)) == [
        "create archive/faq",
        "create passage/faq/" + _key("Always be kind."),
    ]
    [blocked] = plan.blocked
    assert str(blocked.address) == "archive/faq" and blocked.resource_ids == (own["id"],)
    assert 'agent/desk already has the archive "desk\'s Archive"' in blocked.message
    assert "never detaches or deletes" in blocked.message
    adopting = server.plan(wanted, adopt=True)  # what --adopt takes over keeps what is held
    assert [n.message for n in adopting.blocked] == [blocked.message]
    assert not [c for c in adopting.changes if c.action.value == "attach"]
    writes = len(server.letta.writes())
    with pytest.raises(NotConverged, match="archive/faq"):
        server.apply(wanted)
    sent = server.letta.writes()[writes:]
    assert not [r for r in sent if "/attach/" in r.path or "/detach/" in r.path]
    assert not [r for r in sent if r.method == "DELETE" and "/archives/" in r.path]
    assert own["agent_ids"] == [desk["id"]]


def test_an_agent_moved_to_another_archive_of_the_stack_is_attached_once_detached(
    server: Server, tmp_path: Path
) -> None:
    server.apply(desired(tmp_path, DESK_WITH_FAQ))
    moved = "archives:\n  faq: {}\n  manual: {}\nagents:\n  desk: {archives: [manual]}\n"
    plan = server.plan(desired(tmp_path, moved))
    assert sorted(changed(plan.changes)) == ["create archive/manual", "detach archive/faq"]
    [blocked] = plan.blocked
    assert "this stack's archive/faq, which this plan detaches" in blocked.message
    with pytest.raises(NotConverged):
        server.apply(desired(tmp_path, moved))
    assert changed(server.plan(desired(tmp_path, moved)).changes) == ["attach archive/manual"]
    server.apply(desired(tmp_path, moved))
    assert not server.plan(desired(tmp_path, moved)).has_changes


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
