"""The reference tables of docs/manifest.md, generated from the schema so they never drift.

`python -m reconciler.manifest.docs docs/manifest.md` rewrites the part of the file between
the two markers; the rest of the file is prose written by hand. `--check` only compares.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from reconciler.manifest.schema import manifest_schema

BEGIN = "<!-- BEGIN GENERATED REFERENCE: python -m reconciler.manifest.docs docs/manifest.md -->"
END = "<!-- END GENERATED REFERENCE -->"
FORMATS = ("key", "label", "handle")


def reference(schema: Mapping[str, Any]) -> str:
    """Markdown tables for the top level and every mapping of the format, and the formats of
    names."""
    defs = schema["$defs"]
    parts = [_section("Top level", schema, defs)]
    parts += [_section(name, _object(defs[name]), defs) for name in sections(schema)]
    parts.append(_formats(defs))
    return "\n".join(parts)


def sections(schema: Mapping[str, Any]) -> list[str]:
    """The mappings the format defines (`$defs`), in the order it first reaches each from the
    top level, depth first: each is documented after what uses it first."""
    defs = schema["$defs"]
    found: list[str] = []
    seen: set[str] = set()

    def visit(node: Any) -> None:
        for name in _references(node):
            if name not in seen:
                seen.add(name)
                if _is_mapping(defs[name]):
                    found.append(name)
                visit(defs[name])

    visit(schema["properties"])
    return found


def _references(node: Any) -> Iterator[str]:
    """The `$defs` a node refers to, in the order they are written."""
    if isinstance(node, Mapping):
        if "$ref" in node:
            yield node["$ref"].rsplit("/", 1)[-1]
        for key, value in node.items():
            if key != "$ref":
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def _is_mapping(node: Mapping[str, Any]) -> bool:
    """A definition with keys of its own (or a choice of which one is a mapping)."""
    return "properties" in node or any("properties" in o for o in node.get("oneOf", ()))


def _object(node: Mapping[str, Any]) -> Mapping[str, Any]:
    """The mapping form of a definition (a file reference is a path or a mapping)."""
    for option in node.get("oneOf", ()):
        if "properties" in option:
            return {**option, "description": node.get("description", "")}
    return node


def _section(title: str, node: Mapping[str, Any], defs: Mapping[str, Any]) -> str:
    lines = [f"### {title}", "", node.get("description", ""), ""]
    lines += ["| Key | Type | Required | Default | Description |", "|---|---|---|---|---|"]
    required = set(node.get("required", ()))
    for key, prop in node["properties"].items():
        cells = (
            f"`{key}`",
            _type(prop, defs),
            "yes" if key in required else "",
            _default(prop, defs),
            _description(prop, defs),
        )
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _formats(defs: Mapping[str, Any]) -> str:
    lines = ["### Names and handles", "", "| Format | Pattern | Description |", "|---|---|---|"]
    for name in FORMATS:
        node = defs[name]
        pattern = f"`{node['pattern']}`"
        lines.append(f"| {name} | {_cell(pattern)} | {_cell(node['description'])} |")
    return "\n".join(lines) + "\n"


def _type(node: Mapping[str, Any], defs: Mapping[str, Any]) -> str:
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name in FORMATS:
            return f"[{name}](#names-and-handles)"
        return f"[{name}](#{name.lower()})" if _is_mapping(defs[name]) else _type(defs[name], defs)
    if "const" in node:
        return f"`{node['const']}`"
    if "enum" in node:
        return " or ".join(f"`{value}`" for value in node["enum"])
    alternatives = node.get("oneOf") or node.get("anyOf")
    if alternatives:
        return " or ".join(_type(option, defs) for option in alternatives)
    return " or ".join(_plain_type(kind, node, defs) for kind in _kinds(node))


def _kinds(node: Mapping[str, Any]) -> list[str]:
    kind = node.get("type", "any")
    return [kind] if isinstance(kind, str) else list(kind)


def _plain_type(kind: str, node: Mapping[str, Any], defs: Mapping[str, Any]) -> str:
    if kind == "array":
        return f"list of {_type(node.get('items', {}), defs)}"
    if kind == "object" and isinstance(node.get("additionalProperties"), Mapping):
        keys = _type(node.get("propertyNames", {"type": "string"}), defs)
        return f"map of {keys} to {_type(node['additionalProperties'], defs)}"
    if kind == "object":
        return "mapping"
    if "pattern" in node:
        return f"{kind} (pattern)"
    return kind


def _default(node: Mapping[str, Any], defs: Mapping[str, Any]) -> str:
    if "default" not in node and "$ref" in node:
        return _default(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    if "default" not in node:
        return ""
    value = node["default"]
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return f"`{text}`"


def _description(node: Mapping[str, Any], defs: Mapping[str, Any]) -> str:
    if "description" in node:
        return str(node["description"])
    if "$ref" in node:
        return _description(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    return ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def splice(document: str, generated: str) -> str:
    """`document` with the text between the markers replaced by `generated`."""
    start = document.index(BEGIN) + len(BEGIN)
    end = document.index(END)
    return f"{document[:start]}\n\n{generated}\n{document[end:]}"


def main(argv: list[str]) -> int:
    """Rewrite (or with `--check`, compare) the reference part of a Markdown file."""
    check = "--check" in argv
    paths = [Path(arg) for arg in argv if arg != "--check"]
    stale = list(_stale(paths))
    if check:
        for path in stale:
            print(f"{path}: reference tables are out of date", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(splice(path.read_text("utf-8"), reference(manifest_schema())), "utf-8")
    return 0


def _stale(paths: list[Path]) -> Iterator[Path]:
    generated = reference(manifest_schema())
    for path in paths:
        text = path.read_text("utf-8")
        if splice(text, generated) != text:
            yield path


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
