"""What users write with the SDK: a script that lists a dedicated stack with letta_client.

`python bench/listing_sdk.py URL TAG INCLUDE...` imports the SDK, fetches the pages a no-op
plan of a dedicated stack fetches (its agents with the same includes, then the blocks carrying
its tag; the same page size and order, as plain JSON, one page after another) and exits.
It imports nothing from letta-apply. Shown beside the plan; the ratio is taken against
`bench/listing.py`, the best a plain script can do.
"""

from __future__ import annotations

import sys
from typing import Any

import letta_client

PAGE = 200


def main(url: str, tag: str, includes: list[str]) -> int:
    """List every page; return how many agents and blocks there were."""
    with letta_client.Letta(base_url=url, max_retries=0) as client:
        agents = _count(client, "/v1/agents/", {"tags": [tag], "include": includes})
        return agents + _count(client, "/v1/blocks/", {"tags": [tag]})


def _count(client: letta_client.Letta, path: str, params: dict[str, Any]) -> int:
    count = 0
    after: dict[str, str] = {}
    while True:
        query = {**params, "limit": PAGE, "order": "asc", **after}
        page: list[Any] = client.get(path, cast_to=list[Any], options={"params": query})
        count += len(page)
        if len(page) < PAGE:
            return count
        after = {"after": page[-1]["id"]}


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
