"""`export` of folders and archives against the real server: an agent made by hand with a
folder of files and an archive of passages is exported (the files' contents into the export
folder), `plan --adopt` takes the folder, its files and the archive over without uploading or
writing anything, and after a run with `--adopt` a plan finds nothing to do; a file made by
hand in the adopted folder is never touched, and a folder another stack owns is never taken."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from reconciler import ownership
from reconciler.address import Address
from reconciler.devserver import embeddings
from tests.integration.helpers import letta_apply

pytestmark = pytest.mark.server

FILES = {
    "billing.md": "# Billing\n\nInvoices are issued on the first day of each month.\n",
    "sso.md": "Single sign-on works with Okta and any SAML 2.0 identity provider.\n",
    "setup/mobile.md": "The mobile app runs on iOS 16 and Android 12.\n",
}
PASSAGES = ("Refunds within 30 days.", "Support answers within one business day.")


@pytest.fixture
def handle(letta_url: str) -> str:
    """The dev server's local embedding model; a server without it cannot embed offline."""
    models = httpx.get(f"{letta_url}/v1/models/embedding", timeout=60).json()
    if embeddings.HANDLE not in {m["handle"] for m in models}:
        pytest.skip(f"the server has no {embeddings.HANDLE} (started by an older letta-apply)")
    return embeddings.HANDLE


class Server:
    """Plain requests, as an app making its folders and archives by hand would send them."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=120)

    def send(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.http.request(method, path, **kwargs)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def upload(self, folder_id: str, name: str, text: str) -> str:
        made = self.send(
            "POST",
            f"/v1/folders/{folder_id}/upload",
            params={"name": name},
            files={"file": (name.rsplit("/", 1)[-1], text.encode(), "text/markdown")},
        )
        return str(made["id"])

    def files(self, folder_id: str) -> dict[str, dict[str, Any]]:
        listed = self.send("GET", f"/v1/folders/{folder_id}/files", params={"limit": 1000})
        return {f["file_name"]: f for f in listed}

    def wait_processed(self, folder_id: str) -> None:
        deadline = time.monotonic() + 300
        while any(
            f["processing_status"] not in ("completed", "error")
            for f in self.files(folder_id).values()
        ):
            assert time.monotonic() < deadline, "the server did not process the files"
            time.sleep(0.5)

    def passages(self, archive_id: str) -> list[dict[str, Any]]:
        found = self.send(
            "POST", "/v1/passages/search", json={"archive_id": archive_id, "limit": 100}
        )
        return [item["passage"] for item in found]


def make_by_hand(server: Server, stack: str, handle: str) -> dict[str, str]:
    """An agent with a folder of files and an archive of passages attached, and a folder
    another stack owns attached too; their ids."""
    docs = server.send("POST", "/v1/folders/", json={"name": f"{stack}-docs", "embedding": handle})
    for name, text in FILES.items():
        server.upload(docs["id"], name, text)
    theirs_record = ownership.agent_metadata("someone-else", Address.folder(f"{stack}-theirs"), {})
    theirs = server.send(
        "POST",
        "/v1/folders/",
        json={"name": f"{stack}-theirs", "embedding": handle, "metadata": theirs_record},
    )
    faq = server.send(
        "POST",
        "/v1/archives/",
        json={"name": f"{stack}-faq", "description": "Answers", "embedding": handle},
    )
    for text in PASSAGES:
        server.send("POST", f"/v1/archives/{faq['id']}/passages", json={"text": text})
    server.send(
        "POST",
        f"/v1/archives/{faq['id']}/passages",
        json={"text": "Tagged answer.", "tags": ["billing"]},
    )
    desk = server.send(
        "POST",
        "/v1/agents/",
        json={
            "name": f"{stack}-desk",
            "model": "letta/letta-free",
            "embedding": handle,
            "tags": [f"app:{stack}"],
        },
    )
    for kind, target in (("folders", docs), ("folders", theirs), ("archives", faq)):
        server.send("PATCH", f"/v1/agents/{desk['id']}/{kind}/attach/{target['id']}")
    server.wait_processed(docs["id"])
    return {"docs": docs["id"], "theirs": theirs["id"], "faq": faq["id"], "desk": desk["id"]}


def test_exported_folders_and_archives_are_adopted_and_left_as_they_are(
    tmp_path: Path, letta_url: str, stack_name: str, handle: str
) -> None:
    server = Server(letta_url)
    ids = make_by_hand(server, stack_name, handle)
    out = tmp_path / "exported"

    exported = letta_apply(
        "export", "--out", str(out), "--tag", f"app:{stack_name}", "--name", stack_name,
        url=letta_url,
    )  # fmt: skip
    assert exported.code == 0, exported.output
    assert f"'{stack_name}-theirs' belongs to stack 'someone-else'" in exported.stdout
    document = yaml.safe_load((out / "stack.yaml").read_text())
    assert document["folders"] == {
        f"{stack_name}-docs": {"embedding": handle, "files": f"folders/{stack_name}-docs/**/*"}
    }
    for name, text in FILES.items():
        assert (out / "folders" / f"{stack_name}-docs" / name).read_bytes() == text.encode()
    archive = document["archives"][f"{stack_name}-faq"]
    assert archive["description"] == "Answers"
    assert sorted(map(str, archive["passages"])) == sorted(
        [*PASSAGES, str({"text": "Tagged answer.", "tags": ["billing"]})]
    )
    [desk] = document["agents"].values()
    assert desk["folders"] == [f"{stack_name}-docs"]
    assert desk["archives"] == [f"{stack_name}-faq"]

    handmade = server.upload(ids["docs"], "handmade.md", "Made by hand after the export.\n")
    server.wait_processed(ids["docs"])

    planned = letta_apply("plan", str(out), "--adopt", "--format", "json", url=letta_url)
    assert planned.code == 0, planned.output
    plan = json.loads(planned.stdout)
    assert {c["action"] for c in plan["changes"]} == {"adopt"}, plan["changes"]
    adopted = {c["address"] for c in plan["changes"]}
    docs = f"{stack_name}-docs"
    assert {f"folder/{docs}", f"archive/{stack_name}-faq"} <= adopted
    assert {f"file/{docs}/{name}" for name in FILES} <= adopted
    assert f"file/{docs}/handmade.md" not in adopted

    applied = letta_apply(str(out), "--adopt", url=letta_url)
    assert applied.code == 0, applied.output
    again = letta_apply("plan", str(out), "--detailed-exitcode", url=letta_url)
    assert again.code == 0, again.output

    files = server.files(ids["docs"])
    assert files["handmade.md"]["id"] == handmade
    assert set(files) == {*FILES, "handmade.md"}  # nothing uploaded again
    folder = server.send("GET", f"/v1/folders/{ids['docs']}")
    recorded = folder["metadata"][ownership.METADATA_KEY]["files"]
    assert set(recorded) == set(FILES)
    assert len(server.passages(ids["faq"])) == len(PASSAGES) + 1  # none written twice
    theirs = server.send("GET", f"/v1/folders/{ids['theirs']}")
    assert ownership.recorded_stack(theirs["metadata"]) == "someone-else"
