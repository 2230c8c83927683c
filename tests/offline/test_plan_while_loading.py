"""A whole plan reads the server while the stack's users load (`plan_while_loading`): the
same plan as one made after loading; the command line loads the users first, so a users
file found wrong is reported at its `file:line:col` with no request sent; a secret that
cannot be read still stops everything before any request; the agents are listed with the
includes the desired state needs, their first pages asked for once."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest

from reconciler.desired import DesiredState
from reconciler.errors import Cancelled, ManifestError
from reconciler.kinds import agent as agents
from reconciler.manifest import open_stack
from reconciler.planning import make_plan, plan_while_loading
from tests.offline.stacks import Cli, Server, stack

SHARED = """
templates:
  assistant:
    blocks:
      human: {value: "User ID: ${user.id}", policy: seed}
agents:
  support:
    blocks:
      persona: {value: "I am the support agent.", policy: enforce}
usersFrom: users.csv
"""

USERS = """\
id,name,pattern,template,agent
alice,Alice,dedicated,assistant,
bob,Bob,shared,,support
carol,Carol,identity,,support
"""


def written(tmp_path: Path, body: str = SHARED, users: str = USERS) -> Path:
    folder = stack(tmp_path, body)
    (folder / "users.csv").write_text(users, encoding="utf-8")
    return folder


def test_the_stack_is_listed_before_its_users_are_loaded(server: Server, tmp_path: Path) -> None:
    folder = written(tmp_path)
    opened = open_stack([folder])
    applied = open_stack([folder]).desired()
    server.apply(applied)
    listed = threading.Event()

    def seen(request: object) -> None:
        if str(request) == "GET /v1/agents/":
            listed.set()

    server.letta.before = seen

    def load() -> DesiredState:
        # Loading ends only once the stack's agents were asked for: had the reads waited
        # for it, this would time out.
        assert listed.wait(timeout=10)
        return opened.desired()

    assert opened.outline is not None
    desired, plan, live = plan_while_loading(
        server.api, opened.outline, load, prune=None, parallelism=4
    )
    assert desired == applied and not plan.changes
    after, late_live = make_plan(server.api, applied, prune=None, parallelism=4)
    assert plan == after and live == late_live


def test_a_wrong_row_is_reported_at_its_place_and_no_request_is_sent(
    server: Server, cli: Cli, tmp_path: Path
) -> None:
    """`letta-apply plan` loads the users before it connects: bad input sends nothing, not
    even a read (whose answer would be thrown away, and which would carry the key)."""
    folder = written(tmp_path)
    server.apply(open_stack([folder]).desired())
    (folder / "users.csv").write_text(USERS + "dave,Dave,dedicated,asistant,\n")
    since = len(server.letta.requests)
    ran = cli("plan", str(folder))
    assert ran.code == 1
    assert f"{folder / 'users.csv'}:5:" in ran.err and "asistant" in ran.err
    assert server.letta.requests[since:] == []


def test_the_reads_end_when_the_users_cannot_be_loaded(server: Server, tmp_path: Path) -> None:
    """The lookups of declared keys wait for the users: none is sent when they cannot be
    loaded, and the client is cancelled (nothing more is sent)."""
    folder = written(tmp_path)
    server.apply(open_stack([folder]).desired())
    new_user = "dave,Dave,dedicated,assistant,\n"  # a new agent: looked up by its tag
    opened = open_stack([written(tmp_path, users=USERS + new_user)])
    assert opened.outline is not None
    _, plan, _ = plan_while_loading(
        server.api, opened.outline, opened.desired, prune=None, parallelism=4
    )
    assert [str(c.address) for c in plan.changes] == ["agent/user:dave"]
    assert lookups(server) == 1
    opened = open_stack([written(tmp_path, users=USERS + new_user + "erin,Erin,dedicated,x,\n")])
    assert opened.outline is not None
    with pytest.raises(ManifestError):
        plan_while_loading(server.api, opened.outline, opened.desired, prune=None, parallelism=4)
    assert lookups(server) == 1
    sent = len(server.letta.requests)
    with pytest.raises(Cancelled):
        server.api.get("/v1/health/")
    assert len(server.letta.requests) == sent


def lookups(server: Server) -> int:
    """Listings of agents by a user's tag sent so far."""
    return sum(
        1
        for r in server.letta.requests
        if str(r) == "GET /v1/agents/" and "user:dave" in r.query.get("tags", [])
    )


def test_a_secret_no_user_has_does_not_stop_the_plan(
    server: Server, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unused template's secret that cannot be read: the users tell that no agent has it
    (read after loading, as a plan of a stack without that template)."""
    monkeypatch.delenv("NOT_SET_ANYWHERE_42", raising=False)
    body = SHARED.replace(
        "templates:\n",
        "templates:\n  spare:\n    secrets: {TOKEN: {valueFromEnv: NOT_SET_ANYWHERE_42}}\n",
    )
    folder = written(tmp_path, body)
    ran = cli("plan", str(folder), "--allow-env", "NOT_SET_ANYWHERE_42")
    assert ran.code == 0, ran.err
    assert "agent/user:alice" in ran.out


@pytest.mark.parametrize(("template", "listed"), [("assistant", True), ("plain", False)])
def test_the_agents_are_listed_with_their_tools_only_when_an_agent_has_some(
    server: Server, cli: Cli, tmp_path: Path, template: str, listed: bool
) -> None:
    """A template with tools: only the users tell whether an agent is made from it, so the
    agent listing waits for them and includes the agents' tools only if one is."""
    body = SHARED.replace("  assistant:\n", "  plain: {}\n  assistant:\n    tools: [web_search]\n")
    folder = written(tmp_path, body, USERS.replace("assistant", template))
    ran = cli("plan", str(folder))
    assert ran.code == 0, ran.err
    [agents] = [
        r
        for r in server.letta.requests
        if str(r) == "GET /v1/agents/" and r.query.get("tags") == ["letta-apply:acme"]
    ]
    assert ("agent.tools" in agents.query.get("include", [])) is listed


def test_the_model_lists_are_asked_for_only_when_the_plan_sends_a_handle(
    server: Server, cli: Cli, tmp_path: Path
) -> None:
    folder = written(tmp_path)
    server.apply(open_stack([folder]).desired())
    since = len(server.letta.requests)
    assert cli("plan", str(folder), "--detailed-exitcode").code == 0
    assert not [r for r in server.letta.requests[since:] if r.path.startswith("/v1/models/")]
    body = SHARED.replace("templates:\n", "templates:\n  other: {model: openai/gpt-nope}\n")
    written(tmp_path, body, USERS + "dave,Dave,dedicated,other,\n")
    ran = cli("plan", str(folder))
    assert ran.code == 1
    assert "unknown model handle(s) openai/gpt-nope; the server offers: " in ran.err


def test_the_first_pages_asked_for_ahead_are_each_sent_once(
    server: Server, cli: Cli, tmp_path: Path
) -> None:
    """Once the users are loaded, the command line asks for the first pages of the stack's
    agent and block listings while the planning code loads (`reconciler.kinds.first_pages`):
    the reads take them, so each listing's first page is sent once, as without asking."""
    folder = written(tmp_path)
    server.apply(open_stack([folder]).desired())
    since = len(server.letta.requests)
    assert cli("plan", str(folder), "--detailed-exitcode").code == 0
    firsts = [
        str(r)
        for r in server.letta.requests[since:]
        if r.query.get("tags") == ["letta-apply:acme"] and "after" not in r.query
    ]
    assert sorted(firsts) == ["GET /v1/agents/", "GET /v1/blocks/"]


@pytest.mark.parametrize("kept", [True, False])
def test_a_kept_live_state_is_frozen_once_read(server: Server, tmp_path: Path, kept: bool) -> None:
    """The command line's plan keeps its live state as long as the process: frozen as soon
    as it is read, the collector never goes through it (and is on again after)."""
    folder = written(tmp_path)
    server.apply(open_stack([folder]).desired())
    opened = open_stack([folder])
    assert opened.outline is not None
    gc.unfreeze()
    try:
        _, _, live = plan_while_loading(
            server.api, opened.outline, opened.desired, prune=None, parallelism=4, kept=kept
        )
        [held] = agents.of(live).listed[:1]
        scanned = any(found is held for found in gc.get_objects())
        assert gc.isenabled()
    finally:
        gc.unfreeze()
    assert scanned is not kept
