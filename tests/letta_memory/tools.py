"""Tools and MCP servers, as Letta 0.16.8 keeps and answers them.

- Tools: the server's own (memory and search, `letta_*` types; `web_search` and `run_code` of
  type `letta_builtin`) exist from the start. A tool is named by the function its source
  defines; creating one whose name exists overwrites that tool (same id, tags and requirements
  replaced, metadata reset to the server's hash). A create refuses `metadata_` (422); an update
  replaces it whole. Deleting a missing tool answers 400, not 404.
- MCP servers: listed whole (no pagination), their configuration flattened into the record;
  creating one registers the tools it provides (`MemoryLetta.mcp_tools`) as `external_mcp`
  tools, listed by the server's own `tools` route; a refresh keeps the tools still provided
  (same ids), deletes the others and adds new ones; deleting the server removes them.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

from tests.letta_memory.store import Query, Record, Refused, copied, last

if TYPE_CHECKING:
    from tests.letta_memory.server import MemoryLetta

SERVER_TOOLS = (
    ("conversation_search", "letta_core"),
    ("memory_insert", "letta_sleeptime_core"),
    ("memory_replace", "letta_sleeptime_core"),
    ("send_message", "letta_core"),
    ("web_search", "letta_builtin"),
    ("run_code", "letta_builtin"),
)
TOOL_FIELDS = (
    "source_code",
    "description",
    "tags",
    "pip_requirements",
    "return_char_limit",
    "default_requires_approval",
)
_FUNCTION = re.compile(r"^def\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(", re.MULTILINE)


def seed_base_tools(s: MemoryLetta) -> None:
    for name, tool_type in SERVER_TOOLS:
        _new_tool(s, {"name": name, "tool_type": tool_type, "tags": [tool_type]})


def _new_tool(s: MemoryLetta, fields: dict[str, Any]) -> Record:
    return s.new(
        s.tools,
        {
            "tool_type": "custom",
            "source_type": "python",
            "description": None,
            "source_code": None,
            "tags": [],
            "pip_requirements": None,
            "return_char_limit": 50000,
            "default_requires_approval": None,
            "metadata_": {},
            **fields,
        },
    )


def list_tools(s: MemoryLetta, _m: re.Match[str], query: Query, _b: Any) -> Any:
    name = last(query, "name")
    names = set(query.get("names") or ())
    types = set(query.get("tool_types") or ())

    def keep(tool: Record) -> bool:
        return (
            (name is None or tool["name"] == name)
            and (not names or tool["name"] in names)
            and (not types or tool["tool_type"] in types)
        )

    return [copied(t) for t in s.tools.page(query, keep)]


def get_tool(s: MemoryLetta, m: re.Match[str], _q: Query, _b: Any) -> Any:
    return copied(s.tools.get(m[1]))


def create_tool(s: MemoryLetta, _m: re.Match[str], _q: Query, body: Any) -> Any:
    if "metadata_" in body:
        raise Refused(422, "metadata_: Extra inputs are not permitted")
    source = body.get("source_code")
    found = _FUNCTION.search(source) if isinstance(source, str) else None
    if found is None:
        raise Refused(400, "the source code defines no function")
    fields = {key: copied(body.get(key)) for key in TOOL_FIELDS}
    fields.update(tags=list(body.get("tags") or ()), metadata_={"tool_hash": _hash(source)})
    fields["return_char_limit"] = body.get("return_char_limit") or 50000
    existing = next((t for t in s.tools.rows.values() if t["name"] == found[1]), None)
    if existing is not None:
        existing.update(fields)
        return copied(existing)
    return copied(_new_tool(s, {"name": found[1], **fields}))


def _hash(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:12]


def update_tool(s: MemoryLetta, m: re.Match[str], _q: Query, body: Any) -> Any:
    tool = s.tools.get(m[1])
    tool.update({key: copied(value) for key, value in body.items()})
    return copied(tool)


def delete_tool(s: MemoryLetta, m: re.Match[str], _q: Query, _b: Any) -> Any:
    if m[1] not in s.tools.rows:
        raise Refused(400, f"Tool with id {m[1]} not found.")
    s.tools.remove(m[1])
    return None


CONFIG = ("command", "args", "env", "server_url", "custom_headers", "auth_header", "auth_token")


def flattened(name: str, config: dict[str, Any]) -> dict[str, Any]:
    return {
        "server_name": name,
        "mcp_server_type": config.get("mcp_server_type"),
        **{key: copied(config.get(key)) for key in CONFIG},
    }


def register(s: MemoryLetta, server: Record) -> None:
    """Register the tools the MCP server provides, as the server does when it is made, and
    again on a refresh: a tool still provided keeps its id, one no longer provided is deleted,
    a new one is added."""
    name = server["server_name"]
    held = {
        s.tools.rows[i]["name"]: i for i in s.registered.get(server["id"], ()) if i in s.tools.rows
    }
    wanted = s.mcp_tools.get(name, ())
    for tool, tool_id in held.items():
        if tool not in wanted:
            s.tools.rows.pop(tool_id)
    marks = {"mcp": {"server_name": name}}
    s.registered[server["id"]] = [
        held.get(tool)
        or _new_tool(s, {"name": tool, "tool_type": "external_mcp", "metadata_": marks})["id"]
        for tool in wanted
    ]


def _unregister(s: MemoryLetta, server: Record) -> None:
    for tool_id in s.registered.pop(server["id"], ()):
        s.tools.rows.pop(tool_id, None)


def server_tools(s: MemoryLetta, m: re.Match[str], _q: Query, _b: Any) -> Any:
    s.mcp_servers.get(m[1])
    return [copied(s.tools.rows[i]) for i in s.registered.get(m[1], ()) if i in s.tools.rows]


def _answered(server: Record) -> Any:
    """A server as the real one answers: the token it keeps with `Bearer ` before it."""
    answer = copied(server)
    if answer.get("auth_token"):
        answer["auth_token"] = f"Bearer {answer['auth_token']}"
    return answer


def list_servers(s: MemoryLetta, _m: re.Match[str], _q: Query, _b: Any) -> Any:
    return [
        _answered(r) for r in sorted(s.mcp_servers.rows.values(), key=lambda r: r["created_at"])
    ]


def get_server(s: MemoryLetta, m: re.Match[str], _q: Query, _b: Any) -> Any:
    return _answered(s.mcp_servers.get(m[1]))


def create_server(s: MemoryLetta, _m: re.Match[str], _q: Query, body: Any) -> Any:
    name = body.get("server_name")
    if any(r["server_name"] == name for r in s.mcp_servers.rows.values()):
        raise Refused(409, f"MCP server with name {name} already exists")
    server = s.new(s.mcp_servers, flattened(str(name), body.get("config") or {}))
    register(s, server)
    return _answered(server)


def update_server(s: MemoryLetta, m: re.Match[str], _q: Query, body: Any) -> Any:
    server = s.mcp_servers.get(m[1])
    server.update(flattened(server["server_name"], body.get("config") or {}))
    return _answered(server)


def refresh_server(s: MemoryLetta, m: re.Match[str], _q: Query, _b: Any) -> Any:
    register(s, s.mcp_servers.get(m[1]))
    return None


def delete_server(s: MemoryLetta, m: re.Match[str], _q: Query, _b: Any) -> Any:
    _unregister(s, s.mcp_servers.remove(m[1]))
    return None


ROUTES = (
    ("GET", r"/v1/tools", list_tools),
    ("POST", r"/v1/tools", create_tool),
    ("GET", r"/v1/tools/([^/]+)", get_tool),
    ("PATCH", r"/v1/tools/([^/]+)", update_tool),
    ("DELETE", r"/v1/tools/([^/]+)", delete_tool),
    ("GET", r"/v1/mcp-servers", list_servers),
    ("POST", r"/v1/mcp-servers", create_server),
    ("GET", r"/v1/mcp-servers/([^/]+)", get_server),
    ("GET", r"/v1/mcp-servers/([^/]+)/tools", server_tools),
    ("PATCH", r"/v1/mcp-servers/([^/]+)", update_server),
    ("PATCH", r"/v1/mcp-servers/([^/]+)/refresh", refresh_server),
    ("DELETE", r"/v1/mcp-servers/([^/]+)", delete_server),
)
