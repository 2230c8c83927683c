"""The reference for the whole-process `letta-apply plan`: the best a plain script can do.

`python bench/listing.py URL TAG INCLUDE...` fetches the pages a no-op plan of a dedicated
stack fetches (its agents with the same includes, and the blocks carrying its tag; the same
page size and order) with httpx, decodes them as JSON and exits. The two listings do not
depend on each other, so, as the plan does, it reads them at once (a thread each); each is
cursor-paginated, so its own pages come one after another. It imports neither the SDK nor
anything from letta-apply. It does not send the plan's pre-flight requests (health, model
lists), nor list tools or MCP servers, nor build anything from the pages.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

PAGE = 200


def main(url: str, tag: str, includes: list[str]) -> int:
    """List every page; return how many agents and blocks there were."""
    base = url.rstrip("/")
    with httpx.Client(timeout=120) as client, ThreadPoolExecutor(max_workers=2) as pool:
        agents = pool.submit(
            _count, client, f"{base}/v1/agents/", {"tags": [tag], "include": includes}
        )
        blocks = pool.submit(_count, client, f"{base}/v1/blocks/", {"tags": [tag]})
        return agents.result() + blocks.result()


def _count(client: httpx.Client, url: str, params: dict[str, Any]) -> int:
    count = 0
    after: dict[str, str] = {}
    while True:
        answer = client.get(url, params={**params, "limit": PAGE, "order": "asc", **after})
        answer.raise_for_status()
        page: list[Any] = answer.json()
        count += len(page)
        if len(page) < PAGE:
            return count
        after = {"after": page[-1]["id"]}


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
