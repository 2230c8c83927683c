"""Tools: the custom Python tools a stack defines (`tool/<name>`), from source files in the
repository, and the server's tools its agents use by name.

A tool the stack made carries its tag and an ownership record in its metadata (written right
after the create: the server takes no metadata on create). Tool names are unique on a server
and creating one with a taken name would overwrite that tool, so a declared tool whose name is
held by a tool the stack does not own is blocked, never created; `adopt` takes it over.
Compared on the fields of `FIELDS`; a changed source shows as a diff of the source.

A tool an MCP server provides (`tool/<server>/<tool>`) is known by the MCP server's own tool
listing and its type, never by its metadata: any tool's `metadata_` is writable, so a custom
tool claiming `mcp.server_name` is still a custom tool.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING, Final, NotRequired, TypedDict

from reconciler import ownership
from reconciler.address import Address, AddressError, Kind
from reconciler.desired import DesiredState, ToolSpec
from reconciler.errors import LettaApplyError, ServerError
from reconciler.kinds import mcp_server
from reconciler.kinds.common import (
    Adoption,
    Reading,
    Resolve,
    delete_if_present,
    detach_at,
    fingerprinted_in,
    link,
    nothing_deleted_with,
    nothing_recorded,
    only,
    owned_in,
    refuse_other_owner,
    shown_as_sent,
    swapped,
)
from reconciler.live.state import Found, LiveState, LiveTool, Part, survivor_first
from reconciler.paging import PAGE
from reconciler.plan.builder import Builder, optional
from reconciler.plan.model import (
    Adopt,
    Attach,
    Change,
    Create,
    Delete,
    Detach,
    NoticeKind,
    Update,
)
from reconciler.shape import Shape
from reconciler.values import JSON, Frozen, freeze, thaw

if TYPE_CHECKING:
    from reconciler.client import LettaApi, Params

KIND = Kind.TOOL
DETACH_CLAIMED_ON_AGENT = True
"""A detach changes only the agent: the tool may be the server's (built-in), so the plan's
claim is checked on the agent."""
ROUTE = "/v1/tools/"
NAMES_BATCH = 50
"""Names per lookup of tools by name: one request per batch keeps the query string short."""
FIELDS = (
    "source_code",
    "description",
    "pip_requirements",
    "return_char_limit",
    "default_requires_approval",
)
"""The tool fields the stack manages (those a manifest sets), by server name."""
METADATA: Final = "metadata_"
"""Where the server keeps a tool's metadata (it also writes its own keys there)."""
MCP_TOOL_TYPE = "external_mcp"
"""The type the server gives the tools it registers for an MCP server."""
LISTED = f"GET {ROUTE}"
FROM_THE_START: Final = "tool-00000000-0000-4000-8000-000000000000"
"""The cursor every listing of tools starts from: an id no tool has, which the server passes
over (the first page, as without a cursor). Asked for a first page without a cursor, Letta
0.16.8 checks that page for every one of its built-in tools and, when one is missing, as it
always is from a page filtered by type or name, writes all of them again before answering:
about half a second of the server's time on every plan, and writes a plan should not cause."""


class PipRequirement(TypedDict):
    name: str
    version: NotRequired[str | None]


class ToolRecord(TypedDict):
    """A tool as the server answers it (its listing, an MCP server's tools), with the fields
    letta-apply reads: `FIELDS` among them."""

    id: str
    name: str
    tags: list[str] | None
    metadata_: object
    """The tool's metadata (`METADATA`); anyone may write it: read by
    `reconciler.ownership`, which takes any shape."""
    tool_type: NotRequired[str | None]
    created_at: NotRequired[str | None]
    source_code: NotRequired[str | None]
    description: NotRequired[str | None]
    pip_requirements: NotRequired[list[PipRequirement] | None]
    return_char_limit: NotRequired[int | None]
    default_requires_approval: NotRequired[bool | None]
    json_schema: NotRequired[dict[str, object] | None]
    """Read by `reconciler.export` (the description the server took from the docstring)."""


SHAPE = Shape(ToolRecord)


class Tools(Found[LiveTool]):
    """The tool kind's part of the live state: the stack's tools, and the other tools its
    manifests name (by name)."""

    @cached_property
    def others(self) -> dict[str, LiveTool]:
        """Tools the stack does not own, by name (tool names are unique on a server)."""
        return {t.name: t for t in self.found if t.address is None}


LIVE = Part(KIND, Tools())
of = LIVE.of
deleted_with = nothing_deleted_with
read_record = nothing_recorded
shown = shown_as_sent
owned = owned_in(LIVE)
fingerprinted = fingerprinted_in(LIVE)


def named_ids(live: LiveState) -> Mapping[Address, str]:
    """The server's tools (and other apps') the stack's agents use, by the address a plan
    names them with (`<mcp server>/<name>` for a tool an MCP server provides)."""
    found: dict[Address, str] = {}
    for name, other in of(live).others.items():
        try:
            address = Address.tool(f"{other.mcp_server}/{name}" if other.mcp_server else name)
        except AddressError:
            continue
        found[address] = other.id
    return found


def declared(desired: DesiredState) -> Iterable[Address]:
    return (spec.address for spec in desired.tools)


def needs(desired: DesiredState) -> Iterable[tuple[Address, Iterable[Address]]]:
    """A tool an MCP server provides needs that MCP server (the stack's own tools need
    nothing)."""
    used = {t for spec in desired.agents for t in spec.tools}
    return ((t, (t.provider,)) for t in sorted({*declared(desired), *used}) if t.provider != t)


# Reading --------------------------------------------------------------------------------------


def listing(api: LettaApi, params: Params, page_size: int = PAGE) -> Iterator[ToolRecord]:
    """The tools matching `params` (types, names), page by page."""
    listed = api.paginate(ROUTE, params, page_size, start=FROM_THE_START)
    return (SHAPE.parse(raw, LISTED) for raw in listed)


def read(reading: Reading) -> Tools:
    """The stack's tools (among the server's custom ones: tools have no tag filter), and by
    name the other tools its manifests name: built-in ones, and any holding a declared name.
    A scoped read looks up only the names in scope."""
    desired = reading.desired
    names = sorted({*(named(desired) if desired else ()), *planned(reading.changes)})
    if reading.scoped:
        named_only = {t.id: t for t in _named(reading, names)}
        named_only.update((t.id, t) for t in _of_mcp_servers(reading))
        return Tools(tuple(survivor_first(named_only.values())))
    custom = listing(reading.api, {"tool_types": ["custom"]}, reading.page_size)
    found = (from_server(raw, reading.stack) for raw in custom)
    owned = {t.id: t for t in found if t.address is not None or t.tagged}
    for other in _named(reading, names):
        owned.setdefault(other.id, other)
    owned.update((t.id, t) for t in _of_mcp_servers(reading))
    return Tools(tuple(survivor_first(owned.values())))


def _named(reading: Reading, names: list[str]) -> tuple[LiveTool, ...]:
    """The tools holding `names`, in batches of names per listing."""
    found: dict[str, LiveTool] = {}
    for start in range(0, len(names), NAMES_BATCH):
        params = {"names": names[start : start + NAMES_BATCH]}
        for raw in listing(reading.api, params, reading.page_size):
            found.setdefault(raw["id"], from_server(raw, reading.stack))
    return tuple(survivor_first(found.values()))


def _of_mcp_servers(reading: Reading) -> tuple[LiveTool, ...]:
    """The tools the MCP servers the stack's agents name provide, from each MCP server's own
    tool listing: the only way a tool is known as that server's (a tool's metadata is anyone's
    to write). One request per MCP server named."""
    desired = reading.desired
    if desired is None:
        return ()
    providers = {t.provider.name for s in desired.agents for t in s.tools if t.provider != t}
    servers = reading.part(mcp_server.LIVE).found
    return tuple(
        from_server(raw, reading.stack, mcp_server=server.name)
        for server in servers
        if server.name in providers
        for raw in _of_mcp_server(reading.api, server.id, f"mcp-server/{server.name}")
    )


def _of_mcp_server(api: LettaApi, server_id: str, address: str) -> list[ToolRecord]:
    """The tools an MCP server provides, from its own tool listing."""
    path = f"{mcp_server.ROUTE}{server_id}/tools"
    return SHAPE.parse_all(api.get(path, address=address) or [], f"GET {path}", address)


def named(desired: DesiredState) -> set[str]:
    """The names of the tools the manifests define or attach."""
    return {t.name for t in desired.tools} | {a.name for s in desired.agents for a in s.tools}


def planned(changes: Iterable[Change]) -> set[str]:
    """The names of the tools a saved plan's changes are about, or that what it creates
    links: the server's among them are looked up by name when the plan is applied."""
    addresses: set[Address] = set()
    for change in changes:
        addresses.add(change.address)
        if isinstance(change, Create):
            addresses.update(change.links)
    return {address.name for address in addresses if address.kind is KIND}


def from_server(raw: ToolRecord, stack: str, mcp_server: str | None = None) -> LiveTool:
    """A tool as the server lists it; `mcp_server` names the MCP server whose own listing
    holds it (it counts only for a tool of the MCP type)."""
    metadata = raw[METADATA]
    recorded = ownership.metadata_address(metadata, stack)
    tags = tuple(sorted(raw["tags"] or ()))
    return LiveTool(
        id=raw["id"],
        name=raw["name"],
        tool_type=raw.get("tool_type") or "",
        address=recorded if recorded is not None and recorded.kind is KIND else None,
        settings=_settings(raw),
        tags=tags,
        tagged=ownership.stack_tag(stack) in tags,
        protected=ownership.metadata_protected(metadata, stack),
        created_at=raw.get("created_at") or "",
        mcp_server=mcp_server if raw.get("tool_type") == MCP_TOOL_TYPE else None,
        owner=ownership.recorded_stack(metadata),
    )


def _settings(raw: ToolRecord) -> Frozen:
    found = {name: raw.get(name) for name in FIELDS}
    found["pip_requirements"] = _requirements(raw.get("pip_requirements"))
    return Frozen({name: freeze(value) for name, value in found.items() if value is not None})


def _requirements(listed: list[PipRequirement] | None) -> list[str] | None:
    """`[{name, version}]` as pip requirement strings (`name` or `name==version`)."""
    if not listed:
        return None
    found = []
    for item in listed:
        if item["name"]:
            version = item.get("version")
            found.append(f"{item['name']}=={version}" if version else item["name"])
    return sorted(found)


# Planning -------------------------------------------------------------------------------------


def plan(desired: DesiredState, live: LiveState, out: Builder) -> None:
    """Create, update, report or delete the stack's tools."""
    tools = of(live)
    kept = out.keep_survivors(tools.by_address, "tools", _protected)
    for spec in desired.tools:
        current = kept.get(spec.address)
        other = tools.others.get(spec.name)
        if current is None and other is not None:
            out.notice(
                NoticeKind.BLOCKED,
                spec.address,
                _name_taken(spec.name, other.owner),
                resource_ids=(other.id,),
            )
        elif current is None:
            out.change(Create(spec.address, freeze(_body(spec, desired.stack))))
        else:
            out.update(
                spec.address,
                current.id,
                current.settings,
                _managed(spec),
                unordered=("pip_requirements",),
            )
    out.undeclared(kept, (spec.address for spec in desired.tools), _protected)
    for tool in tools.found:
        if tool.address is None and tool.tagged:
            out.notice(
                NoticeKind.CONFLICT,
                None,
                f"tool {tool.name!r} carries the stack's tag but no ownership record; "
                "left alone (adopt it to manage it)",
                resource_ids=(tool.id,),
            )


def _name_taken(name: str, owner: str | None) -> str:
    """Why the tool is not created: adoption is offered only for one no stack owns."""
    if owner is None:
        return (
            f"a tool named {name!r} exists and is not owned by this stack (tool names are "
            "unique on a server); adopt it to manage it"
        )
    return (
        f"a tool named {name!r} belongs to stack {owner!r} (tool names are unique on a "
        "server); give this stack's tool another name"
    )


def _protected(tool: LiveTool) -> bool:
    return tool.protected


def _managed(spec: ToolSpec) -> dict[str, JSON]:
    return optional(
        source_code=spec.source_code,
        description=spec.description,
        pip_requirements=sorted(spec.pip_requirements) if spec.pip_requirements else None,
        return_char_limit=spec.return_char_limit,
        default_requires_approval=spec.requires_approval,
    )


def _body(spec: ToolSpec, stack: str) -> dict[str, JSON]:
    """The create request's fields; the ownership record is written right after."""
    record = ownership.agent_metadata(stack, spec.address, {}, protected=spec.protected)
    return {**_managed(spec), "tags": [ownership.stack_tag(stack)], METADATA: record}


def _server_fields(fields: Mapping[str, JSON]) -> dict[str, JSON]:
    """Fields as the server takes them (pip requirements as `{name, version}` records)."""
    sent = dict(fields)
    if "pip_requirements" in sent:
        sent["pip_requirements"] = [_requirement(r) for r in sent["pip_requirements"] or ()]
    return sent


def _requirement(text: str) -> dict[str, JSON]:
    name, _, version = text.partition("==")
    return {"name": name.strip(), **({"version": version.strip()} if version else {})}


# Adopting --------------------------------------------------------------------------------------


def adopting(desired: DesiredState, live: LiveState, found: Adoption) -> LiveState:
    """A custom tool no stack owns holding a declared tool's name, marked as the stack's."""
    held = of(live)
    owned = {t.address for t in held.owned}
    adopted: dict[str, LiveTool] = {}
    for spec in desired.tools:
        if spec.address in owned:
            continue
        tool = only([t for t in held.found if t.name == spec.name and _unowned(t)])
        if tool is not None:
            found.take(spec.address, tool.id)
            tags = tuple(sorted({*tool.tags, ownership.stack_tag(found.stack)}))
            adopted[tool.id] = replace(
                tool, address=spec.address, tags=tags, tagged=True, owner=found.stack
            )
    return live.with_part(LIVE, Tools(swapped(held.found, adopted)))


def _unowned(tool: LiveTool) -> bool:
    return tool.address is None and tool.owner is None and tool.tool_type == "custom"


# Server calls ---------------------------------------------------------------------------------


def create(api: LettaApi, stack: str, change: Create, resolve: Resolve) -> str:
    """Create the tool, then mark it. The server's create overwrites a tool of the same name,
    so the name is checked first: a tool the stack does not own is never touched."""
    body = thaw(change.body)
    record = body.pop(METADATA)
    where = str(change.address)
    existing = _by_name(api, change.address)
    if existing is not None:
        found = from_server(existing, stack)
        if found.address != change.address:
            raise LettaApplyError(
                f"{where}: a tool named {found.name!r} appeared that this stack does not own; "
                "not overwritten (adopt it to manage it)"
            )
        return found.id  # made by an earlier, interrupted run
    tag = ownership.stack_tag(stack)

    def find() -> ToolRecord | None:
        # Right after the create the tool has the stack's tag but no record yet.
        found = _by_name(api, change.address)
        return found if found is not None and tag in (found["tags"] or ()) else None

    answer = api.create(ROUTE, _server_fields(body), address=where, find_existing=find)
    created = SHAPE.parse(answer, f"POST {ROUTE}", where)
    held = created[METADATA]
    marked = {**(held if isinstance(held, Mapping) else {}), **record}
    api.patch(f"{ROUTE}{created['id']}", {METADATA: marked}, address=where)
    return created["id"]


def _by_name(api: LettaApi, address: Address) -> ToolRecord | None:
    where = str(address)
    params = {"name": address.name, "after": FROM_THE_START}
    found = SHAPE.parse_all(api.get(ROUTE, params, address=where), LISTED, where)
    return next((t for t in found if t["name"] == address.name), None)


def update(api: LettaApi, change: Update) -> None:
    body = _server_fields(thaw(change.body))
    api.patch(f"{ROUTE}{change.resource_id}", body, address=str(change.address))


def delete(api: LettaApi, change: Delete) -> None:
    """Delete the tool; the server refuses deleting a tool that is gone with 400, not 404 (a
    retried delete whose first attempt got through), so a refused delete of a tool no longer
    there is done."""
    path = f"{ROUTE}{change.resource_id}"
    try:
        delete_if_present(api, path, change.address)
    except ServerError as exc:
        if exc.status != 400 or _exists(api, path, change.address):
            raise


def _exists(api: LettaApi, path: str, address: Address) -> bool:
    try:
        api.get(path, address=str(address))
    except ServerError as exc:
        if exc.status == 404:
            return False
        raise
    return True


def attach(api: LettaApi, change: Attach, resolve: Resolve) -> None:
    found = tool_id(api, change.address, resolve)
    link(api, "tools", "attach", resolve(change.agent), found, change.address)


def tool_id(api: LettaApi, address: Address, resolve: Resolve) -> str:
    """The tool's id; a tool of an MCP server read or made in this run is found in that MCP
    server's own tool listing (the Letta server registered it as the MCP server was made)."""
    try:
        return resolve(address)
    except LettaApplyError:
        if address.provider == address:
            raise
    for raw in _of_mcp_server(api, _mcp_server_id(api, address, resolve), str(address)):
        if raw["name"] == address.name and raw.get("tool_type") == MCP_TOOL_TYPE:
            return raw["id"]
    raise LettaApplyError(f"{address}: the MCP server provides no tool {address.name!r}")


def _mcp_server_id(api: LettaApi, address: Address, resolve: Resolve) -> str:
    """The id of the MCP server providing the tool: the stack's, or the one of that name."""
    try:
        return resolve(address.provider)
    except LettaApplyError:
        pass
    name = address.provider.name
    named = [s for s in mcp_server.listed(api, str(address)) if s["server_name"] == name]
    if len(named) != 1:
        raise LettaApplyError(f"{address}: no MCP server named {name!r} on the server")
    return named[0]["id"]


def detach(api: LettaApi, change: Detach, resolve: Resolve) -> None:
    detach_at(api, "tools", change, resolve)


def adopt(api: LettaApi, stack: str, change: Adopt, _resolve: Resolve) -> str:
    """Mark an existing tool with the declared name as the stack's."""
    address, resource_id = change.address, change.resource_id
    path, where = f"{ROUTE}{resource_id}", str(address)
    current = SHAPE.parse(api.get(path, address=where), f"GET {path}", where)
    if current["name"] != address.name:
        raise LettaApplyError(
            f"{address}: tool {resource_id} is named {current['name']!r}, not {address.name!r}"
        )
    metadata = current[METADATA]
    refuse_other_owner(address, ownership.recorded_stack(metadata), stack)
    tags = sorted({*(current["tags"] or ()), ownership.stack_tag(stack)})
    held = metadata if isinstance(metadata, Mapping) else {}
    record = ownership.agent_metadata(stack, address, held)
    api.patch(path, {"tags": tags, METADATA: record}, address=where)
    return str(resource_id)
