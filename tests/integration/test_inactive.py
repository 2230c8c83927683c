"""`letta-apply inactive` against the real server: a stack applied, some users' activity put
in the past, and exactly those users listed; their removal or move written to the manifests,
which stay valid and plan the deletions or moves.

Activity is moved back through the API: the server accepts `last_run_completion` in an
agent's update and `last_message_at` in a conversation's (the fields it sets itself when a
message is processed). Creation times only the database holds (`tests/integration/database.py`).
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from letta_client import Letta

from tests.integration.database import session_socket, set_created_at
from tests.integration.helpers import letta_apply, write_manifest

pytestmark = pytest.mark.server

MANIFEST = """
apiVersion: letta-apply/v1
stack: {stack}
defaults: {{model: letta/letta-free, embedding: letta/letta-free}}
templates:
  assistant:
    blocks:
      human: {{value: "User ${{user.id}}"}}
agents:
  desk:
    blocks:
      persona: {{value: "I help."}}
users:
  # dedicated users
  - {{id: old-{stack}, pattern: dedicated, tags: [beta]}}   # last run long ago
  - id: recent-{stack}
    pattern: dedicated
  - {{id: new-{stack}, pattern: dedicated}}
  # shared users
  - {{id: quiet-{stack}, pattern: shared, agent: desk}}
  - {{id: chatty-{stack}, pattern: shared, agent: desk}}
usersFrom: users.csv
"""

USERS_CSV = "id,pattern,agent\nfile-old-{stack},dedicated,\nfile-quiet-{stack},shared,desk\n"


def write_stack(directory: Path, stack: str) -> Path:
    write_manifest(directory, MANIFEST.format(stack=stack))
    (directory / "users.csv").write_text(USERS_CSV.format(stack=stack))
    return directory


def owned_agents(sdk: Letta, stack: str) -> dict[str, dict[str, Any]]:
    """The stack's agents by name (as the server lists them, without includes)."""
    params = {"tags": [f"letta-apply:{stack}"], "limit": 100}
    listed = sdk.get("/v1/agents/", cast_to=list[dict[str, Any]], options={"params": params})
    return {agent["name"]: agent for agent in listed}


def conversations(sdk: Letta, agent_id: str) -> dict[str, dict[str, Any]]:
    """The shared agent's conversations by the user their ownership marker names."""
    params = {"agent_id": agent_id, "limit": 100}
    listed = sdk.get("/v1/conversations/", cast_to=list[dict[str, Any]], options={"params": params})
    return {c["summary"].rsplit("/", 1)[1].rstrip("]"): c for c in listed}


def last_run(sdk: Letta, agent_id: str, when: datetime) -> None:
    sdk.patch(f"/v1/agents/{agent_id}", cast_to=object, body={"last_run_completion": iso(when)})


def last_message(sdk: Letta, conversation_id: str, when: datetime) -> None:
    body = {"last_message_at": iso(when)}
    sdk.patch(f"/v1/conversations/{conversation_id}", cast_to=object, body=body)


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def inactive(path: Path, url: str, *args: str) -> dict[str, Any]:
    result = letta_apply("inactive", str(path), "--days", "90", "--format", "json", *args, url=url)
    assert result.code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def planned(path: Path, url: str) -> dict[str, set[str]]:
    """The plan with prune, as the addresses of each action."""
    assert letta_apply("validate", str(path), url=url).code == 0
    result = letta_apply("plan", str(path), "--prune", "--format", "json", url=url)
    assert result.code == 0, result.output
    by_action: dict[str, set[str]] = {}
    for change in json.loads(result.stdout)["changes"]:
        by_action.setdefault(change["action"], set()).add(change["address"])
    return by_action


def test_users_without_recent_activity_are_listed_removed_or_moved(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    stack = stack_name
    path = write_stack(tmp_path / "m", stack)
    assert letta_apply(str(path), url=letta_url).code == 0
    assert inactive(path, letta_url)["users"] == []  # everything was just created

    now = datetime.now(UTC)
    agents = owned_agents(sdk, stack)
    last_run(sdk, agents[f"assistant-old-{stack}"]["id"], now - timedelta(days=200))
    last_run(sdk, agents[f"assistant-recent-{stack}"]["id"], now - timedelta(days=10))
    last_run(sdk, agents[f"assistant-file-old-{stack}"]["id"], now - timedelta(days=120))
    talks = conversations(sdk, agents["desk"]["id"])
    last_message(sdk, talks[f"quiet-{stack}"]["id"], now - timedelta(days=300))
    last_message(sdk, talks[f"chatty-{stack}"]["id"], now - timedelta(days=5))
    last_message(sdk, talks[f"file-quiet-{stack}"]["id"], now - timedelta(days=91))

    report = inactive(path, letta_url)
    found = {(u["address"], u["basis"], u["days_idle"], u["change"]) for u in report["users"]}
    assert found == {
        (f"agent/user:old-{stack}", "last-run", 200, "remove"),
        (f"agent/user:file-old-{stack}", "last-run", 120, "remove"),
        (f"conversation/desk/quiet-{stack}", "last-message", 300, "remove"),
        (f"conversation/desk/file-quiet-{stack}", "last-message", 91, "remove"),
    }
    ids = {u["id"] for u in report["users"]}
    assert agents[f"assistant-old-{stack}"]["id"] in ids and talks[f"quiet-{stack}"]["id"] in ids
    assert report["edit"]["written"] is False
    assert (path / "stack.yaml").read_text() == MANIFEST.format(stack=stack).lstrip()

    moved = tmp_path / "moved"
    shutil.copytree(path, moved)
    removed = path
    assert letta_apply("inactive", str(removed), "--days", "90", "--write", url=letta_url).code == 0
    text = (removed / "stack.yaml").read_text()
    assert "# dedicated users\n  - id: recent-" in text and "old-" not in text
    assert "quiet-" not in text and "chatty-" in text
    assert (removed / "users.csv").read_text() == "id,pattern,agent\n"
    assert planned(removed, letta_url) == {
        "delete": {
            f"agent/user:old-{stack}",
            f"agent/user:file-old-{stack}",
            f"conversation/desk/quiet-{stack}",
            f"conversation/desk/file-quiet-{stack}",
        }
    }

    report = inactive(moved, letta_url, "--move-to", "desk", "--write")
    assert report["edit"]["written"] is True
    assert {u["user"]: u["change"] for u in report["users"]} == {
        f"old-{stack}": "move",
        f"file-old-{stack}": "move",
        f"quiet-{stack}": None,
        f"file-quiet-{stack}": None,
    }
    assert f"  - {{id: old-{stack}, pattern: shared, agent: desk}}" in (
        (moved / "stack.yaml").read_text()
    )
    assert planned(moved, letta_url) == {
        "create": {f"conversation/desk/old-{stack}", f"conversation/desk/file-old-{stack}"},
        "delete": {f"agent/user:old-{stack}", f"agent/user:file-old-{stack}"},
    }


def test_users_who_never_used_what_was_made_for_them_count_from_its_creation(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta, server_state_root: Path
) -> None:
    socket = session_socket(server_state_root)
    stack = stack_name
    path = write_stack(tmp_path / "m", stack)
    assert letta_apply(str(path), url=letta_url).code == 0
    agents = owned_agents(sdk, stack)
    talks = conversations(sdk, agents["desk"]["id"])
    long_ago = datetime.now(UTC) - timedelta(days=150)
    set_created_at(socket, "agents", [agents[f"assistant-new-{stack}"]["id"]], long_ago)
    set_created_at(socket, "conversations", [talks[f"chatty-{stack}"]["id"]], long_ago)
    # Created long ago but used since: not inactive.
    set_created_at(socket, "agents", [agents[f"assistant-recent-{stack}"]["id"]], long_ago)
    last_run(sdk, agents[f"assistant-recent-{stack}"]["id"], datetime.now(UTC))

    result = letta_apply("inactive", str(path), "--days", "100", url=letta_url)
    assert result.code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"Stack {stack}: 2 user(s) inactive for 100 days or more (as of ")
    created = f"{long_ago:%Y-%m-%d} (created, never used)"
    assert lines[2].split() == [
        f"new-{stack}",
        "dedicated",
        f"agent/user:new-{stack}",
        *created.split(),
        "150",
        "days",
    ]
    assert lines[3].split() == [
        f"chatty-{stack}",
        "shared",
        f"conversation/desk/chatty-{stack}",
        *created.split(),
        "150",
        "days",
    ]
    assert f"-  - {{id: new-{stack}, pattern: dedicated}}" in result.stdout
    assert f"-  - {{id: chatty-{stack}, pattern: shared, agent: desk}}" in result.stdout
