"""Folders, their files, archives and their passages, as Letta 0.16.8 keeps and answers them.

- Folders: names unique (a second is 409); metadata replaced whole by an update. Uploads are
  multipart, named by the `name` query, refused for a taken name with
  `duplicate_handling=error` (400) and replacing it with `replace` (a new id); a file is
  processed at once (or, while `processing_held`, when `process_files` is called):
  `completed`, or `error` with the database's reason when its bytes hold a NUL. Deleting a
  folder deletes its files.
- Archives: names not unique; create and update take name and description only. Passages
  keep metadata and tags; a batch of them is written at once (one creation time for all
  unless each names its own); there is no listing: `POST /v1/passages/search` answers at most
  100 in creation order from `start_date` (inclusive), or by similarity to a `query` (here:
  words in common). Deleting an archive deletes its passages.
- Agents are attached with `PATCH /v1/agents/{agent}/folders|archives/attach/{id}`; an agent
  has one archive at most (a second is 409). `GET /v1/archives/?agent_id=` lists an agent's.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tests.letta_memory.store import Collection, Query, Record, Refused, copied, flag, last

if TYPE_CHECKING:
    from tests.letta_memory.server import MemoryLetta

_WORD = re.compile(r"[a-z0-9]+")


def collections() -> dict[str, Collection]:
    return {
        "folders": Collection("Source", "source", default_order="asc"),
        "files": Collection("File", "file", default_limit=1000),
        "archives": Collection("Archive", "archive"),
        "passages": Collection("Passage", "passage", default_order="asc"),
    }


def _config(body: Any) -> dict[str, Any]:
    handle = (body or {}).get("embedding") or "letta/letta-free"
    return {"handle": handle, "embedding_dim": 1536}


# Folders -----------------------------------------------------------------------------------


def list_folders(s: MemoryLetta, _m: re.Match[str], query: Query, _b: Any) -> Any:
    name = last(query, "name")
    folders = s.sources["folders"]
    return [copied(f) for f in folders.page(query, lambda f: name is None or f["name"] == name)]


def create_folder(s: MemoryLetta, _m: re.Match[str], _q: Query, body: Any) -> Any:
    folders = s.sources["folders"]
    if any(f["name"] == body["name"] for f in folders.rows.values()):
        raise Refused(409, f"duplicate key value violates unique constraint: {body['name']}")
    fields = {
        "name": body["name"],
        "description": body.get("description"),
        "instructions": body.get("instructions"),
        "metadata": body.get("metadata"),
        "embedding_config": _config(body),
        "agent_ids": [],
    }
    return copied(s.new(folders, fields))


def get_folder(s: MemoryLetta, m: re.Match[str], _q: Query, _b: Any) -> Any:
    return copied(s.sources["folders"].get(m[1]))


def update_folder(s: MemoryLetta, m: re.Match[str], _q: Query, body: Any) -> Any:
    folder = s.sources["folders"].get(m[1])
    for key in ("name", "description", "instructions", "metadata"):
        if body.get(key) is not None:
            folder[key] = copied(body[key])
    return copied(folder)


def delete_folder(s: MemoryLetta, m: re.Match[str], _q: Query, _b: Any) -> Any:
    s.sources["folders"].remove(m[1])
    for file in [f for f in s.sources["files"].rows.values() if f["source_id"] == m[1]]:
        s.sources["files"].remove(file["id"])
    return None


def folder_agents(s: MemoryLetta, m: re.Match[str], _q: Query, _b: Any) -> Any:
    return list(s.sources["folders"].get(m[1])["agent_ids"])


def list_files(s: MemoryLetta, m: re.Match[str], query: Query, _b: Any) -> Any:
    s.sources["folders"].get(m[1])
    found = s.sources["files"].page(query, lambda f: f["source_id"] == m[1])
    return [_shown(f, flag(query, "include_content")) for f in found]


def get_file(s: MemoryLetta, m: re.Match[str], query: Query, _b: Any) -> Any:
    file = s.sources["files"].get(m[2])
    if file["source_id"] != m[1]:
        raise Refused(404, f"File with id={m[2]} not found in folder {m[1]}")
    return _shown(file, flag(query, "include_content"))


def _shown(file: Record, content: bool) -> Record:
    shown = {k: v for k, v in file.items() if k != "bytes"}
    shown["content"] = file["bytes"].decode("utf-8", "replace") if content else None
    return copied(shown)


def upload(s: MemoryLetta, m: re.Match[str], query: Query, body: Any) -> Any:
    folder = s.sources["folders"].get(m[1])
    name = last(query, "name") or "upload"
    data = _file_part(body)
    taken = [f for f in s.sources["files"].rows.values() if f["source_id"] == m[1]]
    same = [f for f in taken if f["file_name"] == name]
    handling = last(query, "duplicate_handling") or "suffix"
    if same and handling == "error":
        raise Refused(400, f"File '{name}' already exists in folder '{folder['name']}'")
    for old in same if handling == "replace" else ():
        s.sources["files"].remove(old["id"])
    fields = {
        "source_id": m[1],
        "file_name": name,
        "original_file_name": name,
        "file_size": len(data),
        "processing_status": "parsing",
        "error_message": None,
        "bytes": data,
    }
    made = s.new(s.sources["files"], fields)
    if not s.processing_held:
        processed(made)
    return _shown(made, False)


def processed(file: Record) -> None:
    """The server's processing of an uploaded file: `error` with the database's reason when
    its bytes hold a NUL, else `completed`."""
    failed = b"\x00" in file["bytes"]
    file["processing_status"] = "error" if failed else "completed"
    file["error_message"] = 'invalid byte sequence for encoding "UTF8": 0x00' if failed else None


def _file_part(body: Any) -> bytes:
    """The bytes of the multipart body's one file (the serving layer hands raw bytes on)."""
    raw: bytes = body["multipart"]
    head, _, rest = raw.partition(b"\r\n\r\n")
    boundary = head.split(b"\r\n", 1)[0]
    return rest[: rest.rfind(b"\r\n" + boundary)]


def delete_file(s: MemoryLetta, m: re.Match[str], _q: Query, _b: Any) -> Any:
    s.sources["files"].remove(m[2])
    return None


# Archives and passages ---------------------------------------------------------------------


def list_archives(s: MemoryLetta, _m: re.Match[str], query: Query, _b: Any) -> Any:
    name, agent_id = last(query, "name"), last(query, "agent_id")
    archives = s.sources["archives"]
    return [
        copied(a)
        for a in archives.page(
            query,
            lambda a: (
                (name is None or a["name"] == name)
                and (agent_id is None or agent_id in a["agent_ids"])
            ),
        )
    ]


def create_archive(s: MemoryLetta, _m: re.Match[str], _q: Query, body: Any) -> Any:
    fields = {
        "name": body["name"],
        "description": body.get("description"),
        "embedding_config": _config(body),
        "metadata": None,
        "agent_ids": [],
    }
    return copied(s.new(s.sources["archives"], fields))


def update_archive(s: MemoryLetta, m: re.Match[str], _q: Query, body: Any) -> Any:
    archive = s.sources["archives"].get(m[1])
    for key in ("name", "description"):
        if body.get(key) is not None:
            archive[key] = body[key]
    return copied(archive)


def delete_archive(s: MemoryLetta, m: re.Match[str], _q: Query, _b: Any) -> Any:
    s.sources["archives"].remove(m[1])
    for passage in [p for p in s.sources["passages"].rows.values() if p["archive_id"] == m[1]]:
        s.sources["passages"].remove(passage["id"])
    return None


def archive_agents(s: MemoryLetta, m: re.Match[str], query: Query, _b: Any) -> Any:
    ids = s.sources["archives"].get(m[1])["agent_ids"]
    return [{"id": agent_id} for agent_id in sorted(ids)][: int(last(query, "limit") or 50)]


def create_passage(s: MemoryLetta, m: re.Match[str], _q: Query, body: Any) -> Any:
    s.sources["archives"].get(m[1])
    fields = {
        "archive_id": m[1],
        "text": body["text"],
        "metadata": copied(body.get("metadata") or {}),
        "tags": body.get("tags"),
    }
    return copied(s.new(s.sources["passages"], fields))


def create_passages(s: MemoryLetta, m: re.Match[str], _q: Query, body: Any) -> Any:
    """Several passages in one transaction: each at the `created_at` it names, the others all
    at the transaction's one time."""
    s.sources["archives"].get(m[1])
    _, shared = s.clock.stamp("passage")
    made = []
    for item in body["passages"]:
        given = item.get("created_at")
        when = datetime.fromisoformat(given).astimezone(UTC) if given else None
        fields = {
            "archive_id": m[1],
            "text": item["text"],
            "metadata": copied(item.get("metadata") or {}),
            "tags": item.get("tags"),
            "created_at": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if when else shared,
        }
        made.append(copied(s.new(s.sources["passages"], fields)))
    return made


def delete_passage(s: MemoryLetta, m: re.Match[str], _q: Query, _b: Any) -> Any:
    passage = s.sources["passages"].get(m[2])
    if passage["archive_id"] != m[1]:
        raise Refused(400, f"Passage {m[2]} does not belong to archive {m[1]}")
    s.sources["passages"].remove(m[2])
    return None


def search(s: MemoryLetta, _m: re.Match[str], _q: Query, body: Any) -> Any:
    start = body.get("start_date")
    found = sorted(
        (
            p
            for p in s.sources["passages"].rows.values()
            if p["archive_id"] == body.get("archive_id")
            and (start is None or p["created_at"] >= start)
        ),
        key=lambda p: (p["created_at"], p["id"]),
    )
    if body.get("query"):
        words = set(_WORD.findall(body["query"].lower()))
        found.sort(key=lambda p: -len(words & set(_WORD.findall(p["text"].lower()))))
    limit = int(body.get("limit") or 50)
    return [{"passage": copied(p), "score": 0.0, "metadata": {}} for p in found[:limit]]


# Links -------------------------------------------------------------------------------------


def link(s: MemoryLetta, m: re.Match[str], _q: Query, _b: Any) -> Any:
    agent_id, route, verb, target = m[1], m[2], m[3], m[4]
    s.agents.get(agent_id)
    record = s.sources[route].get(target)
    others = [a for a in s.sources["archives"].rows.values() if a["id"] != target]
    if route == "archives" and verb == "attach" and any(agent_id in a["agent_ids"] for a in others):
        raise Refused(409, 'duplicate key value violates unique constraint "unique_agent_archive"')
    linked = [a for a in record["agent_ids"] if a != agent_id]
    record["agent_ids"] = [*linked, agent_id] if verb == "attach" else linked
    return None


ID = r"([^/]+)"
ROUTES = (
    ("GET", r"/v1/folders", list_folders),
    ("POST", r"/v1/folders", create_folder),
    ("GET", rf"/v1/folders/{ID}", get_folder),
    ("PATCH", rf"/v1/folders/{ID}", update_folder),
    ("DELETE", rf"/v1/folders/{ID}", delete_folder),
    ("GET", rf"/v1/folders/{ID}/agents", folder_agents),
    ("GET", rf"/v1/folders/{ID}/files", list_files),
    ("GET", rf"/v1/folders/{ID}/files/{ID}", get_file),
    ("POST", rf"/v1/folders/{ID}/upload", upload),
    ("DELETE", rf"/v1/folders/{ID}/{ID}", delete_file),
    ("GET", r"/v1/archives", list_archives),
    ("POST", r"/v1/archives", create_archive),
    ("PATCH", rf"/v1/archives/{ID}", update_archive),
    ("DELETE", rf"/v1/archives/{ID}", delete_archive),
    ("GET", rf"/v1/archives/{ID}/agents", archive_agents),
    ("POST", rf"/v1/archives/{ID}/passages", create_passage),
    ("POST", rf"/v1/archives/{ID}/passages/batch", create_passages),
    ("DELETE", rf"/v1/archives/{ID}/passages/{ID}", delete_passage),
    ("POST", r"/v1/passages/search", search),
    ("PATCH", rf"/v1/agents/{ID}/(folders|archives)/(attach|detach)/{ID}", link),
)
