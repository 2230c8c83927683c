"""The first pages of a whole stack's read, asked for before the code that reads them loads.

A read's longest chains of requests are the stack's agent listing (then each shared agent's
conversations, which need the agents' ids) and its block listing, page after page. Their
first pages depend only on the stack's name and on whether its agents' tools are managed,
so they are sent as soon as the manifests are checked and the client is open: the server
answers them while the kinds' reading and planning code is imported, and the read takes each
page as it would have asked for it (`LettaApi.ask_first_page`), one request each as before.

Only the kinds' record modules are imported here, which load no reading code.
"""

from __future__ import annotations

from reconciler.client import LettaApi
from reconciler.desired import DesiredState, Outline
from reconciler.errors import LettaApplyError
from reconciler.kinds import agent_record, block_record
from reconciler.paging import PAGE


def ask_first_pages(api: LettaApi, outline: Outline, desired: DesiredState) -> None:
    """Ask for the first page of the stack's agent and block listings (`outline`: what its
    manifests declare, `desired`: the whole desired state, its users loaded and checked).

    Nothing is sent when a secret its agents declare cannot be read: the plan then stops
    before any request, saying why."""
    try:
        api.secrets.check(desired)
    except LettaApplyError:
        return
    include = agent_record.listing_includes(outline, lambda: desired)
    agents = agent_record.stack_query(outline.stack, include)
    api.ask_first_page(agent_record.ROUTE, agents, PAGE)
    api.ask_first_page(block_record.ROUTE, block_record.stack_query(outline.stack), PAGE)
