"""What each kind does beyond a plain create, offline: MCP servers and their tools, a tool's
source changed and its name taken, sleep-time agents made and removed, secrets and model
settings, tool rules and exact tool lists, identity and block links moved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.address import Kind
from reconciler.adopt import adopt
from reconciler.environ import EnvGrant
from reconciler.errors import ApplyFailed, LettaApplyError
from reconciler.kinds import tool
from reconciler.kinds.read import read_live
from reconciler.plan.model import Create, Delete, Detach, NoticeKind, Update
from reconciler.secrets import SecretAccess
from reconciler.values import freeze
from reconciler.workflow import ApplyOptions, Hooks, apply_saved_plan
from tests.letta_memory import Request
from tests.offline.conftest import TEST_KEY
from tests.offline.stacks import Server, desired
from tests.offline.test_apply import TOOL, mixed

MCP = """
mcpServers:
  orders:
    command: python
    args: [-m, orders_mcp]
    env: {ORDERS_KEY: {valueFromEnv: ORDERS_KEY}}
  status:
    url: https://mcp.example.com/status
    authHeader: Authorization
    authToken: {valueFromEnv: STATUS_TOKEN}
agents:
  desk:
    tools: [orders/get_order, status/check]
prune: {enabled: true, maxDeletePercent: 100}
"""
PRUNE = "prune: {enabled: true, maxDeletePercent: 100}\n"


@pytest.fixture
def credentials(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials in the environment, and the operator letting the stack read them."""
    monkeypatch.setenv("ORDERS_KEY", "k-1")
    monkeypatch.setenv("STATUS_TOKEN", "t-1")
    grant = EnvGrant.from_operator(["ORDERS_KEY", "STATUS_TOKEN", "DESK_*"])
    server.api.secrets = SecretAccess(grant, TEST_KEY)


def test_mcp_servers_are_made_marked_and_their_tools_attached(
    server: Server, tmp_path: Path, credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.letta.mcp_tools = {"orders": ("get_order",), "status": ("check",)}
    wanted = desired(tmp_path, MCP)
    server.apply(wanted)
    orders, status = sorted(server.letta.mcp_servers.rows.values(), key=lambda r: r["server_name"])
    assert orders["env"]["ORDERS_KEY"] == "k-1"
    assert orders["env"]["LETTA_APPLY_STACK"] == status["custom_headers"]["X-Letta-Apply-Stack"]
    assert "k-1" not in str(orders["env"].get("LETTA_APPLY_RECORD"))  # digests only
    assert status["auth_token"] == "t-1"
    desk = server.named("desk")
    names = {server.letta.tools.rows[i]["name"] for i in desk["tool_ids"]}
    assert {"get_order", "check"} <= names
    assert not server.plan(wanted).has_changes

    monkeypatch.setenv("STATUS_TOKEN", "t-2")
    plan = server.plan(wanted)
    [update] = [c for c in plan.changes if isinstance(c, Update)]
    assert str(update.address) == "mcp-server/status"
    assert "t-2" not in str(update) and "t-1" not in str(update)
    server.apply(wanted)
    assert status["auth_token"] == "t-2"
    refreshed = [r for r in server.letta.writes() if r.path.endswith("/refresh")]
    assert len(refreshed) == 1

    without_status = MCP.split("  status:")[0] + "agents:\n  desk: {}\n" + PRUNE
    server.apply(desired(tmp_path, without_status))
    assert [r["server_name"] for r in server.letta.mcp_servers.rows.values()] == ["orders"]


def test_an_mcp_server_of_the_same_name_without_the_mark_blocks(
    server: Server, tmp_path: Path, credentials: None
) -> None:
    server.api.create(
        "/v1/mcp-servers/",
        {"server_name": "orders", "config": {"mcp_server_type": "stdio", "command": "node"}},
        address="mcp-server/orders",
        find_existing=lambda: None,
    )
    wanted = desired(tmp_path, MCP)
    plan = server.plan(wanted)
    blocked = [n for n in plan.notices if str(n.address) == "mcp-server/orders"]
    assert blocked and blocked[0].kind is NoticeKind.BLOCKED
    with pytest.raises(ApplyFailed, match="skipped: mcp-server/orders does not exist"):
        server.apply(wanted)
    [orders] = [r for r in server.letta.mcp_servers.rows.values() if r["server_name"] == "orders"]
    assert orders["command"] == "node"  # never overwritten


TOOLS = """
tools:
  lookup_order: {source: tools/lookup_order.py, pipRequirements: [requests]}
agents:
  desk:
    tools: [lookup_order]
    toolPolicy: exact
    toolRules: [{type: maxCountPerStep, tool: lookup_order, maxCount: 2}]
"""


def test_a_tool_is_changed_in_place_and_detached_tools_follow_the_exact_policy(
    server: Server, tmp_path: Path
) -> None:
    wanted = mixed(tmp_path, TOOLS)
    server.apply(wanted)
    desk = server.named("desk")
    attached = [server.letta.tools.rows[i] for i in desk["tool_ids"]]
    assert [t["name"] for t in attached if not t["tool_type"].startswith("letta_")] == [
        "lookup_order"
    ]
    assert desk["tool_rules"] == [
        {"type": "max_count_per_step", "tool_name": "lookup_order", "max_count_limit": 2}
    ]
    [search] = [t for t in server.letta.tools.rows.values() if t["name"] == "web_search"]
    desk["tool_ids"].append(search["id"])
    (tmp_path / "stack" / "tools" / "lookup_order.py").write_text(
        TOOL.replace("order_id\n", "order_id.upper()\n")
    )
    wanted = desired(tmp_path, TOOLS)
    plan = server.plan(wanted)
    assert [str(c.address) for c in plan.changes if isinstance(c, Detach)] == ["tool/web_search"]
    [update] = [c for c in plan.changes if isinstance(c, Update)]
    assert [f.path for f in update.fields] == ["source_code"]
    server.apply(wanted)
    assert not server.plan(wanted).has_changes
    [tool] = [t for t in server.letta.tools.rows.values() if t["name"] == "lookup_order"]
    assert "upper()" in tool["source_code"]
    assert tool["pip_requirements"] == [{"name": "requests"}]


def test_a_tool_name_held_by_another_blocks_and_one_appearing_is_not_overwritten(
    server: Server, tmp_path: Path
) -> None:
    wanted = mixed(tmp_path, TOOLS)
    foreign = _theirs(server)
    plan = server.plan(wanted)
    assert [n.kind for n in plan.notices if str(n.address) == "tool/lookup_order"] == [
        NoticeKind.BLOCKED
    ]
    server.letta.tools.remove(foreign["id"])
    plan = server.plan(wanted)
    assert (
        next(str(c.address) for c in plan.changes if isinstance(c, Create)) == "tool/lookup_order"
    )
    _theirs(server)
    with pytest.raises(ApplyFailed, match="appeared that this stack does not own"):
        apply_saved_plan(server.api, plan, ApplyOptions(), Hooks())
    [tool] = [t for t in server.letta.tools.rows.values() if t["name"] == "lookup_order"]
    assert tool["tags"] == ["theirs"]


def _theirs(server: Server) -> dict[str, Any]:
    body = {"source_code": TOOL, "tags": ["theirs"]}
    made: dict[str, Any] = server.api.create(
        "/v1/tools/", body, address="tool", find_existing=lambda: None
    )
    return made


SLEEPTIME = """
agents:
  coach:
    enableSleeptime: true
    blocks:
      persona: {value: "I coach.", policy: enforce}
prune: {enabled: true, maxDeletePercent: 100}
"""


def test_a_sleep_time_agent_is_marked_then_removed_with_its_own_blocks(
    server: Server, tmp_path: Path
) -> None:
    wanted = desired(tmp_path, SLEEPTIME)
    server.apply(wanted)
    coach = server.named("coach")
    companion = server.named("coach-sleeptime")
    assert companion["metadata"]["letta_apply"] == {"stack": "acme", "companion_of": "agent/coach"}
    assert not server.plan(wanted).has_changes
    own = set(companion["block_ids"]) - set(coach["block_ids"])
    off = desired(tmp_path, SLEEPTIME.replace("enableSleeptime: true", "enableSleeptime: false"))
    server.apply(off)
    assert companion["id"] not in server.letta.agents.rows
    assert not own & set(server.letta.blocks.rows)
    assert set(coach["block_ids"]) <= set(server.letta.blocks.rows)  # shared ones stay
    assert not server.plan(off).has_changes


SETTINGS = """
agents:
  desk:
    modelSettings: {temperature: 0.2, reasoningEffort: high}
    contextWindowLimit: 20000
    secrets:
      ORDERS_TOKEN: {valueFromEnv: DESK_ORDERS_TOKEN}
"""


def test_secrets_and_model_settings_are_sent_and_compared_without_values(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, credentials: None
) -> None:
    monkeypatch.setenv("DESK_ORDERS_TOKEN", "s3cret")
    wanted = desired(tmp_path, SETTINGS)
    plan = server.plan(wanted)
    assert "s3cret" not in str(plan.changes)
    server.apply(wanted)
    desk = server.named("desk")
    assert [(s["key"], s["value"]) for s in desk["secrets"]] == [("ORDERS_TOKEN", "s3cret")]
    assert desk["model_settings"]["temperature"] == 0.2
    assert desk["model_settings"]["reasoning"] == {"reasoning_effort": "high"}
    assert desk["model_settings"]["max_output_tokens"] == 4096  # the server's own, kept
    assert desk["llm_config"]["context_window"] == 20000
    assert not server.plan(wanted).has_changes
    monkeypatch.setenv("DESK_ORDERS_TOKEN", "rotated")
    [update] = server.plan(wanted).changes
    assert isinstance(update, Update)
    assert [(f.path, f.after) for f in update.fields] == [("secrets.ORDERS_TOKEN", "(changed)")]
    server.apply(wanted)
    assert [s["value"] for s in server.named("desk")["secrets"]] == ["rotated"]


LINKS = """
agents:
  desk: {sharedBlocks: [faq]}
  sales: {}
blocks:
  faq: {value: "Open 9-5.", policy: enforce}
users:
  - {id: carol, pattern: identity, agent: desk}
"""


def test_a_property_no_longer_declared_is_removed(server: Server, tmp_path: Path) -> None:
    """An update merges identity properties by key: the list is replaced whole instead."""
    server.apply(
        desired(
            tmp_path,
            LINKS.replace("agent: desk}", "agent: desk, properties: {tier: gold, plan: pro}}"),
        )
    )
    wanted = desired(
        tmp_path, LINKS.replace("agent: desk}", "agent: desk, properties: {plan: pro}}")
    )
    [update] = server.plan(wanted).changes
    assert [(f.path, f.before, f.after) for f in update.fields] == [
        ("properties.tier", "gold", None)
    ]
    server.apply(wanted)
    assert not server.plan(wanted).has_changes
    [carol] = server.letta.identities.rows.values()
    assert sorted(p["key"] for p in carol["properties"]) == ["letta_apply_stack", "plan"]


def test_links_move_with_the_manifest(server: Server, tmp_path: Path) -> None:
    server.apply(desired(tmp_path, LINKS))
    text = LINKS.replace("desk: {sharedBlocks: [faq]}", "desk: {}")
    text = text.replace("sales: {}", "sales: {sharedBlocks: [faq]}").replace("desk}", "sales}")
    moved = desired(tmp_path, text)
    plan = server.plan(moved)
    kinds = sorted((type(c).__name__, str(c.address)) for c in plan.changes)
    assert kinds == [
        ("Attach", "block/faq"),
        ("Attach", "identity/carol"),
        ("Detach", "block/faq"),
        ("Detach", "identity/carol"),
    ]
    server.apply(moved)
    desk, sales = server.named("desk"), server.named("sales")
    assert not desk["identity_ids"] and len(sales["identity_ids"]) == 1
    faq = [b["id"] for b in server.letta.blocks.rows.values() if b["label"] == "faq"]
    assert faq[0] in sales["block_ids"] and faq[0] not in desk["block_ids"]
    assert not server.plan(moved).has_changes
    assert not [c for c in plan.changes if isinstance(c, Delete | Create)]


def _appears(server: Server, marked: bool) -> None:
    """An MCP server named `orders` appears between the plan and its create (a run
    interrupted after making it, or someone else), seen by the create's own listing."""
    listings = iter(range(100))
    env = {"LETTA_APPLY_STACK": "acme"} if marked else {}

    def meanwhile(request: Request) -> None:
        listing = request.method == "GET" and request.path == "/v1/mcp-servers/"
        if listing and next(listings) == 1:  # the reader's listing, then the create's
            server.letta.mcp_server("orders", mcp_server_type="stdio", env=env)

    server.letta.before = meanwhile


def test_an_mcp_server_made_by_an_interrupted_run_is_taken_not_made_again(
    server: Server, tmp_path: Path, credentials: None
) -> None:
    server.letta.mcp_tools = {"orders": ("get_order",), "status": ("check",)}
    _appears(server, marked=True)
    server.apply(desired(tmp_path, MCP))
    names = [r["server_name"] for r in server.letta.mcp_servers.rows.values()]
    assert sorted(names) == ["orders", "status"]


def test_an_mcp_server_appearing_without_the_mark_is_not_overwritten(
    server: Server, tmp_path: Path, credentials: None
) -> None:
    server.letta.mcp_tools = {"status": ("check",)}
    _appears(server, marked=False)
    with pytest.raises(ApplyFailed, match="appeared without this stack's mark"):
        server.apply(desired(tmp_path, MCP))
    [orders] = [r for r in server.letta.mcp_servers.rows.values() if r["server_name"] == "orders"]
    assert orders["env"] == {}


def test_an_mcp_server_is_adopted_then_converged(
    server: Server, tmp_path: Path, credentials: None
) -> None:
    server.letta.mcp_tools = {"orders": ("get_order",), "status": ("check",)}
    wanted = desired(tmp_path, MCP)
    made = server.letta.mcp_server("orders", mcp_server_type="stdio", command="node", env={})
    adopt(server.api, wanted, "mcp-server/orders", made["id"])
    assert made["env"] == {"LETTA_APPLY_STACK": "acme"}
    server.apply(wanted)
    assert made["command"] == "python" and made["env"]["ORDERS_KEY"] == "k-1"
    assert not server.plan(wanted).has_changes
    with pytest.raises(LettaApplyError, match="not named 'status'"):
        adopt(server.api, wanted, "mcp-server/status", made["id"])


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"listed": "yes", "looked_up": []}, "plan.reads.identity: expected {listed: true or"),
        ({"listed": False}, "plan.reads.identity: expected {listed: true or false"),
        ({"listed": False, "looked_up": ["carol", 7]}, "looked_up: expected a list of identifier"),
    ],
)
def test_a_saved_plans_malformed_identity_record_is_refused_before_anything_is_read(
    server: Server, record: dict[str, Any], message: str
) -> None:
    records = {Kind.IDENTITY: freeze(record)}
    with pytest.raises(LettaApplyError, match="malformed saved plan: ") as caught:
        read_live(server.api, "acme", records=records)
    assert message in str(caught.value)


def test_a_saved_plan_without_an_identity_record_lists_every_identity(server: Server) -> None:
    seen = len(server.letta.requests)
    read_live(server.api, "acme", records={})
    listed = [r for r in server.letta.requests[seen:] if r.path == "/v1/identities/"]
    assert listed and all(r.method == "GET" for r in listed)


def test_every_listing_of_tools_starts_from_a_cursor(server: Server, tmp_path: Path) -> None:
    """Letta 0.16.8 writes all its built-in tools again whenever a first page of tools asked
    for without a cursor lacks one of them, as a page filtered by type or name always does:
    letta-apply's listings of tools (the stack's custom ones, those named, a tool looked for
    by name before it is made) start from a cursor naming no tool, so a plan writes nothing."""
    wanted = mixed(tmp_path, TOOLS)
    server.apply(wanted)
    server.plan(wanted)
    listings = [r.query for r in server.letta.requests if str(r) == "GET /v1/tools/"]
    assert listings
    assert all(query.get("after") for query in listings), listings
    assert {tuple(q["after"]) for q in listings} == {(tool.FROM_THE_START,)}
