"""Folders of files and archives of passages against the real server, embedded by the dev
server's local model: uploaded once, replaced when changed, deleted with prune; what others
put in them never touched; a file the server cannot process fails and is retried; and a
question about one document finds that document first through the server's own search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.devserver import embeddings
from tests.integration.helpers import letta_apply, write_manifest

pytestmark = pytest.mark.server

DOCS = {
    "billing": "Invoices are issued on the first day of each month; a failed card payment "
    "is retried three times over a week before the account is suspended.",
    "sso": "Single sign-on works with Okta, Azure AD and any SAML 2.0 identity provider.",
    "mobile": "The mobile app runs on iOS 16 and Android 12; offline mode keeps the last "
    "200 documents on the device.",
    "shipping": "Orders placed before 2 pm ship the same business day; express delivery "
    "arrives the next day.",
    "warranty": "Hardware has a two-year warranty; water damage and cracked screens are "
    "not covered.",
}

MANIFEST = """
apiVersion: letta-apply/v1
stack: {stack}
defaults: {{model: letta/letta-free, embedding: {handle}}}
prune: {{enabled: true, maxDeletePercent: 100}}
folders:
  {stack}-docs:
    description: Product documentation
    instructions: Answer from these files.
    files: docs/*.md
archives:
  {stack}-faq:
    description: Answers
    passages: [Support answers within one business day.]
    passagesFrom:
      - {{files: faq/*.md}}
agents:
  desk:
    folders: [{stack}-docs]
    archives: [{stack}-faq]
"""


@pytest.fixture
def handle(letta_url: str) -> str:
    """The dev server's local embedding model; a server without it cannot embed offline."""
    answer = httpx.get(f"{letta_url}/v1/models/embedding")
    answer.raise_for_status()
    if embeddings.HANDLE not in {m["handle"] for m in answer.json()}:
        pytest.skip(f"the server has no {embeddings.HANDLE} (started by an older letta-apply)")
    return embeddings.HANDLE


def write_stack(path: Path, stack: str, handle: str, files: dict[str, str]) -> Path:
    (path / "docs").mkdir(parents=True, exist_ok=True)
    (path / "faq").mkdir(exist_ok=True)
    for old in (*(path / "docs").glob("*.md"), *(path / "faq").glob("*.md")):
        old.unlink()
    for name, text in files.items():
        (path / "docs" / f"{name}.md").write_bytes(text.encode())
        (path / "faq" / f"{name}.md").write_bytes(text.encode())
    return write_manifest(path, MANIFEST.format(stack=stack, handle=handle))


def get(url: str, path: str, **params: Any) -> Any:
    answer = httpx.get(f"{url}{path}", params=params, timeout=60)
    answer.raise_for_status()
    return answer.json()


def folder_of(url: str, name: str) -> dict[str, Any]:
    [found] = [f for f in get(url, "/v1/folders/", name=name) if f["name"] == name]
    return dict(found)


def archive_of(url: str, name: str) -> dict[str, Any]:
    [found] = [a for a in get(url, "/v1/archives/", name=name) if a["name"] == name]
    return dict(found)


def files_of(url: str, folder_id: str) -> dict[str, dict[str, Any]]:
    return {f["file_name"]: f for f in get(url, f"/v1/folders/{folder_id}/files", limit=1000)}


def search(url: str, archive_id: str, query: str | None = None) -> list[dict[str, Any]]:
    body: dict[str, Any] = {"archive_id": archive_id, "limit": 100}
    if query:
        body["query"] = query
    answer = httpx.post(f"{url}/v1/passages/search", json=body, timeout=60)
    answer.raise_for_status()
    return [item["passage"] for item in answer.json()]


def changed_lines(output: str) -> list[str]:
    """The plan's change headlines (indented two spaces, starting with their symbol)."""
    return [
        line.strip()
        for line in output.splitlines()
        if line.startswith("  ") and line[2:3] in ("+", "~", "-", ">", "<")
    ]


def test_folders_and_archives_converge_follow_their_files_and_answer_searches(
    tmp_path: Path, letta_url: str, stack_name: str, handle: str
) -> None:
    files = {f"doc{n:02d}": f"# Note {n}\n\nNote number {n} of the handbook.\n" for n in range(15)}
    files.update(DOCS)
    path = write_stack(tmp_path / "m", stack_name, handle, files)
    applied = letta_apply(str(path), url=letta_url)
    assert applied.code == 0, applied.output
    folder = folder_of(letta_url, f"{stack_name}-docs")
    archive = archive_of(letta_url, f"{stack_name}-faq")
    listed = files_of(letta_url, folder["id"])
    assert len(listed) == 20
    assert {f["processing_status"] for f in listed.values()} == {"completed"}
    [agent] = get(letta_url, "/v1/agents/", tags=[f"letta-apply:{stack_name}"])
    assert agent["id"] in get(letta_url, f"/v1/folders/{folder['id']}/agents")
    assert agent["id"] in [a["id"] for a in get(letta_url, f"/v1/archives/{archive['id']}/agents")]
    assert len(search(letta_url, archive["id"])) == 21
    again = letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url)
    assert again.code == 0, again.output

    # What others put in the stack's folder and archive is not the stack's.
    hand = httpx.post(
        f"{letta_url}/v1/folders/{folder['id']}/upload",
        params={"name": "by-hand.md"},
        files={"file": ("by-hand.md", b"# Made by hand\n", "text/markdown")},
    )
    hand.raise_for_status()
    added = httpx.post(
        f"{letta_url}/v1/archives/{archive['id']}/passages", json={"text": "A note by hand."}
    )
    added.raise_for_status()
    assert letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url).code == 0

    # One file edited: exactly that file is replaced, shown with its size and lines.
    files["doc05"] += "A new line.\n"
    write_stack(path, stack_name, handle, files)
    shown = letta_apply("plan", str(path), url=letta_url)
    assert changed_lines(shown.stdout)[:1] == [f"~ file/{stack_name}-docs/doc05.md"]
    assert "+ A new line." in shown.stdout
    assert f"~ passage/{stack_name}-faq/doc05.md" in shown.stdout
    assert "Plan: 0 to create, 2 to update, 0 to attach, 0 to detach, 0 to delete." in shown.stdout
    assert letta_apply(str(path), url=letta_url).code == 0
    after = files_of(letta_url, folder["id"])
    assert after["doc05.md"]["id"] != listed["doc05.md"]["id"]
    assert {n: f["id"] for n, f in after.items() if n not in ("doc05.md", "by-hand.md")} == {
        n: f["id"] for n, f in listed.items() if n != "doc05.md"
    }

    # One file removed: a planned delete, carried out with prune.
    del files["doc07"]
    write_stack(path, stack_name, handle, files)
    shown = letta_apply("plan", str(path), url=letta_url)
    assert f"- file/{stack_name}-docs/doc07.md  (no longer declared)" in shown.stdout
    deleted = letta_apply(str(path), "--allow-delete", url=letta_url)
    assert deleted.code == 0, deleted.output
    remaining = files_of(letta_url, folder["id"])
    assert "doc07.md" not in remaining and "by-hand.md" in remaining
    texts = [p["text"] for p in search(letta_url, archive["id"])]
    assert "A note by hand." in texts and not any("Note number 7 " in t for t in texts)
    assert letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url).code == 0

    # A question about one document finds that document first, through the server's search.
    for name, question in (
        ("warranty", "Is a broken screen repaired for free?"),
        ("sso", "Can we log in with Okta?"),
        ("shipping", "How fast does an order arrive?"),
    ):
        [first, *_] = search(letta_url, archive["id"], question)
        assert first["text"] == DOCS[name], (question, first["text"])

    # Prune: the stack's folders and archives go when no longer declared.
    write_manifest(
        path,
        f"apiVersion: letta-apply/v1\nstack: {stack_name}\n"
        f"defaults: {{model: letta/letta-free, embedding: {handle}}}\n"
        "prune: {enabled: true, maxDeletePercent: 100}\nagents:\n  desk: {}\n",
    )
    pruned = letta_apply(str(path), "--allow-delete", "--allow-mass-delete", url=letta_url)
    assert pruned.code == 0, pruned.output
    assert f"- folder/{stack_name}-docs" in pruned.stdout
    assert f"- archive/{stack_name}-faq" in pruned.stdout
    assert not [f for f in get(letta_url, "/v1/folders/", name=folder["name"])]
    assert not [a for a in get(letta_url, "/v1/archives/", name=archive["name"])]
    assert letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url).code == 0


def test_a_file_the_server_cannot_process_fails_with_its_reason_and_is_retried(
    tmp_path: Path, letta_url: str, stack_name: str, handle: str
) -> None:
    files = dict(DOCS)
    files["broken"] = "# Broken\n\nThe database refuses a NUL byte: \x00 here.\n"
    path = write_stack(tmp_path / "m", stack_name, handle, files)
    (path / "faq" / "broken.md").unlink()  # the archive's passages are read as text
    failed = letta_apply(str(path), url=letta_url)
    assert failed.code == 3, failed.output  # some changes failed
    assert f"file/{stack_name}-docs/broken.md" in failed.output
    assert "could not process the file" in failed.output and "0x00" in failed.output
    folder = folder_of(letta_url, f"{stack_name}-docs")
    statuses = {n: f["processing_status"] for n, f in files_of(letta_url, folder["id"]).items()}
    assert statuses.pop("broken.md") == "error"
    assert set(statuses.values()) == {"completed"}

    # The failed file is the stack's: the next plan uploads it again.
    shown = letta_apply("plan", str(path), url=letta_url)
    assert f"~ file/{stack_name}-docs/broken.md" in shown.stdout
    assert "uploaded again" in shown.stdout

    (path / "docs" / "broken.md").write_text("# Fixed\n\nNo NUL byte any more.\n")
    retried = letta_apply(str(path), url=letta_url)
    assert retried.code == 0, retried.output
    fixed = files_of(letta_url, folder["id"])
    assert fixed["broken.md"]["processing_status"] == "completed"
    assert len(fixed) == len(DOCS) + 1
    assert letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url).code == 0
    httpx.delete(f"{letta_url}/v1/folders/{folder['id']}").raise_for_status()
    archive = archive_of(letta_url, f"{stack_name}-faq")
    httpx.delete(f"{letta_url}/v1/archives/{archive['id']}").raise_for_status()


def test_a_folder_of_the_same_name_blocks_until_adopted(
    tmp_path: Path, letta_url: str, stack_name: str, handle: str
) -> None:
    name = f"{stack_name}-docs"
    made = httpx.post(f"{letta_url}/v1/folders/", json={"name": name, "embedding": handle})
    made.raise_for_status()
    path = write_stack(tmp_path / "m", stack_name, handle, DOCS)
    shown = letta_apply("plan", str(path), url=letta_url)
    assert f"folder/{name}: a folder named" in shown.stdout and "adopt it" in shown.stdout
    assert f"+ file/{name}/" not in shown.stdout
    adopted = letta_apply(
        "adopt", str(path), "--address", f"folder/{name}", "--id", made.json()["id"], url=letta_url
    )
    assert adopted.code == 0, adopted.output
    applied = letta_apply(str(path), url=letta_url)
    assert applied.code == 0, applied.output
    assert set(files_of(letta_url, made.json()["id"])) == {f"{n}.md" for n in DOCS}
    assert letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url).code == 0
    httpx.delete(f"{letta_url}/v1/folders/{made.json()['id']}").raise_for_status()
    archive = archive_of(letta_url, f"{stack_name}-faq")
    httpx.delete(f"{letta_url}/v1/archives/{archive['id']}").raise_for_status()


OWN_ARCHIVE = """
apiVersion: letta-apply/v1
stack: {stack}
defaults: {{model: letta/letta-free, embedding: {handle}}}
prune: {{enabled: true, maxDeletePercent: 100}}
{archives}
agents:
  desk: {{{link}}}
"""


def test_an_agent_with_an_archive_of_its_own_is_shown_blocked_and_its_archive_kept(
    tmp_path: Path, letta_url: str, stack_name: str, handle: str
) -> None:
    """Letta 0.16.8 gives an agent one archive, and its archival memory makes its own on the
    first insert: a manifest attaching a stack's archive to it is blocked in the plan, naming
    that archive, and the apply neither fails with the server's 409 nor touches the agent's
    archive (its learned memory)."""

    def stack(archives: str = "", link: str = "") -> str:
        return OWN_ARCHIVE.format(stack=stack_name, handle=handle, archives=archives, link=link)

    path = write_manifest(tmp_path / "m", stack())
    assert letta_apply(str(path), url=letta_url).code == 0
    [agent] = get(letta_url, "/v1/agents/", tags=[f"letta-apply:{stack_name}"])
    learned = httpx.post(
        f"{letta_url}/v1/agents/{agent['id']}/archival-memory",
        json={"text": "The customer prefers email."},
        timeout=60,
    )
    learned.raise_for_status()
    [own] = get(letta_url, "/v1/archives/", agent_id=agent["id"])
    assert own["name"] == f"{agent['name']}'s Archive"

    faq = f"{stack_name}-faq"
    write_manifest(
        path,
        stack(
            f"archives:\n  {faq}: {{passages: [Support answers within a day.]}}",
            f"archives: [{faq}]",
        ),
    )
    shown = letta_apply("plan", str(path), "--detailed-exitcode", url=letta_url)
    assert shown.code == 2, shown.output
    assert f"+ archive/{faq}" in shown.stdout and f"> archive/{faq}" not in shown.stdout
    assert "already has the archive" in shown.stdout and own["id"] in shown.stdout
    assert own["name"] in shown.stdout and "never detaches or deletes" in shown.stdout
    applied = letta_apply(str(path), url=letta_url)
    assert applied.code == 3, applied.output  # blocked: the server cannot match the manifest
    assert "409" not in applied.output and "failed" not in applied.output
    assert [a["id"] for a in get(letta_url, "/v1/archives/", agent_id=agent["id"])] == [own["id"]]
    assert [p["text"] for p in search(letta_url, own["id"])] == ["The customer prefers email."]
    again = letta_apply("plan", str(path), url=letta_url)
    assert "already has the archive" in again.stdout
    assert "No changes can be made, but the server does not match the manifests" in again.stdout

    write_manifest(path, stack())
    assert letta_apply(str(path), "--allow-delete", url=letta_url).code == 0
    assert [a["id"] for a in get(letta_url, "/v1/archives/", agent_id=agent["id"])] == [own["id"]]
    httpx.delete(f"{letta_url}/v1/archives/{own['id']}").raise_for_status()


ROUND_TRIP = """
apiVersion: letta-apply/v1
stack: {stack}
defaults: {{model: letta/letta-free, embedding: {handle}}}
folders:
  {stack}-guides:
    files: guides/*.md
archives:
  {stack}-answers:
    passagesFrom:
      - {{files: answers/*.md, split: headings}}
agents:
  helper:
    folders: [{stack}-guides]
    archives: [{stack}-answers]
"""


def test_an_export_of_the_stack_plans_no_change(
    tmp_path: Path, letta_url: str, stack_name: str, handle: str
) -> None:
    """What the stack made, exported (a file name with a space, passages read from a file by
    heading, which the export lists inline under other keys) plans no change: files and
    passages are identified by their content."""
    path = tmp_path / "m"
    (path / "guides").mkdir(parents=True)
    (path / "answers").mkdir()
    (path / "guides" / "Getting started.md").write_text("Install the app, then sign in.\n")
    (path / "answers" / "faq.md").write_text("# Refunds\nWithin 30 days.\n\n# Hours\n9 to 5.\n")
    write_manifest(path, ROUND_TRIP.format(stack=stack_name, handle=handle))
    applied = letta_apply(str(path), url=letta_url)
    assert applied.code == 0, applied.output
    out = tmp_path / "export"
    exported = letta_apply("export", "--stack", stack_name, "--out", str(out), url=letta_url)
    assert exported.code == 0, exported.output
    assert (out / "folders" / f"{stack_name}-guides" / "Getting started.md").is_file()
    again = letta_apply("plan", str(out), "--detailed-exitcode", url=letta_url)
    assert again.code == 0, again.output
    assert "no longer declared" not in again.output
    destroyed = letta_apply(
        "destroy", str(path), "--allow-delete", "--allow-mass-delete", url=letta_url
    )
    assert destroyed.code == 0, destroyed.output
