"""The stack's custom tools (`tools:`), and the checks of the tools agents name.

A tool is the source file of a Python function in the repository: read inside the stack's
root, parsed here (a syntax error is reported at its line and column) and required to define
a function named as the tool, since the server names a tool after its function.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

from reconciler.address import Address
from reconciler.desired import McpServerSpec, SecretSpec, ToolSpec
from reconciler.errors import Location
from reconciler.manifest.files import MANIFEST_MAX_BYTES, FileRef, read_reference
from reconciler.manifest.merge import Definition, Stack
from reconciler.manifest.problems import Problems, suggest

BASE_TOOLS = frozenset(
    {
        "send_message",
        "conversation_search",
        "archival_memory_insert",
        "archival_memory_search",
        "core_memory_append",
        "core_memory_replace",
        "memory",
        "memory_apply_patch",
        "memory_insert",
        "memory_replace",
        "memory_rethink",
        "memory_finish_edits",
    }
)
"""Tools the server may attach by itself (`includeBaseTools`, Letta 0.16.8): tool rules may
name them without listing them."""


def compile_tool(definition: Definition, stack: Stack, problems: Problems) -> ToolSpec | None:
    """The tool a `tools:` entry defines, or None (with the problem recorded)."""
    body = definition.body
    ref = FileRef("source", body["source"], definition.base, body.value_loc("source"))
    file = read_reference(ref, stack.root, MANIFEST_MAX_BYTES, problems)
    if file is None:
        return None
    if not _defines(definition.name, file.text, file.display, ref.loc, problems):
        return None
    requirements = body.get("pipRequirements")
    return ToolSpec(
        address=Address.tool(definition.name),
        source_code=file.text,
        description=body.get("description"),
        pip_requirements=tuple(requirements) if requirements is not None else None,
        return_char_limit=body.get("returnCharLimit"),
        requires_approval=body.get("requiresApproval"),
        protected=bool(body.get("protected", False)),
    )


def _defines(name: str, source: str, display: str, loc: Location, problems: Problems) -> bool:
    """The source parses and defines a top-level function `name`."""
    try:
        tree = ast.parse(source, filename=display)
    except SyntaxError as exc:
        where = Location(display, exc.lineno or 1, exc.offset or 1)
        problems.add(where, f"tool '{name}': the source is not valid Python: {exc.msg}")
        return False
    except (RecursionError, MemoryError):  # the parser's stack: nesting no tool needs
        problems.add(Location(display, 1, 1), f"tool '{name}': the source is nested too deeply")
        return False
    functions = [
        node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    if name in functions:
        return True
    found = f" (it defines: {', '.join(functions)})" if functions else " (it defines none)"
    message = f"tool '{name}': {display} defines no function named '{name}'{found}"
    problems.add(loc, f"{message}; the server names a tool after its function")
    return False


def compile_mcp_server(definition: Definition) -> McpServerSpec:
    """The MCP server an `mcpServers:` entry declares (already valid against the schema)."""
    body = definition.body
    credentials = []
    for prefix, key in (("header:", "headers"), ("env:", "env")):
        for name, entry in body.get(key, {}).items():
            where = entry.value_loc("valueFromEnv")
            credentials.append(SecretSpec(f"{prefix}{name}", entry["valueFromEnv"], where))
    if "authToken" in body:
        entry = body["authToken"]
        where = entry.value_loc("valueFromEnv")
        credentials.append(SecretSpec("authToken", entry["valueFromEnv"], where))
    transport = (
        "stdio" if "command" in body else _TRANSPORTS[body.get("transport", "streamableHttp")]
    )
    return McpServerSpec(
        address=Address.mcp_server(definition.name),
        transport=transport,
        command=body.get("command"),
        args=tuple(body.get("args", ())),
        url=body.get("url"),
        auth_header=body.get("authHeader"),
        credentials=tuple(sorted(credentials, key=lambda s: s.name)),
        protected=bool(body.get("protected", False)),
    )


_TRANSPORTS = {"streamableHttp": "streamable_http", "sse": "sse"}


def check_rules(
    rules: list[dict[str, object]],
    tools: tuple[str, ...],
    include_base: bool | None,
    what: str,
    loc: Callable[[int], Location],
    problems: Problems,
) -> None:
    """Every tool a rule names is one the agent has: listed, or a base tool while the
    server's base tools are included."""
    listed = {name.rsplit("/", 1)[-1] for name in tools}  # an MCP tool by its own name
    usable = listed | (BASE_TOOLS if include_base is not False else set())
    for index, rule in enumerate(rules):
        named = [rule.get("tool"), *_names(rule.get("children")), rule.get("defaultChild")]
        mapping = rule.get("childOutputMapping")
        if isinstance(mapping, dict):
            named.extend(mapping.values())
        for name in named:
            if isinstance(name, str) and name not in usable:
                hint = suggest(name, sorted(usable))
                problems.add(
                    loc(index),
                    f"{what}: toolRules[{index}] names tool '{name}', which the agent does "
                    f"not have (list it in tools){hint}",
                )


def _names(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []
