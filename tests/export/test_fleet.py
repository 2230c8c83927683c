"""Inferring a stack from a snapshot: users from the three patterns, templates factored from
alike agents, shared blocks, and every value reproduced exactly once the written manifests are
loaded again."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.address import Address
from reconciler.desired import DesiredState
from reconciler.export import Snapshot, UsersFile, infer, write_stack
from reconciler.export.snapshot import ServerConversation
from reconciler.kinds.agent_record import SHAPE as AGENT
from reconciler.live.state import LiveAgent
from reconciler.manifest import load_desired

from .fleets import block, dedicated, server_agent, server_identity

HUMAN = "User ID: {user}\nName: {name}\nPreferences: (to be learned)"
PEOPLE = {"ann": "Ann", "ben": "Ben", "cy": "Cy"}


def _written(tmp_path: Path, snapshot: Snapshot, users: UsersFile = UsersFile.AUTO) -> DesiredState:
    exported = infer(snapshot, "acme")
    write_stack(tmp_path / "out", exported, users)
    return load_desired([tmp_path / "out"], tmp_path / "out")


def _agent(state: DesiredState, key: str) -> dict[str, object]:
    [spec] = [a for a in state.agents if a.address == Address.parse(f"agent/{key}")]
    return {"name": spec.name, **{b.label: b.value for b in spec.blocks}}


def test_dedicated_agents_alike_share_one_template_with_variables(tmp_path: Path) -> None:
    agents = [
        dedicated(u, f"assistant-{u}", HUMAN.format(user=u, name=n)) for u, n in PEOPLE.items()
    ]
    exported = infer(Snapshot(tuple(agents), (), ()), "acme")
    [template] = exported.document["templates"].values()
    assert template["name"] == "assistant-${user.id}"
    assert template["blocks"]["human"]["value"] == HUMAN.format(
        user="${user.id}", name="${user.name}"
    )
    assert template["blocks"]["human"]["policy"] == "seed"
    assert {u["id"]: u.get("name") for u in exported.users} == PEOPLE
    state = _written(tmp_path, Snapshot(tuple(agents), (), ()))
    for user, name in PEOPLE.items():
        assert _agent(state, f"user:{user}")["human"] == HUMAN.format(user=user, name=name)


def test_names_and_learned_memory_without_a_pattern_are_kept_per_user(tmp_path: Path) -> None:
    names = {"ann": "Ann's helper", "ben": "my bot", "cy": "assistant-cy"}
    learned = {"ann": "Likes tea.\n${not a variable}", "ben": "  spaces kept  ", "cy": "\tTabbed"}
    agents = [dedicated(u, names[u], learned[u]) for u in names]
    state = _written(tmp_path, Snapshot(tuple(agents), (), ()))
    for user in names:
        assert _agent(state, f"user:{user}") == {
            "name": names[user],
            "persona": "I am a personal assistant.",
            "human": learned[user],
        }
    [human] = {b.policy for a in state.agents for b in a.blocks if b.label == "human"}
    assert human.value == "seed"


def test_a_block_on_several_agents_becomes_a_shared_block(tmp_path: Path) -> None:
    policies = block("b-policies", "policies", "Refunds within 30 days.")
    support = server_agent(
        "agent-support", "support desk", [policies, block("b-p", "persona", "I help.")]
    )
    ann = server_agent("agent-ann", "assistant-ann", [policies], ["user:ann"])
    exported = infer(Snapshot((support, ann), (), ()), "acme")
    assert exported.document["blocks"]["policies"]["value"] == "Refunds within 30 days."
    assert exported.document["agents"]["support-desk"]["name"] == "support desk"
    assert exported.document["agents"]["support-desk"]["sharedBlocks"] == ["policies"]
    state = _written(tmp_path, Snapshot((support, ann), (), ()))
    assert [str(b.address) for b in state.blocks] == ["block/policies"]


def test_shared_users_from_summaries_and_identity_users_from_identities(tmp_path: Path) -> None:
    carol = server_identity("identity-1", "carol", "Carol", plan="pro")
    orphan = server_identity("identity-2", "dan", "Dan")
    support = server_agent("agent-s", "support", [], identities=[{"id": "identity-1"}])
    conversations = tuple(
        ServerConversation(f"conv-{n}", "agent-s", f"Support chat for g-{n}") for n in range(3)
    )
    snapshot = Snapshot((support,), conversations, (carol, orphan))
    exported = infer(snapshot, "acme")
    assert exported.document["agents"]["support"]["conversationSummary"] == (
        "Support chat for ${user.id}"
    )
    assert any("'dan' left out" in note for note in exported.notes)
    state = _written(tmp_path, snapshot)
    assert [c.summary for c in state.conversations] == [f"Support chat for g-{n}" for n in range(3)]
    [identity] = state.identities
    assert (identity.identifier_key, identity.name, dict(identity.properties)) == (
        "carol",
        "Carol",
        {"plan": "pro"},
    )


def test_summaries_naming_no_user_keep_each_summary(tmp_path: Path) -> None:
    support = server_agent("agent-s", "support", [])
    conversations = (
        ServerConversation("conv-1", "agent-s", "Refund question!"),
        ServerConversation("conv-2", "agent-s", "Refund question!"),
    )
    state = _written(tmp_path, Snapshot((support,), conversations, ()))
    assert [(c.user_id, c.summary) for c in state.conversations] == [
        ("conv-1", "Refund question!"),
        ("conv-2", "Refund question!"),
    ]


def test_agents_that_cannot_be_told_apart_are_left_out_with_a_note() -> None:
    twice = [dedicated("ann", "a", "x"), server_agent("agent-2", "b", [], ["user:ann"])]
    both = server_agent("agent-3", "c", [], ["user:x", "user:y"])
    exported = infer(Snapshot((*twice, both), (), ()), "acme")
    assert exported.users == []
    assert any("2 agents carry its tag" in note for note in exported.notes)
    assert any("2 user tags" in note for note in exported.notes)


@pytest.mark.parametrize(
    ("count", "users", "expected"),
    [
        (3, UsersFile.AUTO, None),
        (51, UsersFile.AUTO, "users.csv"),
        (3, UsersFile.ALWAYS, "users.csv"),
    ],
)
def test_many_users_go_to_a_csv_file(
    tmp_path: Path, count: int, users: UsersFile, expected: str | None
) -> None:
    agents = [dedicated(f"u{n}", f"assistant-u{n}", f"User u{n}") for n in range(count)]
    exported = infer(Snapshot(tuple(agents), (), ()), "acme")
    written = write_stack(tmp_path, exported, users)
    assert sorted(p.name for p in written) == sorted(
        ["stack.yaml", *([expected] if expected else [])]
    )
    assert len(load_desired([tmp_path], tmp_path).agents) == count


def test_values_a_csv_cell_cannot_hold_go_to_json_lines(tmp_path: Path) -> None:
    agents = [dedicated(u, f"bot {n}", f" learned {n} ") for n, u in enumerate(("a", "b"))]
    exported = infer(Snapshot(tuple(agents), (), ()), "acme")
    written = write_stack(tmp_path, exported, UsersFile.ALWAYS)
    assert sorted(p.name for p in written) == ["stack.yaml", "users.jsonl"]
    state = load_desired([tmp_path], tmp_path)
    assert [b.value for a in state.agents for b in a.blocks if b.label == "human"] == [
        " learned 0 ",
        " learned 1 ",
    ]


def test_a_stacks_own_resources_keep_their_recorded_names() -> None:
    from reconciler.kinds import agent

    record = {"letta_apply": {"stack": "acme", "address": "block/company"}}
    company = block("b-c", "knowledge", "Acme makes rockets.", metadata=record)
    raw = {
        "id": "agent-1",
        "name": "helpdesk",
        "model": "letta/letta-free",
        "embedding": "letta/letta-free",
        "tags": ["letta-apply:acme"],
        "metadata": {"letta_apply": {"stack": "acme", "address": "agent/desk", "protected": True}},
        "blocks": [company],
    }
    desk = agent.from_server(AGENT.parse(raw, "test"), "acme")
    conversations = (ServerConversation("conv-1", "agent-1", "Hi there", user_id="bob"),)
    exported = infer(Snapshot((desk,), conversations, ()), "acme", stack="acme")
    assert exported.document["blocks"] == {
        "company": {
            "label": "knowledge",
            "value": "Acme makes rockets.",
            "limit": 5000,
            "policy": "seed",
        }
    }
    assert exported.document["agents"]["desk"]["name"] == "helpdesk"
    assert exported.document["agents"]["desk"]["protected"] is True
    assert exported.document["agents"]["desk"]["conversationSummary"] == "Hi there"
    assert exported.users == [{"id": "bob", "pattern": "shared", "agent": "desk"}]


def test_descriptions_naming_their_user_do_not_split_the_template(tmp_path: Path) -> None:
    agents = [dedicated(u, f"assistant-{u}", "hi", description=f"Assistant of {u}") for u in PEOPLE]
    exported = infer(Snapshot(tuple(agents), (), ()), "acme")
    [template] = exported.document["templates"].values()
    assert template["description"] == "Assistant of ${user.id}"
    state = _written(tmp_path, Snapshot(tuple(agents), (), ()))
    assert {a.settings["description"] for a in state.agents} == {
        f"Assistant of {u}" for u in PEOPLE
    }


def test_custom_tools_no_stack_owns_are_defined_from_their_source(tmp_path: Path) -> None:
    from reconciler.export.snapshot import ServerTool

    refs = [
        {"id": "tool-1", "name": "lookup_order", "tool_type": "custom"},
        {"id": "tool-2", "name": "theirs", "tool_type": "custom"},
        {"id": "tool-3", "name": "broken", "tool_type": "custom"},
        {"id": "tool-4", "name": "web_search", "tool_type": "letta_builtin"},
        {"id": "tool-5", "name": "memory_insert", "tool_type": "letta_memory_core"},
    ]
    desk = server_agent("agent-s", "support", [], tools=refs)
    tools = (
        ServerTool(
            "lookup_order", "def lookup_order(order_id: str) -> str:\n    return order_id\n"
        ),
        ServerTool("theirs", "def theirs() -> None: ...\n", owner="other"),
        ServerTool("broken", "def something_else(): ...\n"),
    )
    snapshot = Snapshot((desk,), (), (), tools=tools)
    exported = infer(snapshot, "acme")
    assert exported.document["tools"] == {"lookup_order": {"source": "tools/lookup_order.py"}}
    assert exported.document["agents"]["support"]["tools"] == [
        "broken",
        "lookup_order",
        "theirs",
        "web_search",
    ]
    assert any("'broken'" in note for note in exported.notes)
    state = _written(tmp_path, snapshot)
    [tool] = state.tools
    assert tool.source_code == tools[0].source


def test_a_stacks_own_user_tag_format_is_kept() -> None:
    from reconciler.kinds import agent

    def owned(user: str) -> LiveAgent:
        record = {"letta_apply": {"stack": "acme", "address": f"agent/user:{user}"}}
        raw = {
            "id": f"agent-{user}",
            "name": f"assistant-{user}",
            "tags": ["letta-apply:acme", f"acme-user:{user}", "team-a"],
            "metadata": record,
            "blocks": [],
        }
        return agent.from_server(AGENT.parse(raw, "test"), "acme")

    snapshot = Snapshot((owned("ann"), owned("bo")), (), ())
    exported = infer(snapshot, "acme", stack="acme")
    assert exported.document["defaults"]["userTag"] == "acme-user:${user.id}"
    [template] = exported.document["templates"].values()
    assert template["tags"] == ["team-a"]
    assert all("tags" not in user for user in exported.users)
