"""The apply order: one rule, creates in waves by dependency, then the other actions."""

from __future__ import annotations

from reconciler.address import Address
from reconciler.plan.model import Attach, Create, Delete, Detach, Update
from reconciler.planner.order import in_order, phases

ALICE = Address.dedicated_agent("alice")
SUPPORT = Address.agent("support")
COMPANY = Address.shared_block("company")


def test_creates_wait_for_what_they_need() -> None:
    own_block = Create(Address.agent_block(ALICE, "human"))
    agent = Create(ALICE, links=(COMPANY,))
    shared = Create(COMPANY)
    identity = Create(Address.identity("carol"))
    conversation = Create(Address.conversation(SUPPORT, "bob"))
    batches = phases([own_block, agent, conversation, shared, identity])
    assert batches == [[shared, identity, conversation], [agent], [own_block]]


def test_actions_run_in_action_order_after_creates() -> None:
    delete = Delete(Address.dedicated_agent("zed"), "agent-zed", "no longer declared")
    detach = Detach(COMPANY, SUPPORT, "block-1")
    attach = Attach(Address.identity("carol"), SUPPORT)
    update = Update(SUPPORT, "agent-1", ())
    create = Create(ALICE)
    assert in_order([delete, detach, attach, update, create]) == [
        create,
        update,
        attach,
        detach,
        delete,
    ]


def test_a_create_whose_dependency_exists_already_runs_in_the_first_wave() -> None:
    conversation = Create(Address.conversation(SUPPORT, "bob"))
    agent = Create(ALICE)
    assert phases([conversation, agent]) == [[agent, conversation]]
