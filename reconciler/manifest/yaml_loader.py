"""YAML to marked values: a SafeLoader that keeps every line/column and refuses abuse.

PyYAML silently keeps the last of two equal keys and happily expands alias bombs, so this
module composes the node graph itself, checks it (duplicate keys, alias expansion, recursive
aliases), and only then builds `MarkedMap`/`MarkedList` values. Timestamps stay strings and
mapping keys are always read as written, so `2024-01-01` or `on:` never change type.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.errors import Location
from reconciler.manifest.files import TextFile
from reconciler.manifest.marked import MarkedList, MarkedMap
from reconciler.manifest.problems import Problems

MAX_ALIASES = 1000
"""Alias uses allowed in one file; real manifests need a handful."""

MAX_ALIAS_EXPANSION = 100_000
"""Values aliases may add beyond those written; a "billion laughs" file adds ~10**9."""

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_SCALAR_TAGS = {
    f"tag:yaml.org,2002:{name}": name for name in ("str", "int", "float", "bool", "null")
}


@dataclass(frozen=True)
class Document:
    """One YAML document of a manifest file, as a marked mapping."""

    file: TextFile
    root: MarkedMap


class _Refused(Exception):
    """A document the loader will not build; carries where and why."""

    def __init__(self, mark: yaml.Mark | None, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message


class ManifestLoader(yaml.SafeLoader):
    """SafeLoader that counts alias uses and does not resolve timestamps."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.alias_marks: list[yaml.Mark] = []

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            # check_event leaves the peeked event in current_event
            mark: yaml.Mark = self.current_event.start_mark
            self.alias_marks.append(mark)
            if len(self.alias_marks) > MAX_ALIASES:
                raise _Refused(mark, f"more than {MAX_ALIASES} YAML aliases in one file")
        return super().compose_node(parent, index)


# Timestamps stay strings: the schema knows no dates, and `2024-01-01` is text to a person.
ManifestLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_documents(file: TextFile, problems: Problems) -> list[Document]:
    """Every non-empty document in `file`; problems recorded instead of raised."""
    loader = ManifestLoader(file.text)
    documents: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None and not _is_empty(node):
                documents.append(_document(file, node, loader, problems))
    except _Refused as exc:
        problems.add(_loc(file, exc.mark), exc.message)
    except yaml.MarkedYAMLError as exc:
        problems.add(*_yaml_problem(file, exc))
    except yaml.YAMLError as exc:
        problems.add(Location(file.display), f"invalid YAML: {exc}")
    except RecursionError:
        problems.add(Location(file.display), "YAML nesting is too deep")
    finally:
        loader.dispose()
    return documents


def _is_empty(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _document(file: TextFile, node: Node, loader: ManifestLoader, problems: Problems) -> Document:
    _check_expansion(node, loader.alias_marks)
    if not isinstance(node, MappingNode):
        raise _Refused(node.start_mark, "a manifest document must be a mapping")
    root = _Builder(file, loader, problems).build(node)
    assert isinstance(root, MarkedMap)
    return Document(file, root)


def _check_expansion(root: Node, alias_marks: list[yaml.Mark]) -> None:
    """Refuse recursive aliases and documents that aliases would blow up."""
    sizes: dict[int, int] = {}
    expanded = _expanded_size(root, sizes, set())
    if expanded - len(sizes) > MAX_ALIAS_EXPANSION:
        mark = alias_marks[0] if alias_marks else root.start_mark
        message = (
            f"YAML aliases expand this document to {expanded} values, "
            f"over the limit of {MAX_ALIAS_EXPANSION} more than written (an alias bomb?)"
        )
        raise _Refused(mark, message)


def _expanded_size(node: Node, sizes: dict[int, int], active: set[int]) -> int:
    key = id(node)
    if key in active:
        raise _Refused(node.start_mark, "recursive YAML alias (a value contains itself)")
    if key in sizes:
        return sizes[key]
    active.add(key)
    size = 1 + sum(_expanded_size(child, sizes, active) for child in _children(node))
    active.discard(key)
    sizes[key] = size
    return size


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


class _Builder:
    """Turns a checked node graph into marked values, reporting (and skipping) bad keys."""

    def __init__(self, file: TextFile, loader: ManifestLoader, problems: Problems) -> None:
        self.file = file
        self.loader = loader
        self.problems = problems
        # flatten_mapping rewrites a node in place, and an aliased node is built again:
        # remember what was written in each mapping before the first flattening.
        self.explicit: dict[int, dict[str, Node]] = {}

    def build(self, node: Node) -> Any:
        if isinstance(node, MappingNode):
            return self._mapping(node)
        if isinstance(node, SequenceNode):
            return self._sequence(node)
        return self._scalar(node)

    def _scalar(self, node: Node) -> Any:
        """A plain value; one that cannot be built is a problem (and stays text)."""
        kind = _SCALAR_TAGS.get(node.tag)
        if kind is None:
            self._problem(node.start_mark, f"unsupported YAML tag {node.tag!r}")
            return str(node.value)
        try:
            return self.loader.construct_object(node, deep=True)
        except (ValueError, KeyError, AttributeError):
            digits = sys.get_int_max_str_digits()
            if kind == "int" and len(node.value) > digits:
                self._problem(node.start_mark, f"a number of more than {digits} digits")
            else:
                self._problem(node.start_mark, f"not a valid {kind} value (YAML tag !!{kind})")
            return str(node.value)

    def _mapping(self, node: MappingNode) -> MarkedMap:
        self._check_tag(node, _MAP_TAG)
        if id(node) not in self.explicit:
            self.explicit[id(node)] = self._explicit_keys(node)
            self.loader.flatten_mapping(node)
        explicit = self.explicit[id(node)]
        result = MarkedMap(_loc(self.file, node.start_mark))
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            if key is None or (key in explicit and explicit[key] is not key_node):
                continue
            key_loc = _loc(self.file, key_node.start_mark)
            value_loc = _loc(self.file, value_node.start_mark)
            result.put(str(key), self.build(value_node), key_loc, value_loc)
        return result

    def _sequence(self, node: SequenceNode) -> MarkedList:
        self._check_tag(node, _SEQ_TAG)
        result = MarkedList(_loc(self.file, node.start_mark))
        for item in node.value:
            result.push(self.build(item), _loc(self.file, item.start_mark))
        return result

    def _check_tag(self, node: Node, expected: str) -> None:
        if node.tag != expected:
            self._problem(node.start_mark, f"unsupported YAML tag {node.tag!r}")

    def _explicit_keys(self, node: MappingNode) -> dict[str, Node]:
        """The first node of each key written in this mapping (merged keys excluded)."""
        seen: dict[str, Node] = {}
        for key_node, _ in node.value:
            key = None if key_node.tag == _MERGE_TAG else self._key(key_node)
            if key is None:
                continue
            if key in seen:
                first = _loc(self.file, seen[key].start_mark)
                where = f"line {first.line}, column {first.column}"
                self._problem(key_node.start_mark, f"duplicate key '{key}' (first at {where})")
                continue
            seen[key] = key_node
        return seen

    def _key(self, node: Node) -> str | None:
        if isinstance(node, ScalarNode):
            return str(node.value)
        self._problem(node.start_mark, "a mapping key must be a plain value, not a collection")
        return None

    def _problem(self, mark: yaml.Mark, message: str) -> None:
        self.problems.add(_loc(self.file, mark), message)


def _loc(file: TextFile, mark: yaml.Mark | None) -> Location:
    if mark is None:
        return Location(file.display)
    return Location(file.display, mark.line + 1, mark.column + 1)


def _yaml_problem(file: TextFile, exc: yaml.MarkedYAMLError) -> tuple[Location, str]:
    """Where YAML's error is and what it says; for a `key: value` found inside a value, the
    line that holds it and why (indented deeper than its key's line, or a colon unquoted)."""
    mark = exc.problem_mark
    if mark is None or exc.problem != "mapping values are not allowed here":
        return _loc(file, mark), _yaml_message(exc)
    lines = file.text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    above = _previous_content_line(lines, mark.line)
    column = _indent(line) + 1
    # A key before the colon on its own line: the colon is inside that key's value.
    if ":" in line[: mark.column] or above is None or _indent(line) <= _indent(lines[above]):
        hint = "a value holding ': ' must be in quotes (\"...\" or '...')"
        return Location(file.display, mark.line + 1, mark.column + 1), f"invalid YAML: {hint}"
    hint = (
        f"this line is indented deeper than line {above + 1}, so it reads as the rest of that "
        "line's value; indent it like the keys beside it (or quote a value holding ': ')"
    )
    return Location(file.display, mark.line + 1, column), f"invalid YAML: {hint}"


def _previous_content_line(lines: list[str], index: int) -> int | None:
    """The index of the nearest line above `index` holding more than blanks or a comment."""
    for above in range(index - 1, -1, -1):
        text = lines[above].strip()
        if text and not text.startswith("#"):
            return above
    return None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    problem = exc.problem or "invalid YAML"
    if "'\\t'" in problem:
        return "tab character in indentation or before a value; YAML indents with spaces only"
    message = f"invalid YAML: {problem}"
    if exc.context and exc.context_mark is not None:
        where = f"line {exc.context_mark.line + 1}, column {exc.context_mark.column + 1}"
        message += f" ({exc.context} at {where})"
    elif exc.context:
        message += f" ({exc.context})"
    return message
