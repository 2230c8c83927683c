"""A conversation's address is worked out as its page comes, while the server answers the
next, against the agents read with it; the plan takes those addresses only while the live
state holds the same agents, and works out any other conversation's itself."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from reconciler.address import Address
from reconciler.kinds import agent as agents
from reconciler.kinds import conversation
from reconciler.kinds.read import read_live
from reconciler.live.state import LiveState
from reconciler.manifest import load_desired
from tests.offline.stacks import Server, stack

SHARED = """
agents:
  support:
    conversationSummary: "Support chat for ${user.name}"
users:
  - {id: alice, name: Alice, pattern: shared, agent: support}
  - {id: bob, name: Bob, pattern: shared, agent: support}
"""


def read(server: Server, tmp_path: Path) -> LiveState:
    desired = load_desired([stack(tmp_path, SHARED)])
    server.apply(desired)
    return read_live(server.api, desired.stack, desired)


def without_addresses(live: LiveState) -> LiveState:
    return live.with_part(conversation.LIVE, replace(conversation.of(live), addresses=None))


def test_the_addresses_worked_out_as_read_are_those_worked_out_after(
    server: Server, tmp_path: Path
) -> None:
    live = read(server, tmp_path)
    assert conversation.of(live).addresses is not None
    owned = conversation.by_agent(live)
    assert sorted(map(str, owned)) == [
        "conversation/support/alice",
        "conversation/support/bob",
    ]
    assert owned == conversation.by_agent(without_addresses(live))


def test_addresses_read_against_other_agents_are_not_taken(server: Server, tmp_path: Path) -> None:
    live = read(server, tmp_path)
    part = conversation.of(live)
    assert part.addresses is not None
    wrong = {c.id: Address.conversation(Address.agent("elsewhere"), c.user_id) for c in part.marked}
    taken = live.with_part(
        conversation.LIVE, replace(part, addresses=replace(part.addresses, by_id=wrong))
    )
    assert set(conversation.by_agent(taken)) == set(wrong.values())  # as read, taken
    other_agents = replace(agents.of(live))  # equal, but not the agents they were read with
    adopted = taken.with_part(agents.LIVE, other_agents)
    assert conversation.by_agent(adopted) == conversation.by_agent(without_addresses(live))


def test_a_conversation_added_after_the_read_gets_its_address(
    server: Server, tmp_path: Path
) -> None:
    live = read(server, tmp_path)
    part = conversation.of(live)
    added = replace(part.marked[0], id="conv-added", user_id="carol")
    grown = live.with_part(conversation.LIVE, replace(part, marked=(*part.marked, added)))
    assert conversation.by_agent(grown)[
        Address.conversation(Address.agent("support"), "carol")
    ] == [added]
