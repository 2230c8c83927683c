"""One live agent or block as manifest definitions: the settings the agent kind compares,
its free tags, metadata, tools and memory blocks, each in the manifest's own keys.

Values from the server are copied exactly; text fields that take `${user.*}` variables are
escaped so they stay literal. Blocks are written with `policy: seed`: what an agent learned
is never overwritten by the exported stack.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler import ownership
from reconciler.kinds.agent import GIT_MEMORY_TAG
from reconciler.live.state import LiveAgent, LiveBlock
from reconciler.manifest import schema
from reconciler.manifest.schema import fits
from reconciler.values import thaw

from .snapshot import ServerTool
from .text import literal

HOISTED = ("model", "embedding", "system", "timezone", "contextWindowLimit")
"""Settings moved to `defaults` when every template and shared agent has the same value."""


def settings(agent: LiveAgent) -> dict[str, Any]:
    """The agent settings the stack would manage, in manifest keys. Settings objects the
    server fills with its own defaults (model and compaction settings) and tool rules are
    left unmanaged."""
    held = thaw(agent.settings)
    assert isinstance(held, Mapping)
    found: dict[str, Any] = {}
    for server, key in (
        ("model", "model"),
        ("embedding", "embedding"),
        ("system", "system"),
        ("context_window_limit", "contextWindowLimit"),
    ):
        if held.get(server) is not None:
            found[key] = held[server]
    zone = held.get("timezone")
    if fits(schema.TIMEZONE, zone):
        found["timezone"] = zone
    if held.get("enable_sleeptime") is True:
        found["enableSleeptime"] = True
    return found


def description(agent: LiveAgent) -> str | None:
    held = agent.settings.get("description")
    return literal(held) if isinstance(held, str) and held else None


def free_tags(agent: LiveAgent) -> list[str]:
    """The agent's tags a manifest declares: not the reserved user and ownership tags, and
    not the server's own git-memory switch."""
    reserved = ownership.RESERVED_TAG_PREFIXES
    return sorted(t for t in agent.tags if not t.startswith(reserved) and t != GIT_MEMORY_TAG)


def metadata(agent: LiveAgent) -> dict[str, Any]:
    held = thaw(agent.metadata)
    assert isinstance(held, Mapping)
    return {k: v for k, v in held.items() if k != ownership.METADATA_KEY}


def tools(agent: LiveAgent) -> tuple[list[str], list[str]]:
    """The tools to list (built-in and custom ones, by name), and those that cannot be
    listed (MCP tools, names no manifest can hold); the server's base tools come by default."""
    listed: list[str] = []
    left: list[str] = []
    for ref in agent.tools:
        if ref.is_base:
            continue
        if ref.tool_type in ("custom", "letta_builtin") and _listable(ref.name):
            listed.append(ref.name)
        else:
            left.append(ref.name)
    return sorted(set(listed)), sorted(set(left))


def _listable(name: str) -> bool:
    """A name an agent's `tools:` list can hold for a tool of the server (not one of an MCP
    server, whose names the list writes as `server/tool`)."""
    return "/" not in name and fits(schema.TOOL_REFERENCE, name)


def block_config(live: LiveBlock) -> dict[str, Any]:
    """A block's configuration (everything but its value), in manifest keys."""
    found: dict[str, Any] = {}
    if live.limit is not None:
        found["limit"] = live.limit
    if live.description:
        found["description"] = literal(live.description)
    if live.read_only:
        found["readOnly"] = True
    return found


def block(value: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """A block definition: the value (already manifest text), its configuration, `seed`."""
    return {"value": value, **config, "policy": "seed"}


def key_for(name: str, used: set[str], fallback: str) -> str:
    """A manifest key (letters, digits, `_`, `-`) made from `name`, not yet in `used`."""
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-_")[:56] or fallback
    if not fits(schema.KEY, base):
        base = fallback
    key, n = base, 2
    while key in used:
        key, n = f"{base}-{n}", n + 1
    used.add(key)
    return key


def tool_sources(
    tools: Sequence[ServerTool], stack: str | None, notes: list[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The custom tools to define (`tools:`), and their source files by relative path: with
    a stack, those it owns; otherwise those no stack owns (`--adopt` takes them by name).
    The others stay listed by name on their agents."""
    section: dict[str, Any] = {}
    files: dict[str, str] = {}
    for found in sorted(tools, key=lambda t: t.name):
        if found.owner != stack:
            continue
        if not fits(schema.TOOL_NAME, found.name) or not _defines(found.name, found.source):
            notes.append(f"tool {found.name!r}: its source defines no function of that name")
            continue
        path = f"tools/{found.name}.py"
        section[found.name] = {"source": path}
        files[path] = found.source
    return section, files


def _defines(name: str, source: str) -> bool:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    return any(isinstance(n, functions) and n.name == name for n in tree.body)
