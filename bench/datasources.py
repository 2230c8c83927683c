"""Data-source benchmarks: a folder of small files and an archive of passages, each figure
beside a reference measured in the same run on the same server.

- upload throughput: `apply_plan` of the folder's files from empty (each upload waits for the
  server's processing and is recorded in the folder) against raw uploads of the same files by a
  plain httpx script into a folder of its own: the same parallelism, no waiting per file, one
  listing of the folder polled until the server has processed them all (the fastest way a
  script can have them all processed); in rounds, the order alternating (raw uploads first,
  then letta-apply first, ...), the stack's folder deleted between rounds, the ratio the
  median of the rounds' (load that comes and goes on a shared machine touches both sides);
- no-op plan of the applied stack against a plain httpx listing of the same pages (the
  stack's agents, blocks and tools, the MCP servers, every folder and archive, the agents of
  the stack's, the folder's files, the archive's passages page by page through the search),
  reading independent listings at once as the plan does;
- re-apply after one file changes: the requests sent and how many of them are uploads (one).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from bench import writes
from bench.measure import Sample, measure, median, new_api
from reconciler import ownership
from reconciler.apply import apply_plan
from reconciler.client import LettaApi
from reconciler.desired import DesiredState
from reconciler.errors import ApplyFailed
from reconciler.kinds.passage import PAGE as PASSAGE_PAGE
from reconciler.manifest import load_desired
from reconciler.planning import make_plan

PAGE = 200
FILE_PAGE = 1000
PROCESSING_TIMEOUT = 1800.0
DONE = ("completed", "error")

MANIFEST = """\
apiVersion: letta-apply/v1
stack: {stack}
folders:
  {stack}-docs:
    description: Benchmark documents
    files: docs/*.md
archives:
  {stack}-notes:
    description: Benchmark passages
    passagesFrom:
      - {{files: notes/*.md, split: paragraphs}}
"""


@dataclass(frozen=True)
class Shape:
    """How many files the folder holds and passages the archive, and the upload rounds."""

    files: int
    passages: int
    rounds: int = 1


def write_stack(folder: Path, stack: str, shape: Shape) -> Path:
    """The stack's manifest, its files (a few hundred bytes each, every one different) and
    its passages (paragraphs of ten files)."""
    (folder / "docs").mkdir(parents=True)
    (folder / "notes").mkdir()
    for n in range(shape.files):
        (folder / "docs" / f"doc{n:05d}.md").write_text(_document(n), encoding="utf-8")
    per_file = -(-shape.passages // 10)
    for part in range(10):
        numbers = range(part * per_file, min(shape.passages, (part + 1) * per_file))
        text = "\n\n".join(_passage(n) for n in numbers)
        (folder / "notes" / f"notes{part}.md").write_text(text + "\n", encoding="utf-8")
    manifest = folder / "stack.yaml"
    manifest.write_text(MANIFEST.format(stack=stack), encoding="utf-8")
    return manifest


def _document(n: int) -> str:
    return (
        f"# Document {n}\n\nThis is document number {n} of the benchmark's folder. It says "
        f"that item {n} ships in {n % 7 + 1} days and costs {n % 97 + 3} euros.\n"
    )


def _passage(n: int) -> str:
    return f"Benchmark passage {n}: the answer to question {n} is {n * 7919 % 10007}."


def edit_one(folder: Path) -> None:
    """Change the first file's text (its size too)."""
    first = folder / "docs" / "doc00000.md"
    first.write_text(first.read_text(encoding="utf-8") + "Edited once.\n", encoding="utf-8")


# Letta-apply's side ------------------------------------------------------------------------------


class Requests:
    """Every request a client sends, as (method, path), from an httpx request hook."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent: list[tuple[str, str]] = []

    def hook(self, request: httpx.Request) -> None:
        with self._lock:
            self.sent.append((request.method, request.url.path))

    def uploads(self) -> int:
        return sum(1 for method, path in self.sent if method == "POST" and "/upload" in path)


def recorded_api(url: str) -> tuple[LettaApi, Requests]:
    """A letta-apply client as the CLI builds one, its requests recorded."""
    api = new_api(url)
    seen = Requests()
    api.http.event_hooks["request"].append(seen.hook)
    return api, seen


def apply_from_empty(url: str, desired: DesiredState, parallelism: int) -> dict[str, Any]:
    """Plan and apply a stack not on the server yet: the apply's figures and its failures."""
    figures = writes.plan_and_apply(url, desired, parallelism)
    return {"changes": figures.changes, "failed": figures.failed, **figures.apply.to_json()}


def noop_plan(url: str, desired: DesiredState, parallelism: int, reps: int) -> dict[str, Any]:
    """Median time and requests of planning the applied stack; the plan's change count."""
    api = new_api(url)
    changes: list[int] = []

    def step() -> None:
        plan, _live = make_plan(api, desired, prune=None, parallelism=parallelism)
        changes.append(len(plan.changes))

    try:
        sample = median(step, lambda: api.requests, reps)
        return {"changes": changes[-1], **sample.to_json()}
    finally:
        api.close()


def reapply(url: str, desired: DesiredState, parallelism: int) -> dict[str, Any]:
    """Plan and apply after one file changed: changes, requests, uploads among them."""
    api, seen = recorded_api(url)
    try:
        plan, live = make_plan(api, desired, prune=None, parallelism=parallelism)
        planned = len(seen.sent)
        failed = 0
        try:
            apply_plan(api, plan, live, parallelism=parallelism)
        except ApplyFailed as exc:
            failed = len(exc.failures)
        return {
            "changes": [str(c.address) for c in plan.changes],
            "plan_requests": planned,
            "apply_requests": len(seen.sent) - planned,
            "uploads": seen.uploads(),
            "failed": failed,
        }
    finally:
        api.close()


# The plain script's side -------------------------------------------------------------------------


class Plain:
    """A plain httpx client with a request counter: what a script would use."""

    def __init__(self, url: str, connections: int = 64) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.http = httpx.Client(
            base_url=url,
            timeout=120,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=32),
            event_hooks={"request": [self._count]},
        )

    def _count(self, _request: httpx.Request) -> None:
        with self._lock:
            self.requests += 1

    def get(self, path: str, **params: Any) -> Any:
        answer = self.http.get(path, params=params)
        answer.raise_for_status()
        return answer.json()

    def post(self, path: str, body: Any) -> Any:
        answer = self.http.post(path, json=body)
        answer.raise_for_status()
        return answer.json()

    def pages(self, path: str, page: int, **params: Any) -> list[Any]:
        found: list[Any] = []
        after: str | None = None
        while True:
            listed = self.get(path, limit=page, **params, **({"after": after} if after else {}))
            found += listed
            if len(listed) < page:
                return found
            after = listed[-1]["id"]

    def close(self) -> None:
        self.http.close()


def raw_uploads(url: str, folder: Path, name: str, parallelism: int) -> dict[str, Any]:
    """Create a folder, upload every file of `folder/docs` into it with `parallelism` in
    flight, then poll its listing until the server has processed them all."""
    plain = Plain(url)
    files = sorted((folder / "docs").iterdir())
    try:
        made = plain.post("/v1/folders/", {"name": name})

        def upload(path: Path) -> None:
            answer = plain.http.post(
                f"/v1/folders/{made['id']}/upload",
                params={"name": path.name, "duplicate_handling": "error"},
                files={"file": (path.name, path.read_bytes(), "text/markdown")},
            )
            answer.raise_for_status()

        def run() -> None:
            with ThreadPoolExecutor(max_workers=parallelism) as pool:
                list(pool.map(upload, files))
            _wait_processed(plain, made["id"], len(files))

        sample = measure(run, lambda: plain.requests)
        errors = sum(
            1
            for f in plain.pages(f"/v1/folders/{made['id']}/files", FILE_PAGE)
            if f["processing_status"] == "error"
        )
        return {"folder_id": made["id"], "files": len(files), "errors": errors, **sample.to_json()}
    finally:
        plain.close()


def _wait_processed(plain: Plain, folder_id: str, count: int) -> None:
    deadline = time.monotonic() + PROCESSING_TIMEOUT
    while True:
        listed = plain.pages(f"/v1/folders/{folder_id}/files", FILE_PAGE)
        done = sum(1 for f in listed if f["processing_status"] in DONE)
        if len(listed) >= count and done == len(listed):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"raw uploads: {done} of {count} processed after the deadline")
        time.sleep(0.5)


def plain_listing(url: str, desired: DesiredState, reps: int) -> Sample:
    """The same pages the no-op plan reads, by a plain httpx script."""
    plain = Plain(url)
    try:
        return median(lambda: list_everything(plain, desired), lambda: plain.requests, reps)
    finally:
        plain.close()


def list_everything(plain: Plain, desired: DesiredState) -> int:
    """The stack's agents, blocks and custom tools and the server's MCP servers beside every
    folder (its files and agents) and every archive (its passages and agents), each chain in
    a thread of its own."""
    tag = ownership.stack_tag(desired.stack)
    mine = {spec.name for spec in desired.folders}
    archives = {spec.name for spec in desired.archives}
    jobs: list[Callable[[], int]] = [
        lambda: len(plain.pages("/v1/agents/", PAGE, tags=[tag])),
        lambda: len(plain.pages("/v1/blocks/", PAGE, tags=[tag])),
        lambda: len(plain.pages("/v1/tools/", PAGE, tool_types=["custom"])),
        lambda: len(plain.get("/v1/mcp-servers/")),
        lambda: _folders(plain, mine),
        lambda: _archives(plain, archives),
    ]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return sum(pool.map(lambda job: job(), jobs))


def _folders(plain: Plain, names: set[str]) -> int:
    listed = plain.pages("/v1/folders/", PAGE)
    count = len(listed)
    for folder in (f for f in listed if f["name"] in names):
        count += len(plain.pages(f"/v1/folders/{folder['id']}/files", FILE_PAGE))
        count += len(plain.pages(f"/v1/folders/{folder['id']}/agents", 100))
    return count


def _archives(plain: Plain, names: set[str]) -> int:
    listed = plain.pages("/v1/archives/", PAGE)
    count = len(listed)
    for archive in (a for a in listed if a["name"] in names):
        count += len(plain.pages(f"/v1/archives/{archive['id']}/agents", 100))
        count += _passages(plain, archive["id"])
    return count


def _passages(plain: Plain, archive_id: str) -> int:
    """Every passage through the search, oldest first, a page from the last creation time."""
    seen: set[str] = set()
    start: str | None = None
    while True:
        body: dict[str, Any] = {"archive_id": archive_id, "limit": PASSAGE_PAGE}
        if start:
            body["start_date"] = start
        page = [item["passage"] for item in plain.post("/v1/passages/search", body)]
        seen.update(p["id"] for p in page)
        if len(page) < PASSAGE_PAGE:
            return len(seen)
        start = page[-1]["created_at"]


def delete_folder(url: str, folder_id: str) -> None:
    with httpx.Client(base_url=url, timeout=120) as http:
        http.delete(f"/v1/folders/{folder_id}")


# The run ----------------------------------------------------------------------------------------


def upload_round(
    url: str,
    folder: Path,
    desired: DesiredState,
    number: int,
    shape: Shape,
    parallelism: int,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Raw uploads and letta-apply's of the folder's files from empty, raw first in even
    rounds and last in odd ones; the stack's folder is deleted after every round but the last
    (the next applies from empty again), the raw folder after each."""
    files_only = replace(desired, archives=())
    figures: dict[str, Any] = {}
    for side in ("raw", "apply") if number % 2 == 0 else ("apply", "raw"):
        if side == "raw":
            say(f"round {number + 1}: raw uploads of {shape.files:,} files ...")
            figures["raw_upload"] = raw_uploads(
                url, folder, f"{desired.stack}-raw{number}", parallelism
            )
            delete_folder(url, figures["raw_upload"]["folder_id"])
        else:
            say(f"round {number + 1}: letta-apply, the folder of {shape.files:,} files ...")
            figures["apply_files"] = apply_from_empty(url, files_only, parallelism)
    if number + 1 < shape.rounds:
        for spec in desired.folders:
            with httpx.Client(base_url=url, timeout=120) as http:
                for found in http.get("/v1/folders/", params={"name": spec.name}).json():
                    delete_folder(url, found["id"])
    return figures


def benchmarks(
    url: str,
    folder: Path,
    stack: str,
    shape: Shape,
    parallelism: int,
    reps: int,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Raw uploads, then the stack applied (files first, then passages), its no-op plan beside
    the plain listing, then one file edited and applied again."""
    manifest = write_stack(folder, stack, shape)
    desired = load_desired([manifest], folder)
    rounds = [
        upload_round(url, folder, desired, n, shape, parallelism, say) for n in range(shape.rounds)
    ]
    say(f"letta-apply: the archive of {shape.passages:,} passages from empty ...")
    passages = apply_from_empty(url, desired, parallelism)
    say("no-op plan and the plain listing ...")
    plan = noop_plan(url, desired, parallelism, reps)
    listing = plain_listing(url, desired, reps)
    say("one file edited, applied again ...")
    edit_one(folder)
    again = reapply(url, load_desired([manifest], folder), parallelism)
    return {
        "files": shape.files,
        "passages": shape.passages,
        "parallelism": parallelism,
        "upload_rounds": rounds,
        "raw_upload": rounds[0]["raw_upload"],
        "apply_files": rounds[0]["apply_files"],
        "apply_passages": passages,
        "noop_plan": plan,
        "plain_listing": listing.to_json(),
        "reapply": again,
    }
