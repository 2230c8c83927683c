"""Folders and archives at size: a folder of 1,000 small files and an archive of 5,000
passages, each figure beside its reference.

- upload throughput: files uploaded (and processed) per second by `apply`, against raw uploads
  of the same files through the same client with the same parallelism, each waiting for the
  server's processing as `apply` does;
- no-op plan: the time and requests of a plan with nothing to do, against a plain listing of
  the same pages (the folders, the folder's files and agents, the archives, the archive's
  passages a search page at a time, its agents);
- re-apply after one file changes: the uploads it sends (one).

`python -m bench.sources` runs it alone (`--files`, `--passages`); `python -m bench` runs it
as its `sources` part.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from reconciler.client import LettaApi, Target
from reconciler.devserver import embeddings
from reconciler.kinds import file as files_kind
from reconciler.kinds import passage
from reconciler.manifest import load_desired
from reconciler.workflow import ApplyOptions, Hooks, make_plan, plan_and_apply

MANIFEST = """\
apiVersion: letta-apply/v1
stack: {stack}
defaults: {{model: letta/letta-free, embedding: {handle}}}
prune: {{enabled: true, maxDeletePercent: 100}}
folders:
  {stack}-docs: {{description: Bench files, files: "docs/*.md"}}
archives:
  {stack}-faq:
    passagesFrom: [{{files: faq.md, split: paragraphs}}]
agents:
  desk: {{folders: [{stack}-docs], archives: [{stack}-faq]}}
"""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def write_stack(root: Path, stack: str, files: int, passages: int) -> Path:
    docs = root / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    for n in range(files):
        (docs / f"f{n:04d}.md").write_text(f"# Note {n}\n\nThe note numbered {n} of {files}.\n")
    (root / "faq.md").write_text(
        "\n\n".join(f"Answer {n}: the passage numbered {n}." for n in range(passages)) + "\n"
    )
    (root / "stack.yaml").write_text(MANIFEST.format(stack=stack, handle=embeddings.HANDLE))
    return root


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    result = call()
    return time.perf_counter() - began, result


def raw_uploads(api: LettaApi, root: Path, name: str, parallelism: int) -> float:
    """Seconds to upload every file into a new folder and wait for its processing."""
    folder = api.create(
        "/v1/folders/",
        {"name": name, "embedding": embeddings.HANDLE},
        address=name,
        find_existing=lambda: None,
    )
    paths = sorted((root / "docs").glob("*.md"))

    def one(path: Path) -> None:
        made = api.upload(
            f"/v1/folders/{folder['id']}/upload",
            path.name,
            path.read_bytes(),
            params={"name": path.name, "duplicate_handling": "error"},
            address=path.name,
            find_existing=lambda: None,
        )
        files_kind.processed(api, str(folder["id"]), str(made["id"]), path.name)

    seconds, _ = timed(lambda: list(ThreadPoolExecutor(parallelism).map(one, paths)))
    api.delete(f"/v1/folders/{folder['id']}")
    return seconds


def plain_listing(api: LettaApi, folder: str, archive: str) -> int:
    """Read the pages a plan of the stack reads, with nothing else; the requests it sent."""
    before = api.requests
    listed = list(api.paginate("/v1/folders/", None, 100))
    folder_id = next(str(f["id"]) for f in listed if f["name"] == folder)
    list(api.paginate(f"/v1/folders/{folder_id}/files", None, 1000))
    list(api.paginate(f"/v1/folders/{folder_id}/agents", None, 100))
    archives = list(api.paginate("/v1/archives/", None, 100))
    archive_id = next(str(a["id"]) for a in archives if a["name"] == archive)
    list(passage.listed(api, archive_id))
    list(api.paginate(f"/v1/archives/{archive_id}/agents", None, 100))
    return api.requests - before


def benchmark(url: str, files: int, passages: int, parallelism: int, reps: int) -> dict[str, Any]:
    api = LettaApi(Target(url))
    if embeddings.HANDLE not in {m["handle"] for m in api.get("/v1/models/embedding")}:
        say(f"sources: skipped, the server has no {embeddings.HANDLE}")
        return {"skipped": f"the server has no {embeddings.HANDLE}"}
    stack = f"bench-src-{uuid.uuid4().hex[:6]}"
    root = write_stack(Path(tempfile.mkdtemp(prefix="bench-sources-")), stack, files, passages)
    options = ApplyOptions(allow_delete=True, allow_mass_delete=True, parallelism=parallelism)
    results: dict[str, Any] = {"files": files, "passages": passages, "parallelism": parallelism}
    try:
        say(f"sources: raw uploads of {files} files ...")
        raw = raw_uploads(api, root, f"{stack}-raw", parallelism)
        say(f"sources: apply from empty ({files} files, {passages} passages) ...")
        wanted = load_desired([root])
        applied, _ = timed(lambda: plan_and_apply(api, wanted, options, Hooks()))
        uploads = _upload_seconds(api, stack)
        results["upload"] = {
            "raw_seconds": raw,
            "apply_upload_seconds": uploads,
            "apply_seconds": applied,
            "raw_files_per_s": files / raw,
            "apply_files_per_s": files / uploads,
            "ratio": raw / uploads,
        }
        say("sources: no-op plans beside plain listings ...")
        results["noop"] = _noop(api, wanted, stack, reps, parallelism)
        say("sources: one file changed, re-applied ...")
        (root / "docs" / "f0007.md").write_text("# Note 7\n\nChanged.\n")
        before, sent = api.requests, []
        upload = api.upload

        def counted(*args: Any, **kwargs: Any) -> Any:
            sent.append(args[0])
            return upload(*args, **kwargs)

        api.upload = counted  # type: ignore[method-assign]
        plan_and_apply(api, load_desired([root]), options, Hooks())
        api.upload = upload  # type: ignore[method-assign]
        results["one_change"] = {"requests": api.requests - before, "uploads": len(sent)}
    finally:
        empty = root / "empty"
        empty.mkdir()
        (empty / "stack.yaml").write_text(
            f"apiVersion: letta-apply/v1\nstack: {stack}\nprune: {{enabled: true}}\n"
        )
        plan_and_apply(api, load_desired([empty]), options, Hooks())
    return results


def _upload_seconds(api: LettaApi, stack: str) -> float:
    """From the first file the server made to the last one it finished (the apply's upload
    phase, apart from its archive, agent and plan)."""
    folder = next(f for f in api.get("/v1/folders/", {"name": f"{stack}-docs"}))
    listed = list(api.paginate(f"/v1/folders/{folder['id']}/files", None, 1000))
    start = min(f["created_at"] for f in listed)
    end = max(f["updated_at"] for f in listed)
    return _seconds(end) - _seconds(start)


def _seconds(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _noop(api: LettaApi, wanted: Any, stack: str, reps: int, parallelism: int) -> dict[str, Any]:
    plans, listings = [], []
    for _ in range(reps):
        before = api.requests
        seconds, (plan, _live) = timed(
            lambda: make_plan(api, wanted, prune=None, parallelism=parallelism)
        )
        assert not plan.has_changes, "the no-op plan has changes"
        plans.append((seconds, api.requests - before))
        listings.append(timed(lambda: plain_listing(api, f"{stack}-docs", f"{stack}-faq")))
    plan_s = sorted(s for s, _ in plans)[len(plans) // 2]
    list_s = sorted(s for s, _ in listings)[len(listings) // 2]
    return {
        "plan_seconds": plan_s,
        "plan_requests": plans[0][1],
        "listing_seconds": list_s,
        "listing_requests": listings[0][1],
        "ratio": plan_s / list_s,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sources", description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--passages", type=int, default=5000)
    parser.add_argument("--parallelism", type=int, default=8)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    found = benchmark(args.url, args.files, args.passages, args.parallelism, args.reps)
    print(json.dumps(found, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
