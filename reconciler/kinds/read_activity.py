"""Reading when the stack's users last used their agents and conversations.

One tag-filtered listing of the stack's agents (without includes: the listing carries each
agent's `last_run_completion` and `created_at` as it is), then one listing of the stack's
conversations per shared agent (each carries `last_message_at`; the server filters them by
the stack's marker). No request per user.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from reconciler import ownership
from reconciler.address import Address, AddressError
from reconciler.client import LettaApi
from reconciler.kinds import agent, conversation
from reconciler.live.state import Activity, Basis, LiveAgent
from reconciler.paging import PAGE


def read_activity(
    api: LettaApi, stack: str, *, parallelism: int = 8, page_size: int = PAGE
) -> tuple[Activity, ...]:
    """The activity of the stack's dedicated agents and of its conversations."""
    params = {"tags": [ownership.stack_tag(stack)]}
    dedicated: list[Activity] = []
    shared: list[LiveAgent] = []
    for raw in agent.listing(api, params, page_size):
        live = agent.from_server(raw, stack)
        if live.address is None:
            continue
        if live.address.user is None:
            shared.append(live)
        else:
            used = _timestamp(raw.get("last_run_completion"))
            dedicated.append(Activity(live.address, live.id, live.created_at, used, Basis.LAST_RUN))

    def conversations(owner: LiveAgent) -> list[Activity]:
        return list(_conversations(api, stack, owner, page_size))

    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        pages = list(pool.map(conversations, shared))
    return (*dedicated, *(found for page in pages for found in page))


def _conversations(
    api: LettaApi, stack: str, owner: LiveAgent, page_size: int
) -> Iterator[Activity]:
    assert owner.address is not None
    marked = ownership.conversation_marker_prefix(stack)
    for raw in conversation.on_agent(api, owner.id, marked, page_size):
        live = conversation.from_server(raw, stack)
        if live is None:
            continue
        try:
            address = Address.conversation(owner.address, live.user_id)
        except AddressError:
            continue  # a marker naming no valid user: not one of the stack's users
        used = _timestamp(raw.get("last_message_at"))
        yield Activity(address, live.id, live.created_at, used, Basis.LAST_MESSAGE)


def _timestamp(value: str | None) -> str | None:
    return value or None
