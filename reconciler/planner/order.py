"""The order changes are applied in: one rule, used to sort a plan and to run it.

Actions run in `Action` order: adoptions first (an agent before its conversations), so what
follows sees the adopted resources as the stack's. Creates run in waves by dependency: a
create waits for the creates of what it needs (a shared block before the agent that links
it, an agent before its own blocks and conversations), so independent creates run together.
Updates run kind by kind in dependency order, so a conversation's context is compiled again
after its agent's and blocks' updates landed. Deletes run last, a sleep-time agent's before its
agent's. Within a phase, changes are sorted by kind (in
dependency order) and address, so plans diff cleanly between runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import groupby
from typing import assert_never

from reconciler.address import Address
from reconciler.kinds.registry import rank
from reconciler.plan.model import Action, Adopt, Attach, Change, Create, Delete, Detach, Update

Phase = tuple[int, int]
"""(position of the action in `Action`, dependency depth among creates or kind rank among
updates)."""


def phases(changes: Iterable[Change]) -> list[list[Change]]:
    """The changes in apply order, batched: a batch may run in parallel, batches in order."""
    listed = list(changes)
    depth = _create_depths(listed)
    ordered = _sorted(listed, depth)
    return [list(batch) for _, batch in groupby(ordered, key=lambda c: _phase(c, depth))]


def in_order(changes: Iterable[Change]) -> list[Change]:
    """The changes sorted into apply order."""
    listed = list(changes)
    return _sorted(listed, _create_depths(listed))


def _sorted(changes: list[Change], depth: dict[Address, int]) -> list[Change]:
    return sorted(changes, key=lambda c: (_phase(c, depth), *_position(c)))


def _phase(change: Change, depth: dict[Address, int]) -> Phase:
    match change:
        case Adopt():
            wave = 1 if change.needs else 0  # a conversation after its agent
        case Create():
            wave = depth.get(change.address, 0)
        case Update():
            wave = rank(change.address.kind)  # a conversation recompiles after its agent
        case Attach() | Detach():
            wave = 0
        case Delete():
            wave = 0 if _belongs_to_its_kind(change.address) else 1
        case _:
            assert_never(change)
    return (list(Action).index(change.action), wave)


def _belongs_to_its_kind(address: Address) -> bool:
    """A resource belonging to another of its kind (a sleep-time agent to its agent) is
    deleted first: the server deletes it with the other, and both at once fail."""
    owner = address.owner
    return owner is not None and owner.kind is address.kind


def _position(change: Change) -> tuple[str, str, str]:
    match change:
        case Attach() | Detach():
            agent = str(change.agent)
        case Adopt() | Create() | Update() | Delete():
            agent = ""
        case _:
            assert_never(change)
    return (f"{rank(change.address.kind):03d}", str(change.address), agent)


def _create_depths(changes: Sequence[Change]) -> dict[Address, int]:
    """For each created address, how many creates must land before it (0: none)."""
    creates = {c.address: c for c in changes if isinstance(c, Create)}
    depth: dict[Address, int] = {}

    def visit(address: Address, path: frozenset[Address]) -> int:
        if address in depth:
            return depth[address]
        needed = [n for n in creates[address].needs if n in creates and n not in path]
        found = 1 + max((visit(n, path | {address}) for n in needed), default=-1)
        depth[address] = found
        return found

    for address in creates:
        visit(address, frozenset())
    return depth
