"""The commands that read the server for a report or a part of a stack, run as a CI job runs
them against the in-memory server: the isolation audit, idle users, scoped runs, outputs."""

from __future__ import annotations

import json
from pathlib import Path

from tests.offline.stacks import Cli, Server, desired
from tests.offline.test_apply import MIXED, mixed

SALES = MIXED.replace("blocks:\n  company:", "  sales: {}\nblocks:\n  company:")


def test_the_audit_names_each_broken_rule(server: Server, cli: Cli, tmp_path: Path) -> None:
    folder = str(tmp_path / "stack")
    server.apply(mixed(tmp_path, SALES))
    assert "no violations" in cli("audit", folder).out

    letta = server.letta
    alice, support, sales = (server.named(n) for n in ("assistant-alice", "support", "sales"))
    alice["tags"].append("user:mallory")
    [carol] = [i for i in letta.identities.rows.values() if i["identifier_key"] == "carol"]
    alice["identity_ids"].append(carol["id"])
    [bob] = letta.conversations.rows.values()
    bob["agent_id"] = sales["id"]
    letta.agent(name="impostor", tags=["user:alice"])
    letta.agent(name="unrecorded", tags=["letta-apply:acme"])
    assert support["tags"] == ["letta-apply:acme"]

    ran = cli("audit", folder, "--format", "json")
    assert ran.code == 2
    rules = sorted(v["rule"] for v in json.loads(ran.out)["violations"])
    assert rules == [
        "complete-ownership-record",
        "conversation-on-declared-agent",
        "identity-where-declared",
        "one-user-tag",
        "tag-on-one-agent",
    ]
    ran = cli("audit", folder)
    assert ran.code == 2 and "5 violation(s)" in ran.out


def test_idle_users_are_listed_by_their_last_activity(
    server: Server, cli: Cli, tmp_path: Path
) -> None:
    server.apply(mixed(tmp_path))
    server.named("assistant-alice")["last_run_completion"] = "2020-01-01T00:00:00Z"
    [bob] = server.letta.conversations.rows.values()
    bob["last_message_at"] = "2020-02-01T00:00:00+00:00"
    ran = cli("inactive", str(tmp_path / "stack"), "--days", "30", "--format", "json")
    assert ran.code == 0
    idle = {
        u["user"]: (u["address"], u["last_activity"][:10], u["basis"])
        for u in json.loads(ran.out)["users"]
    }
    assert idle == {
        "alice": ("agent/user:alice", "2020-01-01", "last-run"),
        "bob": ("conversation/support/bob", "2020-02-01", "last-message"),
    }


def test_a_scoped_run_reads_and_changes_only_its_users(
    server: Server, cli: Cli, tmp_path: Path
) -> None:
    server.apply(mixed(tmp_path))
    changed = MIXED.replace("User ID: ${user.id}", "User: ${user.id}").replace(
        "{id: bob, pattern: shared, agent: support}",
        "{id: bob, pattern: shared, agent: support}\n  - {id: dave, pattern: dedicated}",
    )
    mixed(tmp_path, changed.replace("policy: seed", "policy: enforce"))
    folder = str(tmp_path / "stack")
    since = len(server.letta.requests)
    ran = cli(folder, "--users", "alice,dave,bob,carol")
    assert ran.code == 0, ran.err
    assert not [r for r in server.letta.requests[since:] if "tool_types" in r.query]
    values = sorted(b["value"] for b in server.letta.blocks.rows.values() if b["label"] == "human")
    assert values == ["User: alice", "User: dave"]
    ran = cli("plan", folder, "--detailed-exitcode")
    assert ran.code == 0, ran.out


def test_a_scoped_run_finds_a_renamed_shared_agent_instead_of_making_another(
    server: Server, cli: Cli, tmp_path: Path
) -> None:
    server.apply(mixed(tmp_path))
    server.named("support")["name"] = "helpdesk"
    ran = cli(str(tmp_path / "stack"), "--target", "agent/support")
    assert ran.code == 0, ran.err
    names = [a["name"] for a in server.letta.agents.rows.values()]
    assert names.count("support") == 1 and "helpdesk" not in names


def test_outputs_give_the_ids_apps_keep(server: Server, cli: Cli, tmp_path: Path) -> None:
    server.apply(mixed(tmp_path))
    ran = cli("outputs", str(tmp_path / "stack"))
    users = json.loads(ran.out)["users"]
    assert users["alice"]["agent_id"] == server.named("assistant-alice")["id"]
    [bob] = server.letta.conversations.rows.values()
    assert users["bob"]["conversation_id"] == bob["id"]


def test_an_export_matching_nothing_names_everything_an_export_covers(
    server: Server, cli: Cli, tmp_path: Path
) -> None:
    """Nothing to export is said of agents, folders and archives (and what comes with the
    agents), not of agents alone: a stack owning only a folder has something to export."""
    nothing = cli("export", "--out", str(tmp_path / "none"), "--stack", "acme")
    assert nothing.code == 1
    assert (
        "nothing to export: stack 'acme' marks no agent, folder or archive as its own (memory "
        "blocks, tools, identities and conversations are exported with its agents); nothing "
        "written" in nothing.err
    )
    assert not (tmp_path / "none").exists()
    tagged = cli("export", "--out", str(tmp_path / "none"), "--tag", "team:nobody")
    assert tagged.code == 1
    assert "no agent carries a tag matching team:nobody (memory blocks" in tagged.err
    assert "folders and archives are exported with the agents they belong to" in tagged.err

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n", encoding="utf-8")
    server.apply(desired(tmp_path, 'folders:\n  docs: {files: "docs/*.md"}\n', folder="."))
    only_a_folder = cli("export", "--out", str(tmp_path / "out"), "--stack", "acme")
    assert only_a_folder.code == 0, only_a_folder.err
    assert "folders:" in (tmp_path / "out" / "stack.yaml").read_text(encoding="utf-8")
