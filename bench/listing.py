"""The reference for the whole-process `letta-apply plan`: the best a plain script can do.

`python bench/listing.py URL TAG MARKER INCLUDE...` fetches the pages a no-op plan of a
stack of agents and conversations fetches: its agents with the same includes (the identities
attached to them come with them), the blocks carrying its tag, and, once the agents are
listed, the conversations on each of its shared agents (those without a `user:` tag) whose
summary holds MARKER; the same page sizes (200 agents or blocks, 1,000 conversations) and
order. It decodes them as JSON and exits. The listings that do not depend on each other are
read at once, as the plan reads them: the agents and the blocks, then the shared agents'
conversations, a thread each; each listing is cursor-paginated, so its own pages come one
after another, for the plan as for the reference. It imports neither the SDK nor anything
from letta-apply. It does not send the plan's pre-flight requests (health, model lists), nor
list tools or MCP servers, nor build anything from the pages.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

PAGE = 200
CONVERSATION_PAGE = 1000
"""As the plan lists them (`reconciler.kinds.conversation.PAGE`)."""
USER_TAG = "user:"


def main(url: str, tag: str, marker: str, includes: list[str]) -> int:
    """List every page; return how many agents, blocks and conversations there were."""
    base = url.rstrip("/")
    with httpx.Client(timeout=120) as client, ThreadPoolExecutor(max_workers=8) as pool:
        agents = pool.submit(
            _pages, client, f"{base}/v1/agents/", {"tags": [tag], "include": includes}
        )
        blocks = pool.submit(_pages, client, f"{base}/v1/blocks/", {"tags": [tag]})
        shared = [a["id"] for a in agents.result() if not _user_tagged(a)]
        conversations = [
            pool.submit(
                _pages,
                client,
                f"{base}/v1/conversations/",
                {"agent_id": agent, "summary_search": marker},
                CONVERSATION_PAGE,
            )
            for agent in shared
        ]
        listed = [agents, blocks, *conversations]
        return sum(len(done.result()) for done in listed)


def _user_tagged(agent: dict[str, Any]) -> bool:
    return any(str(t).startswith(USER_TAG) for t in agent.get("tags") or ())


def _pages(client: httpx.Client, url: str, params: dict[str, Any], size: int = PAGE) -> list[Any]:
    found: list[Any] = []
    after: dict[str, str] = {}
    while True:
        answer = client.get(url, params={**params, "limit": size, "order": "asc", **after})
        answer.raise_for_status()
        page: list[Any] = answer.json()
        found += page
        if len(page) < size:
            return found
        after = {"after": page[-1]["id"]}


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
