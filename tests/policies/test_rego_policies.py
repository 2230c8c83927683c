"""The Rego policies of examples/policies, evaluated by a Rego engine (regopy) on the JSON
documents of plans the planner made: each passes a plan it should pass, and denies a plan it
should deny with a message naming the address at fault."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import regopy

from reconciler.desired import Policy
from reconciler.planner import build_plan
from reconciler.render import render_json
from tests.plan.data import TARGET, live_from_json, load_case

POLICIES = Path(__file__).resolve().parents[2] / "examples" / "policies"
PLAN_CASES = Path(__file__).resolve().parents[1] / "plan" / "cases"
ZED_DELETED = PLAN_CASES / "07-undeclared-user-deleted-with-prune-and-its-blocks"
"""Prune on; undeclared user zed's agent (tagged tier:premium) is deleted with its 2 blocks."""
DUPLICATES_PRUNED = PLAN_CASES / "19-duplicates-of-every-kind-pruned-keep-the-oldest"
"""4 deletes (a duplicate agent, block, conversation, identity): 6 resources with the agent's
own blocks."""

Document = dict[str, Any]

PROD_ZED_DENIED = (
    "agent/user:zed: deleting an agent tagged tier:prod is not allowed (no longer declared)"
)
ZED_OVER_2 = "the plan deletes 3 resources, more than the 2 allowed: agent/user:zed"


def plan_document(case: Path, live: Callable[[Document], None] = lambda _raw: None) -> Document:
    """The `--format json` document of the planner's plan for a planner case, its live.json
    first changed by `live`."""
    desired, _ = load_case(case)
    raw = json.loads((case / "live.json").read_text(encoding="utf-8"))
    live(raw)
    plan = build_plan(desired, live_from_json(desired.stack, raw), target=TARGET)
    parsed: Document = json.loads(render_json(plan))
    return parsed


def zed_deleted(tags: list[str] | None = None, more_users: int = 0) -> Document:
    """The plan deleting zed's agent, with `tags` as its tags on the server (if given) and
    `more_users` more undeclared users like zed (zed1, zed2, ...), each deleted with 2 blocks."""

    def change(raw: Document) -> None:
        [zed] = [agent for agent in raw["agents"] if agent["id"] == "agent-zed"]
        if tags is not None:
            zed["tags"] = tags
        copy = json.dumps(zed)
        raw["agents"] += [
            json.loads(copy.replace("zed", f"zed{n}")) for n in range(1, 1 + more_users)
        ]

    return plan_document(ZED_DELETED, change)


def prod_zed_deleted() -> Document:
    return zed_deleted(["letta-apply:acme", "tier:prod", "user:zed"])


def zed_and_2_more_deleted() -> Document:
    return zed_deleted(more_users=2)


def zed_and_3_more_deleted() -> Document:
    return zed_deleted(more_users=3)


def zed_deleted_without_tags() -> Document:
    """The plan as a letta-apply writing format_version 2 would give it: no tags on deletes."""
    document = prod_zed_deleted()
    for change in document["changes"]:
        change.pop("tags", None)
    return document


CREATES_EVERYTHING = PLAN_CASES / "01-empty-server-creates-everything"
"""Alice's agent (persona enforced, human seeded), the support agent and a shared block."""


def personas_enforced() -> Document:
    return plan_document(CREATES_EVERYTHING)


def alice_persona_seeded() -> Document:
    """The same plan with alice's persona declared `policy: seed` in the manifest."""
    desired, live = load_case(CREATES_EVERYTHING)
    template = desired.agents[[str(a.address) for a in desired.agents].index("agent/user:alice")]
    blocks = tuple(
        replace(b, policy=Policy.SEED) if b.label == "persona" else b for b in template.blocks
    )
    agents = tuple(replace(a, blocks=blocks) if a is template else a for a in desired.agents)
    plan = build_plan(replace(desired, agents=agents), live, target=TARGET)
    parsed: Document = json.loads(render_json(plan))
    return parsed


def without_block_policies() -> Document:
    document = personas_enforced()
    del document["block_policies"]
    return document


def deny(policy: str, document: Document, data: Document | None = None) -> list[str]:
    """The messages of `deny` in examples/policies/<policy>.rego for the plan document."""
    rego = interpreter([POLICIES / f"{policy}.rego"], document, data)
    query = f"data.letta.plan.{policy}.deny"
    output = rego.query(query)
    assert output.ok(), str(output)
    # One result, whose expressions are empty when the query is undefined (the package or the
    # rule named otherwise) and otherwise hold the set, as a list.
    [result] = output.results
    assert result.expressions, f"{query} is undefined"
    [messages] = result.expressions
    assert isinstance(messages, list), messages
    return messages


def interpreter(policies: list[Path], document: Document, data: Document | None) -> Any:
    """A Rego interpreter holding the policies, with the document as input."""
    rego = regopy.Interpreter()
    for path in policies:
        rego.add_module(path.name, path.read_text(encoding="utf-8"))
    if data is not None:
        rego.add_data_json(json.dumps(data))
    rego.set_input_term(json.dumps(document))
    return rego


@dataclass(frozen=True)
class Case:
    """A policy run on one plan: `denied` lists the messages expected, none for a pass."""

    policy: str
    plan: Callable[[], Document]
    denied: tuple[str, ...] = ()
    data: Document | None = None

    @property
    def id(self) -> str:
        verdict = "denies" if self.denied else "passes"
        data = f"-data={json.dumps(self.data, separators=(',', ':'))}" if self.data else ""
        return f"{self.policy}-{verdict}-{self.plan.__name__}{data}"


def limit(n: int) -> Document:
    return {"letta": {"max_deletes": n}}


CASES = [
    Case("no_prod_agent_deletes", zed_deleted),
    Case("no_prod_agent_deletes", prod_zed_deleted, (PROD_ZED_DENIED,)),
    Case(
        "no_prod_agent_deletes",
        zed_deleted_without_tags,
        (
            "agent/user:zed: the plan does not record the agent's tags; make it with a "
            "letta-apply writing plan format_version 3 or later",
        ),
    ),
    Case("persona_enforced", personas_enforced),
    Case(
        "persona_enforced",
        alice_persona_seeded,
        ("block/user:alice/persona: a persona block must be enforced (it is declared seed)",),
    ),
    Case(
        "persona_enforced",
        without_block_policies,
        (
            "the plan does not record block policies; make it with a letta-apply writing "
            "plan format_version 3 or later",
        ),
    ),
    Case("max_deletes", zed_deleted, data=limit(3)),
    Case("max_deletes", zed_deleted, (ZED_OVER_2,), limit(2)),
    Case("max_deletes", zed_and_2_more_deleted),
    Case(
        "max_deletes",
        zed_and_3_more_deleted,
        (
            "the plan deletes 12 resources, more than the 10 allowed: agent/user:zed, "
            "agent/user:zed1, agent/user:zed2, agent/user:zed3",
        ),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_policy_on_a_plan(case: Case) -> None:
    assert deny(case.policy, case.plan(), case.data) == list(case.denied)


def test_every_policy_passes_one_plan_and_denies_another() -> None:
    policies = {path.stem for path in POLICIES.glob("*.rego")}
    assert policies
    assert {case.policy for case in CASES if not case.denied} == policies
    assert {case.policy for case in CASES if case.denied} == policies


def test_max_deletes_counts_resources_as_the_summary_does() -> None:
    document = plan_document(DUPLICATES_PRUNED)
    assert (document["summary"]["delete"], document["summary"]["deleted_resources"]) == (4, 6)
    [message] = deny("max_deletes", document, limit(5))
    assert message.startswith("the plan deletes 6 resources, more than the 5 allowed: ")
    assert deny("max_deletes", document, limit(6)) == []


def test_all_policies_at_once_as_opa_eval_runs_them() -> None:
    """The query the README gives `opa eval`, on every policy loaded together."""
    rego = interpreter(sorted(POLICIES.glob("*.rego")), prod_zed_deleted(), limit(2))
    output = rego.query("data.letta.plan[policy].deny[message]")
    assert output.ok(), str(output)
    found = {(r.bindings["policy"], r.bindings["message"]) for r in output.results}
    assert found == {("no_prod_agent_deletes", PROD_ZED_DENIED), ("max_deletes", ZED_OVER_2)}
