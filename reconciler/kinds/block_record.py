"""The block kind's server record: a memory block as the server answers it (its listing, an
agent's memory, the answer to a create or an update), and the one check of that shape
(`SHAPE`). Kept apart from the kind's reading and planning (`reconciler.kinds.block`) so the
agent's record and settings table refer to it without loading them, and so the stack's
listing's first page is asked for before they load (`stack_query`).
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

from reconciler import ownership
from reconciler.shape import Shape

ROUTE = "/v1/blocks/"


def stack_query(stack: str) -> dict[str, list[str]]:
    """The query of the listing of the blocks carrying the stack's tag."""
    return {"tags": [ownership.stack_tag(stack)]}


class BlockRecord(TypedDict):
    """A memory block as the server answers it (its listing, an agent's memory), with the
    fields letta-apply reads."""

    id: str
    label: str | None
    value: str
    limit: NotRequired[int | None]
    description: NotRequired[str | None]
    read_only: NotRequired[bool | None]
    tags: list[str] | None
    metadata: object
    """Anyone may write it: read by `reconciler.ownership`, which takes any shape."""
    created_at: NotRequired[str | None]


SHAPE = Shape(BlockRecord)
