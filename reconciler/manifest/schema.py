"""The manifest JSON Schema: loading it from the package, checking values against it, and
turning its errors into located, readable problems (with "did you mean" hints for misspelled
keys and values).

A value is checked by the schema compiled to a predicate (`reconciler.manifest.compiled`);
jsonschema is imported and run only on a value the predicate refuses, to say what is wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.errors import Location
from reconciler.manifest.marked import MarkedMap, format_path, locate
from reconciler.manifest.problems import MAX_QUOTED, Problems, quoted, suggest

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

    from reconciler.manifest.compiled import Check

SCHEMA_RESOURCE = "manifest.schema.json"


@cache
def manifest_schema() -> dict[str, Any]:
    """The canonical schema (schemas/manifest.schema.json, shipped inside the package and
    read beside this module: `importlib.resources` would cost every command its imports)."""
    text = Path(__file__).with_name(SCHEMA_RESOURCE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


KEY = ("key",)
LABEL = ("label",)
SOURCE_NAME = ("sourceName",)
HANDLE = ("handle",)
TIMEZONE = ("defaults", "properties", "timezone")
TOOL_NAME = ("toolName",)
TOOL_REFERENCE = ("toolNames", "items")
USER_ID = ("user", "properties", "id")
PROPERTY_KEY = ("user", "properties", "properties", "propertyNames")
"""Where the schema's `$defs` say what a key, a label, a user id... may look like."""


@cache
def pattern(where: tuple[str, ...]) -> re.Pattern[str]:
    """The regular expression the schema gives at `where` (a path below `$defs`): the one
    source of what a name may look like, for the code that checks names outside jsonschema."""
    node: Any = manifest_schema()["$defs"]
    for key in where:
        node = node[key]
    return re.compile(node["pattern"])


def fits(where: tuple[str, ...], value: object) -> bool:
    """Whether `value` is text the schema's pattern at `where` accepts, all of it (a final
    line break included, which `$` alone lets through)."""
    return isinstance(value, str) and pattern(where).fullmatch(value) is not None


@cache
def predicate(definition: str | None = None) -> Check | None:
    """Whether a value is valid against the schema (or one `$defs` entry), in plain Python;
    None if the schema uses a keyword the compiler lacks (jsonschema then checks every value)."""
    checks = _compiled()
    return checks.get(definition) if checks is not None else None


@cache
def _compiled() -> dict[str | None, Check] | None:
    # Imported here: `python -m reconciler.manifest.compiled` writes its generated module.
    from reconciler.manifest.compiled import NotCompiled, compile_schema

    try:
        return compile_schema(manifest_schema())
    except NotCompiled:
        return None


@cache
def _validator(definition: str | None) -> Draft202012Validator:
    schema = manifest_schema()
    if definition is not None:
        schema = {key: schema[key] for key in ("$schema", "$id", "$defs")}
        schema["$ref"] = f"#/$defs/{definition}"
    return validator(schema)


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    """jsonschema's validator of `schema` (imported only to explain a value found invalid),
    its `pattern` meaning what the compiled check takes it to mean (`_anchored_validator`)."""
    return _anchored_validator()(schema)


@cache
def _anchored_validator() -> type[Draft202012Validator]:
    """Draft 2020-12 with `$` in a `pattern` ending the text, as in the schema's regular
    expressions, not also a final line break, as in Python's (`compiled.anchored`)."""
    from jsonschema import Draft202012Validator, validators
    from jsonschema.exceptions import ValidationError

    from reconciler.manifest.compiled import anchored

    def pattern(
        _validator: Draft202012Validator, pattern: str, instance: object, _schema: object
    ) -> Iterator[ValidationError]:
        if isinstance(instance, str) and re.search(anchored(pattern), instance) is None:
            yield ValidationError(f"{instance!r} does not match {pattern!r}")

    # `extend` is untyped in jsonschema's stubs; it makes a subclass of the class it is given.
    extended: type[Draft202012Validator] = validators.extend(  # type: ignore[no-untyped-call]
        Draft202012Validator, {"pattern": pattern}
    )
    return extended


def check(
    value: Any,
    problems: Problems,
    definition: str | None = None,
    *,
    prefix: str = "",
    loc: Location | None = None,
) -> bool:
    """Validate a marked document (or one `$defs` entry); record each error. True if valid.

    `prefix` names `value` in messages (e.g. `users[3]`), paths inside it are appended;
    `loc` is where `value` is, needed when it is a plain value without marks.
    """
    valid = predicate(definition)
    if valid is not None and valid(value):
        return True
    errors = list(_validator(definition).iter_errors(value))
    for error in errors:
        for where, message in _explain(error, _Root(value, loc or Location("?"), prefix)):
            problems.add(where, message)
    return not errors


@dataclass(frozen=True)
class _Root:
    """The value being validated: locations and message paths are relative to it."""

    value: Any
    loc: Location
    prefix: str

    def locate(self, path: list[str | int]) -> Location:
        return locate(self.value, path, self.loc)

    def where(self, path: list[str | int]) -> str:
        return format_path([self.prefix, *path] if self.prefix else path) or "manifest"


def check_document(root: MarkedMap, problems: Problems) -> bool:
    """Validate a document except the items of its `users` list (checked one by one later,
    faster than inside one big validation). True if valid."""
    if isinstance(root.get("users"), list):
        return check(root.without("users"), problems, loc=root.loc)
    return check(root, problems, loc=root.loc)


def _explain(error: ValidationError, root: _Root) -> Iterator[tuple[Location, str]]:
    path = list(error.absolute_path)
    where = root.where(path)
    loc = root.locate(path)
    match error.validator:
        case "additionalProperties":
            yield from _unknown_keys(error, where)
        case "required":
            yield from _missing_keys(error, loc, where)
        case "oneOf" | "anyOf":
            yield from _alternatives(error, root, loc, where)
        case _ if "propertyNames" in error.schema_path:
            yield _key_loc(error, root, path), _single(error, where)
        case _:
            yield loc, _single(error, where)


def _unknown_keys(error: ValidationError, where: str) -> Iterator[tuple[Location, str]]:
    instance = _instance(error)
    allowed = list(_schema(error).get("properties", {}))
    for key in instance:
        if key not in allowed:
            loc = instance.key_loc(key) if isinstance(instance, MarkedMap) else Location("?")
            expected = ", ".join(allowed)
            hint = suggest(key, allowed) or f" (expected one of: {expected})"
            yield loc, f"unknown key {quoted(key)} in {where}{hint}"


def _missing_keys(
    error: ValidationError, loc: Location, where: str
) -> Iterator[tuple[Location, str]]:
    for key in _expected(error):
        if key not in _instance(error):
            yield loc, f"{where}: missing required key '{key}'"


def _alternatives(
    error: ValidationError, root: _Root, loc: Location, where: str
) -> Iterator[tuple[Location, str]]:
    options = _expected(error)
    if all(set(option) == {"required"} for option in options):
        names = " or ".join(f"'{option['required'][0]}'" for option in options)
        present = [o["required"][0] for o in options if o["required"][0] in _instance(error)]
        if present:
            yield loc, f"{where}: set only one of {names}, not both"
        else:
            yield loc, f"{where}: needs {names}"
        return
    yield from _closest_failures(list(_leaves(error)), root)


def _closest_failures(leaves: list[ValidationError], root: _Root) -> Iterator[tuple[Location, str]]:
    """Explain the failures of the alternatives that got furthest into the value."""
    depth = max(len(leaf.absolute_path) for leaf in leaves)
    deepest = [leaf for leaf in leaves if len(leaf.absolute_path) == depth]
    others = [leaf for leaf in deepest if leaf.validator != "type"]
    if others:
        for leaf in others:
            yield from _explain(leaf, root)
        return
    path = list(deepest[0].absolute_path)
    types = sorted({t for leaf in deepest for t in _as_list(_expected(leaf))})
    yield root.locate(path), _type_message(root.where(path), types, _instance(deepest[0]))


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    if not error.context:
        yield error
    for sub in error.context or ():
        yield from _leaves(sub)


def _key_loc(error: ValidationError, root: _Root, path: list[str | int]) -> Location:
    container = root.locate(path)
    node: Any = root.value
    for key in path:
        node = node[key]
    key = _instance(error)
    if isinstance(node, MarkedMap) and isinstance(key, str) and key in node:
        return node.key_loc(key)
    return container


def _single(error: ValidationError, where: str) -> str:
    value = _expected(error)
    instance = _instance(error)
    match error.validator:
        case "type":
            return _type_message(where, _as_list(value), instance)
        case "const":
            return f"{where}: must be {json.dumps(value)}, got {_describe(instance)}"
        case "enum":
            hint = suggest(str(instance), [str(v) for v in value])
            return f"{where}: {_describe(instance)} is not one of: {', '.join(value)}{hint}"
        case "pattern" if "propertyNames" in error.schema_path:
            return f"{where}: the name {_quoted(instance)} is not allowed{_meaning(error)}"
        case "pattern":
            return f"{where}: {_quoted(instance)} does not match {value}{_meaning(error)}"
        case "minLength":
            return f"{where}: must not be empty"
        case "minimum" | "maximum":
            side = "below" if error.validator == "minimum" else "above"
            return f"{where}: {instance} is {side} the {error.validator} of {value}"
    return f"{where}: {error.message}"


def _instance(error: ValidationError) -> Any:
    """The offending value (jsonschema types it as possibly unset; it is always set here)."""
    return error.instance


def _expected(error: ValidationError) -> Any:
    return error.validator_value


def _schema(error: ValidationError) -> Any:
    return error.schema


def _meaning(error: ValidationError) -> str:
    """The first sentence of the failing schema's description, as a hint."""
    description = str(_schema(error).get("description", ""))
    first = description.split(". ")[0].rstrip(".")
    return f" ({first[:1].lower()}{first[1:]})" if first else ""


def _type_message(where: str, types: list[str], instance: Any) -> str:
    quote = "string" in types and _json_type(instance) in ("integer", "number", "boolean")
    hint = " (quote it to make it a string)" if quote else ""
    return f"{where}: expected {_or(types)}, got {_describe(instance)}{hint}"


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _or(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _describe(instance: Any) -> str:
    kind = _json_type(instance)
    if kind in ("object", "array", "null"):
        return kind
    return f"{kind} {_quoted(instance)}"


def _quoted(instance: Any) -> str:
    """The offending value as JSON (control characters escaped), shortened to MAX_QUOTED."""
    text = json.dumps(instance)
    return text if len(text) <= MAX_QUOTED else text[: MAX_QUOTED - 3] + "..."


def _json_type(instance: Any) -> str:
    match instance:
        case None:
            return "null"
        case bool():
            return "boolean"
        case int():
            return "integer"
        case float():
            return "number"
        case str():
            return "string"
        case list():
            return "array"
    return "object"
