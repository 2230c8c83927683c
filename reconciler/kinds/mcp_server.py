"""MCP servers: the servers of tools the stack's agents use (`mcp-server/<name>`), started by
the Letta server as a command (`stdio`) or reached at a URL (`streamable_http`, `sse`).

MCP servers take no tags or metadata, so the stack's mark is part of their configuration:
the environment variable `LETTA_APPLY_STACK` of a command, the header `X-Letta-Apply-Stack`
of a URL (the only fields the server keeps and returns). Names are unique on a server: a
declared name held by a server without the mark is blocked, never overwritten. Credentials
(`authToken`, headers, environment values) come from environment variables and are never kept
or shown. The stack keeps their keyed digests beside the mark (`LETTA_APPLY_RECORD`,
`X-Letta-Apply-Record`; see `reconciler.secrets`): a credential is unchanged only when that
record holds the digest of both the declared and the live value, so a server someone else
made with the stack's mark and a guessed value always shows as changed. When the server is
created, the Letta server registers its tools, which agents then attach as `<server>/<tool>`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, NotRequired, TypedDict

from reconciler import secrets
from reconciler.address import Address, Kind
from reconciler.desired import DesiredState, McpServerSpec
from reconciler.errors import LettaApplyError
from reconciler.kinds.common import (
    Reading,
    Resolve,
    created_id,
    delete_if_present,
    fingerprinted_in,
    no_named_ids,
    nothing_adopted,
    nothing_deleted_with,
    nothing_needed,
    nothing_recorded,
    owned_in,
    refuse_other_owner,
    shown_as_sent,
)
from reconciler.live.state import Found, LiveMcpServer, LiveState, Part, survivor_first
from reconciler.plan.builder import Builder
from reconciler.plan.model import Adopt, Create, Delete, NoticeKind, Update
from reconciler.shape import Shape
from reconciler.values import JSON, Frozen, freeze, thaw

if TYPE_CHECKING:
    from reconciler.client import LettaApi
    from reconciler.secrets import SecretAccess

KIND = Kind.MCP_SERVER
ROUTE = "/v1/mcp-servers/"
MARK_VARIABLE = "LETTA_APPLY_STACK"
MARK_HEADER = "X-Letta-Apply-Stack"
RECORD_VARIABLE = "LETTA_APPLY_RECORD"
RECORD_HEADER = "X-Letta-Apply-Record"
BEARER = "Bearer "
"""What the server puts before the token it keeps when it lists a server."""
UNRECORDED = "(unrecorded)"
"""A live credential whose digest the stack's record does not hold."""
LISTED = f"GET {ROUTE}"


class McpServerRecord(TypedDict):
    """An MCP server as the server answers it, with the fields letta-apply reads (a command's
    or a URL's, by its type; the stack's mark is among `env` or `custom_headers`)."""

    id: str
    server_name: str
    mcp_server_type: NotRequired[str | None]
    command: NotRequired[str | None]
    args: NotRequired[list[str] | None]
    env: NotRequired[dict[str, str] | None]
    server_url: NotRequired[str | None]
    auth_header: NotRequired[str | None]
    auth_token: NotRequired[str | None]
    custom_headers: NotRequired[dict[str, str] | None]
    created_at: NotRequired[str | None]


SHAPE = Shape(McpServerRecord)


class McpServers(Found[LiveMcpServer]):
    """The MCP server kind's part of the live state: every MCP server (few on a server), the
    stack's and others, to detect name clashes."""


LIVE = Part(KIND, McpServers())
of = LIVE.of
deleted_with = nothing_deleted_with
named_ids = no_named_ids
read_record = nothing_recorded
shown = shown_as_sent
adopting = nothing_adopted
needs = nothing_needed
owned = owned_in(LIVE)
fingerprinted = fingerprinted_in(LIVE)


def declared(desired: DesiredState) -> Iterable[Address]:
    return (spec.address for spec in desired.mcp_servers)


# Reading --------------------------------------------------------------------------------------


def read(reading: Reading) -> McpServers:
    """Every MCP server (the listing is not paginated; servers are few): the stack's are
    told by their mark, the others are needed to detect a name that is taken. A scoped read
    reads them only when its scope declares one or uses one's tools."""
    desired = reading.desired
    if reading.scoped and desired is not None:
        providers = {t.provider for s in desired.agents for t in s.tools if t.provider != t}
        if not desired.mcp_servers and not providers:
            return McpServers()
    found = (from_server(raw, reading.stack, reading.api.secrets) for raw in listed(reading.api))
    return McpServers(tuple(survivor_first(found)))


def listed(api: LettaApi, address: str = "") -> list[McpServerRecord]:
    """Every MCP server on the server (the listing is not paginated)."""
    return SHAPE.parse_all(api.get(ROUTE, address=address), LISTED, address)


def from_server(raw: McpServerRecord, stack: str, access: SecretAccess) -> LiveMcpServer:
    """An MCP server as listed; its secret-bearing values are kept only as digests the
    stack's record holds (see the module's note)."""
    name = raw["server_name"]
    transport = raw.get("mcp_server_type") or ""
    values = _values(raw)
    mark = values.pop(f"env:{MARK_VARIABLE}", None) or values.pop(f"header:{MARK_HEADER}", None)
    record = _record(
        values.pop(f"env:{RECORD_VARIABLE}", None) or values.pop(f"header:{RECORD_HEADER}", None)
    )
    try:
        address = Address.mcp_server(name) if mark == stack else None
    except ValueError:
        address = None
    settings = {
        "transport": transport,
        "command": raw.get("command"),
        "args": list(raw.get("args") or ()) or None,
        "url": raw.get("server_url"),
        "auth_header": raw.get("auth_header"),
        "values": _recorded(address, values, record, access) if address else {},
    }
    return LiveMcpServer(
        id=raw["id"],
        name=name,
        address=address,
        settings=freeze({k: v for k, v in settings.items() if v is not None}),
        created_at=raw.get("created_at") or "",
    )


def _recorded(
    address: Address, values: Mapping[str, str], record: Mapping[str, str], access: SecretAccess
) -> dict[str, str]:
    """Each live value's digest where the stack's record holds it, else UNRECORDED."""
    found = {}
    for name, value in values.items():
        live = access.live_digest(address, name, value)
        found[name] = live if live is not None and record.get(name) == live else UNRECORDED
    return found


def _record(text: str | None) -> dict[str, str]:
    """`name=digest;name=digest` as written by `record_text`."""
    pairs = (part.partition("=") for part in (text or "").split(";"))
    return {name: digest for name, sep, digest in pairs if sep}


def record_text(digests: Mapping[str, str]) -> str:
    return ";".join(f"{name}={digest}" for name, digest in sorted(digests.items()))


def _values(raw: McpServerRecord) -> dict[str, str]:
    """Environment values, headers and the token (as sent), each under a `env:` /
    `header:` / `authToken` name."""
    found = {f"env:{k}": v for k, v in (raw.get("env") or {}).items()}
    found.update({f"header:{k}": v for k, v in (raw.get("custom_headers") or {}).items()})
    if token := raw.get("auth_token"):
        # The server keeps the token as sent and answers with `Bearer ` before it.
        found["authToken"] = token.removeprefix(BEARER)
    return found


# Planning -------------------------------------------------------------------------------------


def plan(desired: DesiredState, live: LiveState, out: Builder) -> None:
    """Create, update, report or delete the stack's MCP servers."""
    servers = of(live)
    kept = out.keep_survivors(servers.by_address, "MCP servers")
    others = {m.name: m for m in servers.found if m.address is None}
    for spec in desired.mcp_servers:
        current = kept.get(spec.address)
        if current is None and spec.name in others:
            out.notice(
                NoticeKind.BLOCKED,
                spec.address,
                f"an MCP server named {spec.name!r} exists without this stack's mark "
                "(names are unique on a server); adopt it to manage it",
                resource_ids=(others[spec.name].id,),
            )
        elif current is None:
            out.change(Create(spec.address, freeze(_body(spec, desired.stack))))
        else:
            wanted = _compared(spec, current.settings)
            send = _whole(_body(spec, desired.stack))
            out.update(spec.address, current.id, _shown(current.settings), wanted, send)
    out.undeclared(kept, (spec.address for spec in desired.mcp_servers))


def _whole(body: dict[str, JSON]) -> Callable[[Mapping[str, JSON]], Mapping[str, JSON]]:
    """The server takes a configuration whole: any change sends all of it."""
    return lambda _changed: body


def _shown(settings: Frozen) -> dict[str, JSON]:
    """The live server as compared: its values by name, each only as "set"."""
    shown = dict(settings)
    shown["values"] = dict.fromkeys(settings.get("values") or {}, secrets.SET)
    return shown


def _compared(spec: McpServerSpec, live: Frozen) -> dict[str, JSON]:
    """The declared server as compared: a value unchanged only when the stack's record holds
    the digest of the declared value (and of the live one)."""
    held = live.get("values") or {}
    values: dict[str, JSON] = {
        secret.name: secrets.state(secret, held.get(secret.name), secret.name in held)
        for secret in spec.credentials
    }
    return {
        "transport": spec.transport,
        **({"command": spec.command, "args": list(spec.args) or None} if spec.command else {}),
        **({"url": spec.url} if spec.url else {}),
        **({"auth_header": spec.auth_header} if spec.auth_header else {}),
        "values": values,
    }


def _body(spec: McpServerSpec, stack: str) -> dict[str, JSON]:
    """What is sent, credentials as their variable and digest (read when applying)."""
    config: dict[str, JSON] = {"mcp_server_type": spec.transport}
    if spec.command:
        config.update(command=spec.command, args=list(spec.args))
    if spec.url:
        config["server_url"] = spec.url
    if spec.auth_header:
        config["auth_header"] = spec.auth_header
    return {
        "server_name": spec.name,
        "config": config,
        "credentials": secrets.planned(spec.credentials),
        "mark": stack,
    }


# Server calls ---------------------------------------------------------------------------------


def _request(api: LettaApi, address: Address, body: Mapping[str, JSON]) -> dict[str, JSON]:
    """The request for the server: credentials read from the environment now, the mark, and
    the record of the credentials' digests."""
    values = api.secrets.reveal(body["credentials"], address)
    config = dict(body["config"])
    stdio = config["mcp_server_type"] == "stdio"
    marks: dict[str, JSON] = {}
    if values:
        record = record_text(api.secrets.record(address, values))
        marks[RECORD_VARIABLE if stdio else RECORD_HEADER] = record
    if stdio:
        config["env"] = {**_named(values, "env:"), MARK_VARIABLE: body["mark"], **marks}
    else:
        marks[MARK_HEADER] = body["mark"]
        config["custom_headers"] = {**_named(values, "header:"), **marks}
        if "authToken" in values:
            config["auth_token"] = values["authToken"]
    return {"server_name": body["server_name"], "config": config}


def _named(values: Mapping[str, str], prefix: str) -> dict[str, JSON]:
    return {k.removeprefix(prefix): v for k, v in values.items() if k.startswith(prefix)}


def create(api: LettaApi, stack: str, change: Create, resolve: Resolve) -> str:
    """Create it (the Letta server then registers its tools). The name is checked first: a
    server the stack does not own is never touched."""
    where = str(change.address)
    request = _request(api, change.address, thaw(change.body))

    def find() -> McpServerRecord | None:
        return next(
            (m for m in listed(api, where) if _named_as(m, change.address, stack, api)), None
        )

    servers = listed(api, where)
    existing = next((m for m in servers if m["server_name"] == change.address.name), None)
    if existing is not None:
        if not _named_as(existing, change.address, stack, api):
            raise LettaApplyError(
                f"{where}: an MCP server of that name appeared without this stack's mark; "
                "not overwritten (adopt it to manage it)"
            )
        return existing["id"]
    created = api.create(ROUTE, request, address=where, find_existing=find)
    return created_id(created, ROUTE, change.address)


def _named_as(raw: McpServerRecord, address: Address, stack: str, api: LettaApi) -> bool:
    return from_server(raw, stack, api.secrets).address == address


def update(api: LettaApi, change: Update) -> None:
    request = _request(api, change.address, thaw(change.body))
    path = f"{ROUTE}{change.resource_id}"
    api.patch(path, {"config": request["config"]}, address=str(change.address))
    api.patch(f"{path}/refresh", address=str(change.address))


def delete(api: LettaApi, change: Delete) -> None:
    delete_if_present(api, f"{ROUTE}{change.resource_id}", change.address)


def adopt(api: LettaApi, stack: str, change: Adopt, _resolve: Resolve) -> str:
    """Mark an existing MCP server of the declared name as the stack's (the next apply
    writes the declared configuration)."""
    address, resource_id = change.address, change.resource_id
    path, where = f"{ROUTE}{resource_id}", str(address)
    current = SHAPE.parse(api.get(path, address=where), f"GET {path}", where)
    if current["server_name"] != address.name:
        raise LettaApplyError(f"{address}: MCP server {resource_id} is not named {address.name!r}")
    values = _values(current)
    mark = values.get(f"env:{MARK_VARIABLE}") or values.get(f"header:{MARK_HEADER}")
    refuse_other_owner(address, mark, stack)
    config: dict[str, JSON] = {"mcp_server_type": current.get("mcp_server_type")}
    if config["mcp_server_type"] == "stdio":
        env = {**(current.get("env") or {}), MARK_VARIABLE: stack}
        config.update(command=current.get("command"), args=current.get("args") or [], env=env)
    else:
        headers = {**(current.get("custom_headers") or {}), MARK_HEADER: stack}
        config.update(server_url=current.get("server_url"), custom_headers=headers)
    api.patch(path, {"config": config}, address=where)
    return str(resource_id)
