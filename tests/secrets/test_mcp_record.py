"""An MCP server's credentials are unchanged only when the stack's own record (kept beside its
mark, keyed) holds their digest: a same-named server someone else made with the stack's mark
and a guessed credential shows as changed whether the guess is right or wrong, so plans
answer no guesses."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.address import Address
from reconciler.desired import DesiredState, McpServerSpec, SecretSpec
from reconciler.environ import EnvGrant
from reconciler.errors import Location
from reconciler.keys import OperatorKey
from reconciler.kinds import mcp_server
from reconciler.live import LiveState
from reconciler.plan.model import Update
from reconciler.planner import build_plan
from reconciler.render import render_json, render_markdown, render_text
from reconciler.secrets import SecretAccess

ENVIRON = {"ORDERS_TOKEN": "4821", "LETTA_APPLY_KEY": "operator-key"}
ADDRESS = Address.mcp_server("orders")


def access() -> SecretAccess:
    return SecretAccess(EnvGrant(("ORDERS_*",), ENVIRON), OperatorKey(None, ENVIRON))


def desired() -> DesiredState:
    token = SecretSpec("header:X-K", "ORDERS_TOKEN", Location("m.yaml", 6, 12))
    server = McpServerSpec(
        ADDRESS, "streamable_http", url="https://mcp.example.com", credentials=(token,)
    )
    return access().seal(DesiredState("acme", mcp_servers=(server,)))


def listed(headers: dict[str, str]) -> dict[str, Any]:
    return {
        "id": "mcp_server-1",
        "server_name": "orders",
        "mcp_server_type": "streamable_http",
        "server_url": "https://mcp.example.com",
        "custom_headers": {mcp_server.MARK_HEADER: "acme", **headers},
    }


def shown(headers: dict[str, str]) -> list[str]:
    raw = mcp_server.SHAPE.parse(listed(headers), "test")
    found = mcp_server.from_server(raw, "acme", access())
    live = LiveState("acme", {mcp_server.KIND: mcp_server.McpServers((found,))})
    plan = build_plan(desired(), live, target="http://letta")
    return [
        f"{f.path}: {f.before} -> {f.after}"
        for change in plan.changes
        if isinstance(change, Update)
        for f in change.fields
    ]


@pytest.mark.parametrize("guess", ["4821", "0000"])
def test_a_forged_server_shows_changed_whatever_the_guess(guess: str) -> None:
    assert shown({"X-K": guess}) == ["values.header:X-K: (set) -> (changed)"]


def test_the_stacks_own_record_makes_it_unchanged() -> None:
    record = access().record(ADDRESS, {"header:X-K": "4821"})
    headers = {"X-K": "4821", mcp_server.RECORD_HEADER: mcp_server.record_text(record)}
    assert shown(headers) == []


def test_a_value_changed_by_hand_under_a_valid_record_shows_changed() -> None:
    record = access().record(ADDRESS, {"header:X-K": "4821"})
    headers = {"X-K": "9999", mcp_server.RECORD_HEADER: mcp_server.record_text(record)}
    assert shown(headers) == ["values.header:X-K: (set) -> (changed)"]


def test_no_output_carries_a_digest_of_a_credential() -> None:
    state = desired()
    [token] = state.mcp_servers[0].credentials
    plan = build_plan(state, LiveState("acme"), target="http://letta")
    outputs = [render_text(plan, color=False), render_markdown(plan), render_json(plan)]
    for text in outputs:
        assert "header:X-K" in text and "ORDERS_TOKEN" in text
        assert "digest" not in text.replace('"digest": "', "")  # the plan's own digest only
        assert token.digest is not None and token.digest[:8] not in text
