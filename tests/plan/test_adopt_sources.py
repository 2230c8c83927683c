"""`--adopt` of folders and archives, planned from server answers: an unowned folder of a
declared name is adopted with the files holding declared names (left as they are when the
server's text is the declared one, uploaded over otherwise), a file made by hand stays
unrecorded, an archive's passages with declared texts stand for them; a folder or archive
another stack owns is never adopted."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path
from typing import Any

from reconciler import ownership
from reconciler.address import Address
from reconciler.desired import DesiredState
from reconciler.kinds import archive, file, folder, passage
from reconciler.live import LiveState
from reconciler.manifest import load_desired
from reconciler.plan.model import Adopt, Plan
from reconciler.planner import build_plan

MANIFEST = """
apiVersion: letta-apply/v1
stack: acme
folders:
  docs: {files: "docs/*.md"}
archives:
  faq: {description: FAQ, passages: ["Refunds within 30 days.", {text: "Tagged.", tags: [billing]}]}
"""


def desired_state(tmp_path: Path, billing: str = "Invoices monthly.\n") -> DesiredState:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "billing.md").write_text(billing)
    (tmp_path / "docs" / "sso.md").write_text("Okta.\n")
    (tmp_path / "stack.yaml").write_text(textwrap.dedent(MANIFEST).lstrip())
    return load_desired([tmp_path], tmp_path)


def raw_file(file_id: str, name: str, content: str) -> dict[str, Any]:
    return {
        "id": file_id,
        "file_name": name,
        "file_size": len(content),
        "processing_status": "completed",
        "content": content,
        "created_at": f"2026-01-01T00:00:0{file_id[-1]}",
    }


def live_state(*, owner: str | None = None) -> LiveState:
    """An unowned folder `docs` with two declared files and one made by hand, and an unowned
    archive `faq` holding the declared passages (or both marked by stack `owner`)."""
    metadata = (
        ownership.agent_metadata(owner, Address.folder("docs"), {}) if owner is not None else {}
    )
    listed = {"id": "source-1", "name": "docs", "metadata": metadata}
    docs = folder.from_server(folder.SHAPE.parse(listed, "test"), "acme")
    files = tuple(
        file.from_server(file.SHAPE.parse(raw, "test"), docs)
        for raw in (
            raw_file("file-1", "billing.md", "Invoices monthly.\n"),
            raw_file("file-2", "sso.md", "Okta, Azure AD.\n"),
            raw_file("file-3", "handmade.md", "By hand.\n"),
        )
    )
    text = "FAQ" if owner is None else archive.description("FAQ", owner)
    listed = {"id": "archive-1", "name": "faq", "description": text}
    faq = archive.from_server(archive.SHAPE.parse(listed, "test"), "acme")
    passages = tuple(
        passage.from_server(
            passage.PASSAGE.parse(
                {"id": pid, "text": body, "tags": tags, "metadata": None, "created_at": "2026"},
                "test",
            ),
            faq,
            "acme",
        )
        for pid, body, tags in (
            ("passage-1", "Refunds within 30 days.", []),
            ("passage-2", "Tagged.", ["billing"]),
        )
    )
    return LiveState(
        "acme",
        {
            folder.KIND: folder.Folders((docs,)),
            file.KIND: file.Files(files),
            archive.KIND: archive.Archives((faq,)),
            passage.KIND: passage.Passages(passages),
        },
    )


def planned(desired: DesiredState, live: LiveState) -> Plan:
    return build_plan(desired, live, target="http://letta.test", adopt=True)


def test_a_folder_and_archive_are_adopted_with_the_declared_files(tmp_path: Path) -> None:
    plan = planned(desired_state(tmp_path), live_state())
    adopted = {str(c.address): c.resource_id for c in plan.changes if isinstance(c, Adopt)}
    assert adopted == {
        "folder/docs": "source-1",
        "file/docs/billing.md": "file-1",
        "file/docs/sso.md": "file-2",
        "archive/faq": "archive-1",
    }
    others = [(c.action.value, str(c.address)) for c in plan.changes if not isinstance(c, Adopt)]
    assert others == [("update", "file/docs/sso.md")]  # the server holds other text
    assert not plan.notices


def test_an_adopted_files_digest_is_that_of_the_text_the_server_holds(tmp_path: Path) -> None:
    assert file.text_digest("Okta.\n") == hashlib.sha256(b"Okta.\n").hexdigest()
    assert file.text_digest(None) == ""
    plan = planned(desired_state(tmp_path, billing="Invoices weekly.\n"), live_state())
    updated = sorted(str(c.address) for c in plan.changes if c.action.value == "update")
    assert updated == ["file/docs/billing.md", "file/docs/sso.md"]


def test_what_another_stack_owns_is_never_adopted(tmp_path: Path) -> None:
    plan = planned(desired_state(tmp_path), live_state(owner="billing"))
    assert not [c for c in plan.changes if isinstance(c, Adopt)]
    blocked = {str(n.address) for n in plan.notices if n.kind.value == "blocked"}
    assert {"folder/docs", "archive/faq"} <= blocked
