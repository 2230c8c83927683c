"""Cutting a stack to a scope, and the planner keeping a scoped plan to it: on planner cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.address import Address, Kind
from reconciler.errors import LettaApplyError
from reconciler.kinds.registry import declared
from reconciler.plan.model import Action
from reconciler.planner import build_plan
from reconciler.scope import Scope, cut
from tests.plan.data import TARGET, load_case

CASES = Path(__file__).parent / "cases"
EVERYTHING = CASES / "01-empty-server-creates-everything"
PRUNED = CASES / "07-undeclared-user-deleted-with-prune-and-its-blocks"
SEVERAL_USERS_CHANGED = Path(__file__).parents[1] / "render" / "samples" / "mixed"


def test_a_user_brings_what_it_needs_and_nothing_else() -> None:
    desired, _ = load_case(EVERYTHING)
    users = desired.patterns()
    shared_user = next(u for u, p in users.items() if p.value == "shared")
    scoped = cut(desired, Scope(users=(shared_user,)))
    conversation = next(c for c in desired.conversations if c.user_id == shared_user)
    assert scoped.selected == {conversation.address}
    assert {c.address for c in scoped.desired.conversations} == {conversation.address}
    assert {a.address for a in scoped.desired.agents} == {conversation.agent}
    needed_blocks = {b for a in scoped.desired.agents for b in a.shared_blocks}
    assert {b.address for b in scoped.desired.blocks} == needed_blocks
    assert scoped.desired.identities == () and not scoped.desired.prune.enabled


def test_a_targeted_agent_brings_its_own_blocks() -> None:
    desired, _ = load_case(EVERYTHING)
    scoped = cut(desired, Scope(targets=("agent/user:alice",)))
    assert Address.parse("block/user:alice/human") in scoped.selected
    assert Address.parse("block/user:alice/persona") in scoped.selected


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        (Scope(users=("nobody",)), "not declared in stack .*: user\\(s\\) nobody"),
        (Scope(targets=("agent/user:zz*",)), "target:agent/user:zz*: selects nothing"),
    ],
)
def test_a_scope_that_selects_nothing_is_an_error(scope: Scope, message: str) -> None:
    desired, _ = load_case(EVERYTHING)
    with pytest.raises(LettaApplyError, match=message.replace("zz*", r"zz\*")):
        cut(desired, scope)


def test_a_scoped_plan_never_deletes() -> None:
    desired, live = load_case(PRUNED)
    whole = build_plan(desired, live, target=TARGET)
    assert any(c.action is Action.DELETE for c in whole.changes)
    user = next(iter(desired.patterns()))
    scoped = cut(desired, Scope(users=(user,)))
    partial = build_plan(scoped.desired, live, target=TARGET, scoped=scoped)
    assert partial.partial and partial.scope == (f"user:{user}",) and not partial.prune
    assert not any(c.action is Action.DELETE for c in partial.changes)


def test_a_scoped_plan_changes_only_the_selected() -> None:
    desired, live = load_case(SEVERAL_USERS_CHANGED)
    whole = build_plan(desired, live, target=TARGET)
    updated = sorted({c.address.user for c in whole.changes if c.address.user}, key=str)
    assert len(updated) >= 2
    scoped = cut(desired, Scope(users=(str(updated[0]),)))
    partial = build_plan(scoped.desired, live, target=TARGET, scoped=scoped)
    assert partial.changes
    assert {c.address.user for c in partial.changes} == {updated[0]}


def test_a_stack_cut_to_addresses_keeps_those_of_every_kind() -> None:
    desired, _live = load_case(CASES / "01-empty-server-creates-everything")
    every = set(declared(desired))
    assert set(declared(desired.only(every))) == every
    agents = {a for a in every if a.kind is Kind.AGENT}
    assert {a for a in declared(desired.only(agents)) if a.owner is None} == agents
    assert desired.only(frozenset()).agents == desired.only(frozenset()).blocks == ()
