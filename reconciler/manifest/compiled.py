"""The manifest schema compiled to plain Python: is a value valid, yes or no.

Checking a manifest, or each of 100,000 users, with jsonschema costs its import (most of what
`letta-apply validate` waits for) and ~0.1 ms a user. Python source generated once from the
same schema (a function per subschema, one `if` per keyword) answers in microseconds;
jsonschema is imported and run only for a value this check refuses, to explain what is wrong
(`reconciler.manifest.schema`). The keywords the schema uses are implemented with
jsonschema's meaning (Draft 2020-12: `integer` accepts 2.0, booleans are not numbers, `1` is
not `true` in `enum`, NaN meets every bound); a keyword it does not know makes `compile_schema`
fail, so a change of the schema can never make it accept what jsonschema refuses.

The schema is the package's own file, never a user's: its strings reach the generated source
only as constants bound by name, never spliced into it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]

ANNOTATIONS = frozenset(
    {"$schema", "$id", "$defs", "$comment", "title", "description", "default", "examples"}
)
"""Keywords that say nothing about validity."""

_APPLIED_WITH = frozenset({"then", "else", "patternProperties", "additionalProperties"})
"""Keywords compiled together with another (`if`; `properties`)."""

_TYPES = {
    "object": "isinstance(v, dict)",
    "array": "isinstance(v, list)",
    "string": "isinstance(v, str)",
    "boolean": "isinstance(v, bool)",
    "number": "is_number(v)",
    "integer": "is_integer(v)",
    "null": "v is None",
}

_BOUNDS = {"minimum": "<", "maximum": ">", "exclusiveMinimum": "<=", "exclusiveMaximum": ">="}
"""Each numeric bound and the comparison that fails it (as jsonschema compares)."""

_SIZES = {
    "minLength": ("str", "<"),
    "maxLength": ("str", ">"),
    "minItems": ("list", "<"),
    "maxItems": ("list", ">"),
    "minProperties": ("dict", "<"),
    "maxProperties": ("dict", ">"),
}


class NotCompiled(Exception):
    """The schema uses a keyword the compiler does not implement."""


def compile_schema(schema: Mapping[str, Any]) -> dict[str | None, Check]:
    """A check for the whole schema (key None) and for each of its `$defs` entries."""
    compiler = _Compiler(schema)
    names = {None: compiler.function(schema)}
    names.update({name: compiler.ref(f"#/$defs/{name}") for name in schema.get("$defs", {})})
    namespace = compiler.namespace()
    exec(compile("\n".join(compiler.lines), "<manifest schema>", "exec"), namespace)
    compiler.bind_tables(namespace)
    return {key: namespace[name] for key, name in names.items()}


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def same(a: Any, b: Any) -> bool:
    """JSON equality as jsonschema has it for `enum` and `const`: booleans equal only
    booleans, numbers compare by value, containers item by item."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if is_number(a) and is_number(b):
        return bool(a == b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and bool(a == b)


class _Compiler:
    """Writes one Python function per subschema; constants are bound by name."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.lines: list[str] = []
        self.constants: dict[str, object] = {}
        self.refs: dict[str, str] = {}
        self.tables: list[str] = []
        self.count = 0

    def namespace(self) -> dict[str, Any]:
        helpers = {"is_number": is_number, "is_integer": is_integer, "same": same}
        return {**helpers, **self.constants}

    def bind_tables(self, namespace: dict[str, Any]) -> None:
        """Point each property table at the functions it names, once they exist."""
        for table in self.tables:
            namespace[table] = {key: namespace[name] for key, name in namespace[table].items()}

    def constant(self, value: object) -> str:
        name = f"c{len(self.constants)}"
        self.constants[name] = value
        return name

    def ref(self, pointer: str) -> str:
        """The function of a `$defs` entry, written once (references to itself included)."""
        if pointer not in self.refs:
            prefix = "#/$defs/"
            name = pointer[len(prefix) :]
            if not pointer.startswith(prefix) or name not in self.root.get("$defs", {}):
                raise NotCompiled(f"$ref {pointer}")
            self.refs[pointer] = function = f"d{len(self.refs)}"
            self.function(self.root["$defs"][name], function)
        return self.refs[pointer]

    def function(self, schema: Any, name: str | None = None) -> str:
        """Write the function checking `schema`; returns its name."""
        if name is None:
            self.count += 1
            name = f"s{self.count}"
        body: list[str] = []
        if schema is False:
            body.append("return False")
        elif schema is not True:
            if not isinstance(schema, Mapping):
                raise NotCompiled(f"schema {schema!r}")
            for keyword, argument in schema.items():
                if keyword not in ANNOTATIONS and keyword not in _APPLIED_WITH:
                    body.extend(self.keyword(keyword, argument, schema))
            if "properties" not in schema and _APPLIED_WITH & {*schema} - {"then", "else"}:
                body.extend(self.properties({}, schema))
        lines = [f"def {name}(v):", *(f"    {line}" for line in body), "    return True", ""]
        self.lines.extend(lines)
        return name

    def keyword(self, keyword: str, argument: Any, schema: Mapping[str, Any]) -> list[str]:
        """The statements that return False when `v` fails `keyword`."""
        if keyword in _BOUNDS:
            limit = self.constant(argument)
            return [f"if is_number(v) and v {_BOUNDS[keyword]} {limit}: return False"]
        if keyword in _SIZES:
            kind, fails = _SIZES[keyword]
            return [f"if isinstance(v, {kind}) and len(v) {fails} {int(argument)}: return False"]
        match keyword:
            case "type":
                names = argument if isinstance(argument, list) else [argument]
                if any(name not in _TYPES for name in names):
                    raise NotCompiled(f"type {argument!r}")
                return [f"if not ({' or '.join(_TYPES[n] for n in names)}): return False"]
            case "enum" if all(isinstance(item, str) for item in argument):
                allowed = self.constant(frozenset(argument))
                return [f"if not (isinstance(v, str) and v in {allowed}): return False"]
            case "enum":
                options = self.constant(tuple(argument))
                return [f"for x in {options}:", "    if same(v, x): break", "else: return False"]
            case "const":
                return [f"if not same(v, {self.constant(argument)}): return False"]
            case "pattern":
                search = self.constant(re.compile(argument).search)
                return [f"if isinstance(v, str) and {search}(v) is None: return False"]
            case "required":
                keys = self.constant(tuple(argument))
                return [
                    "if isinstance(v, dict):",
                    f"    for k in {keys}:",
                    "        if k not in v: return False",
                ]
            case "properties":
                return self.properties(argument, schema)
            case "propertyNames":
                check = self.function(argument)
                return [
                    "if isinstance(v, dict):",
                    "    for k in v:",
                    f"        if not {check}(k): return False",
                ]
            case "items":
                check = self.function(argument)
                return [
                    "if isinstance(v, list):",
                    "    for x in v:",
                    f"        if not {check}(x): return False",
                ]
            case "allOf":
                return [f"if not {self.function(sub)}(v): return False" for sub in argument]
            case "anyOf" | "oneOf":
                options = ", ".join(self.function(sub) for sub in argument)
                wanted = ">= 1" if keyword == "anyOf" else "== 1"
                return [f"if not (len([f for f in ({options},) if f(v)]) {wanted}): return False"]
            case "not":
                return [f"if {self.function(argument)}(v): return False"]
            case "if":
                condition = self.function(argument)
                then = self.function(schema.get("then", True))
                otherwise = self.function(schema.get("else", True))
                return [f"if not ({then}(v) if {condition}(v) else {otherwise}(v)): return False"]
            case "$ref":
                return [f"if not {self.ref(argument)}(v): return False"]
        raise NotCompiled(f"keyword {keyword}")

    def properties(self, named: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
        """`properties` with `patternProperties` and `additionalProperties`: the last applies
        to the keys the first two do not cover."""
        if "patternProperties" in schema:
            raise NotCompiled("patternProperties")
        checks = {key: self.function(sub) for key, sub in named.items()}
        table = self.constant(checks)  # names for now: `bind_tables` binds the functions
        self.tables.append(table)
        additional = schema.get("additionalProperties", True)
        lines = [
            "if isinstance(v, dict):",
            "    for k, x in v.items():",
            f"        f = {table}.get(k)",
            "        if f is not None:",
            "            if not f(x): return False",
        ]
        if additional is False:
            lines.append("        else: return False")
        elif additional is not True:
            lines.append(f"        elif not {self.function(additional)}(x): return False")
        return lines
