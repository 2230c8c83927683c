"""The plan-and-apply flow of the library against the real server: what it shows, whom it
asks and when, what a refusal leaves behind, and who may approve deletions."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.client import LettaApi, Target
from reconciler.desired import DesiredState
from reconciler.errors import Declined, UnsafePlanError
from reconciler.manifest import load_desired
from reconciler.plan.model import Action, Plan
from reconciler.planning import make_plan
from reconciler.workflow import ApplyOptions, Hooks, plan_and_apply
from tests.integration.helpers import write_manifest

pytestmark = pytest.mark.server

MANIFEST = """
apiVersion: letta-apply/v1
stack: {stack}
defaults: {{model: letta/letta-free, embedding: letta/letta-free}}
prune: {{enabled: true, maxDeletePercent: 100}}
templates:
  assistant:
    blocks:
      persona: {{value: "I am a personal assistant.", policy: enforce}}
users:
{users}
"""


def desired(tmp_path: Path, stack: str, *users: str) -> DesiredState:
    """The stack with a dedicated agent per user; ids are made unique to the stack, since a
    user tag another stack's agent carries would block the user."""
    listed = "\n".join(
        f"  - {{id: {u}-{stack}, pattern: dedicated, template: assistant}}" for u in users
    )
    return load_desired(
        [write_manifest(tmp_path / "m", MANIFEST.format(stack=stack, users=listed))]
    )


class Recorded:
    """Hooks that write down, in order, what the flow told them and asked them."""

    def __init__(self, answer: bool | None) -> None:
        self.events: list[str] = []
        self.answer = answer

    def hooks(self) -> Hooks:
        return Hooks(
            show=lambda plan: self.events.append(f"show {len(plan.changes)}"),
            confirm=None if self.answer is None else self._confirm,
            progress=lambda done, total, _result: self.events.append(f"progress {done}/{total}"),
            finished=lambda results: self.events.append(f"finished {len(results)}"),
        )

    def _confirm(self, plan: Plan) -> bool:
        self.events.append(f"confirm {len(plan.changes)}")
        return bool(self.answer)


def replan(api: LettaApi, state: DesiredState) -> Plan:
    plan, _live = make_plan(api, state, prune=None, parallelism=8)
    return plan


def test_shown_then_asked_then_applied_and_a_no_op_asks_nothing(
    tmp_path: Path, letta_url: str, stack_name: str
) -> None:
    state = desired(tmp_path, stack_name, "alice")
    first, again = Recorded(answer=True), Recorded(answer=True)
    with LettaApi(Target(letta_url)) as api:
        plan_and_apply(api, state, ApplyOptions(), first.hooks())
        plan_and_apply(api, state, ApplyOptions(), again.hooks())
    assert first.events == ["show 1", "confirm 1", "progress 1/1", "finished 1"]
    assert again.events == ["show 0"]


def test_a_declined_plan_changes_nothing_and_releases_the_lock(
    tmp_path: Path, letta_url: str, stack_name: str
) -> None:
    state = desired(tmp_path, stack_name, "alice")
    declined = Recorded(answer=False)
    with LettaApi(Target(letta_url)) as api:
        with pytest.raises(Declined):
            plan_and_apply(api, state, ApplyOptions(), declined.hooks())
        assert [c.action for c in replan(api, state).changes] == [Action.CREATE]
        plan_and_apply(api, state, ApplyOptions(), Hooks())  # the lock was released
        assert not replan(api, state).has_changes
    assert declined.events == ["show 1", "confirm 1"]


def test_deletions_need_allow_delete_unless_a_person_approves_them(
    tmp_path: Path, letta_url: str, stack_name: str
) -> None:
    with LettaApi(Target(letta_url)) as api:
        plan_and_apply(api, desired(tmp_path, stack_name, "alice", "bob"), ApplyOptions(), Hooks())
        fewer = desired(tmp_path, stack_name, "alice")
        unattended = Recorded(answer=None)
        with pytest.raises(UnsafePlanError, match="--allow-delete"):
            plan_and_apply(api, fewer, ApplyOptions(), unattended.hooks())
        assert unattended.events == ["show 1"]
        approved = Recorded(answer=True)
        plan_and_apply(api, fewer, ApplyOptions(), approved.hooks())
        assert approved.events == ["show 1", "confirm 1", "progress 1/1", "finished 1"]
        assert not replan(api, fewer).has_changes
