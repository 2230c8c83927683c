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
from reconciler.errors import Location
from reconciler.kinds.agent import GIT_MEMORY_TAG
from reconciler.kinds.agent_settings import COMPACTION_SETTINGS, MODEL_SETTINGS, TOOL_RULES
from reconciler.live.state import LiveAgent, LiveBlock
from reconciler.manifest import schema
from reconciler.manifest.problems import Problems
from reconciler.manifest.schema import fits
from reconciler.manifest.tools import check_rules
from reconciler.manifest.variables import literal
from reconciler.values import thaw

from .defaults import (
    DEFAULT_TIMEZONE,
    ServerDefaults,
    is_default_description,
    is_default_limit,
    is_default_system,
)
from .snapshot import ServerTool

HOISTED = (
    "model",
    "embedding",
    "system",
    "timezone",
    "contextWindowLimit",
    "modelSettings",
    "compactionSettings",
)
"""Settings moved to `defaults` when every template and shared agent has the same value."""
_NOWHERE = Location("<export>")


def settings(agent: LiveAgent, server: ServerDefaults, notes: list[str]) -> dict[str, Any]:
    """The agent settings the stack would manage, in manifest keys, without those the server
    gives every agent of its model (its default system prompt, the model's context window,
    default model and compaction settings). What a manifest cannot hold is noted."""
    held = thaw(agent.settings)
    assert isinstance(held, Mapping)
    model = server.model(held.get("model"))
    found: dict[str, Any] = {}
    for name, key in (("model", "model"), ("embedding", "embedding")):
        if held.get(name) is not None:
            found[key] = held[name]
    if held.get("system") is not None and not is_default_system(held["system"]):
        found["system"] = held["system"]
    window = held.get("context_window_limit")
    if window is not None and window != model.context_window:
        found["contextWindowLimit"] = window
    zone = held.get("timezone")
    if fits(schema.TIMEZONE, zone) and zone != DEFAULT_TIMEZONE:
        found["timezone"] = zone
    for name, key, table, default in (
        ("model_settings", "modelSettings", MODEL_SETTINGS, model.model_settings),
        ("compaction_settings", "compactionSettings", COMPACTION_SETTINGS, model.compaction),
    ):
        if changed := _changed(held.get(name), table, default, key, agent, notes):
            found[key] = changed
    if held.get("enable_sleeptime") is True:
        found["enableSleeptime"] = True
    notes.extend(_unmanaged(agent, held))
    return found


def _changed(
    held: Any,
    table: Mapping[str, tuple[str, ...]],
    default: Mapping[str, Any],
    key: str,
    agent: LiveAgent,
    notes: list[str],
) -> dict[str, Any]:
    """The keys of a settings object (the server's form, read by `table`) whose values differ
    from the defaults; a value the manifest schema refuses is noted, not written."""
    found: dict[str, Any] = {}
    for name, path in table.items():
        value = _at(held, path)
        if value is None or value in default.get(name, ()):
            continue
        if schema.check({name: value}, Problems(), key):
            found[name] = value
        else:
            notes.append(
                f"agent {agent.name!r}: {key}.{name} {value!r} is not one a manifest can hold"
            )
    return found


def _at(held: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        held = held.get(name) if isinstance(held, Mapping) else None
    return held


def _unmanaged(agent: LiveAgent, held: Mapping[str, Any]) -> list[str]:
    """Notes for what the agent holds that no manifest key expresses."""
    notes = []
    what = f"agent {agent.name!r}"
    model = held.get("model_settings")
    if isinstance(model, Mapping) and model.get("response_format") is not None:
        notes.append(f"{what}: its model's response_format is left as the server has it")
    compaction = held.get("compaction_settings")
    if isinstance(compaction, Mapping) and compaction.get("model_settings") is not None:
        notes.append(f"{what}: its compaction model_settings are left as the server has them")
    if agent.secret_names:
        names = ", ".join(agent.secret_names)
        notes.append(
            f"{what}: secret(s) {names} not exported (values are never read); declare them "
            "with valueFromEnv to manage them"
        )
    return notes


def tool_rules(agent: LiveAgent, listed: Sequence[str], notes: list[str]) -> list[dict[str, Any]]:
    """The agent's tool rules in manifest form, without those on its base tools (the server
    adds them, and a plan keeps them); none (noted) when one names a tool the exported agent
    does not have, since rules are managed as a whole."""
    held = thaw(agent.settings.get("tool_rules") or ())
    assert isinstance(held, list)
    back = {server: (key, fields) for key, (server, fields) in TOOL_RULES.items()}
    base = {ref.name for ref in agent.tools if ref.is_base}
    rules = []
    for rule in held:
        if rule.get("tool_name") in base:
            continue
        key, fields = back[rule["type"]]
        found = {"type": key, "tool": rule.get("tool_name")}
        found.update({k: rule[name] for k, name in fields.items() if name in rule})
        rules.append(found)
    problems = Problems()
    check_rules(rules, tuple(listed), bool(base), "", lambda _: _NOWHERE, problems)
    if problems or not schema.check(rules, problems, "toolRules"):
        notes.append(
            f"agent {agent.name!r}: tool rules left as the server has them (one names a tool "
            "the exported agent does not list, or is not one a manifest can hold)"
        )
        return []
    return rules


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


def includes_base_tools(agent: LiveAgent) -> bool:
    """Whether the agent has the server's base tools (memory, conversation search): it has
    none when made with `include_base_tools: false`."""
    return any(ref.is_base for ref in agent.tools)


def _listable(name: str) -> bool:
    """A name an agent's `tools:` list can hold for a tool of the server (not one of an MCP
    server, whose names the list writes as `server/tool`)."""
    return "/" not in name and fits(schema.TOOL_REFERENCE, name)


def block_config(live: LiveBlock) -> dict[str, Any]:
    """A block's configuration (everything but its value), in manifest keys, without the
    server's default limit and the default descriptions of `persona` and `human` blocks."""
    found: dict[str, Any] = {}
    if live.limit is not None and not is_default_limit(live.limit):
        found["limit"] = live.limit
    if live.description and not is_default_description(live.label, live.description):
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
            if found.options:
                notes.append(
                    f"tool {found.name!r}: option(s) {', '.join(found.options)} left as the "
                    "server has them (the tool is listed by name, not defined here)"
                )
            continue
        if not fits(schema.TOOL_NAME, found.name) or not _defines(found.name, found.source):
            notes.append(f"tool {found.name!r}: its source defines no function of that name")
            continue
        path = f"tools/{found.name}.py"
        section[found.name] = {"source": path, **_fitting(found, notes)}
        files[path] = found.source
    return section, files


def _fitting(found: ServerTool, notes: list[str]) -> dict[str, Any]:
    """The tool's options, or none (noted) when one is not what a manifest can hold."""
    options = dict(found.options)
    if options and not schema.check({"source": "x.py", **options}, Problems(), "tool"):
        notes.append(
            f"tool {found.name!r}: options left as the server has them: {', '.join(options)}"
        )
        return {}
    return options


def _defines(name: str, source: str) -> bool:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    return any(isinstance(n, functions) and n.name == name for n in tree.body)
