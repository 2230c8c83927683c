"""Edits of users written in a manifest's `users:` list, made on the file's text.

The user's entry is found by the location the manifest loader recorded for it; the YAML
nodes (composed again from the same text, with the loader's own rules) give where each part
of the entry starts and ends. Only the entry's own lines change: a removed user's lines go,
comments and blank lines around it stay. Entries the text cannot be edited for safely are
refused: in a flow-style list, built with anchors, aliases or merge keys, or sharing a line
with something else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.manifest.edits.base import (
    Move,
    Refused,
    Remove,
    Request,
    Span,
    line_end,
    line_start,
    whole_lines,
)
from reconciler.manifest.yaml_loader import ManifestLoader

_MERGE_TAG = "tag:yaml.org,2002:merge"
_ENTRY_PREFIX = re.compile(r"[ \t]*-[ \t]+")
_LINE_REST = re.compile(r"[ \t]*(#.*)?")

UNEDITABLE = "it is built with YAML anchors, aliases or merge keys (&, *, <<)"


@dataclass(frozen=True)
class _Entry:
    """A user's entry: the `users` key, the list, and the entry's mapping."""

    key: ScalarNode
    users: SequenceNode
    node: MappingNode


def edit_yaml(text: str, requests: Sequence[Request]) -> tuple[list[Span], dict[str, str]]:
    """The spans making the requested edits, and the reason for each user not edited."""
    try:
        entries = {_at(entry.node): entry for entry in _entries(text)}
    except yaml.YAMLError:
        return [], {request.user.id: "the file no longer reads as YAML" for request in requests}
    spans: list[Span] = []
    refused: dict[str, str] = {}
    removed: dict[int, list[_Entry]] = {}
    for request in requests:
        loc = request.user.source.loc
        try:
            entry = entries.get((loc.line, loc.column))
            if entry is None or _scalar(entry.node, "id") != request.user.id:
                raise Refused("its entry is not where the manifests were read from")
            _check_plain(text, entry)
            match request:
                case Remove():
                    spans.append(_remove_entry(text, entry.node))
                    removed.setdefault(id(entry.users), []).append(entry)
                case Move(agent=agent):
                    spans.extend(_move(text, entry.node, agent))
        except Refused as exc:
            refused[request.user.id] = exc.reason
    for gone in removed.values():
        if len(gone) == len(gone[0].users.value):
            spans.append(_empty_list(text, gone[0].key))
    return spans, refused


def _at(node: Node) -> tuple[int, int]:
    """The node's 1-based line and column, as the loader records locations."""
    return node.start_mark.line + 1, node.start_mark.column + 1


def _entries(text: str) -> Iterator[_Entry]:
    """Every mapping in a `users` list of any document of the file."""
    loader = ManifestLoader(text)
    try:
        while loader.check_node():
            root = loader.get_node()
            for key, users in root.value if isinstance(root, MappingNode) else ():
                if _is_users(key) and isinstance(users, SequenceNode):
                    for item in users.value:
                        if isinstance(item, MappingNode):
                            yield _Entry(key, users, item)
    finally:
        loader.dispose()


def _is_users(key: Node) -> bool:
    return isinstance(key, ScalarNode) and key.value == "users"


def _scalar(node: MappingNode, name: str) -> str | None:
    for key, value in node.value:
        if isinstance(key, ScalarNode) and key.value == name and isinstance(value, ScalarNode):
            return str(value.value)
    return None


def _check_plain(text: str, entry: _Entry) -> None:
    """Refuse what a text edit could break or get wrong."""
    if entry.users.flow_style:
        raise Refused("it is in a flow-style list ([...]); edit that list by hand")
    start, end = entry.node.start_mark.index, entry.node.end_mark.index
    for node in _nodes(entry.node):
        inside = start <= node.start_mark.index <= end
        if not inside or node.tag == _MERGE_TAG or text.startswith("&", node.start_mark.index):
            raise Refused(UNEDITABLE)
    if not _ENTRY_PREFIX.fullmatch(text[line_start(text, start) : start]):
        raise Refused("its first line holds more than the list's '- ' and the entry")


def _nodes(node: Node) -> Iterator[Node]:
    """The node and every node under it (an alias shows as a node written elsewhere)."""
    yield node
    if isinstance(node, MappingNode):
        for key, value in node.value:
            yield key
            yield from _nodes(value)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            yield from _nodes(item)


def _content_end(text: str, node: Node) -> int:
    """Where the node's last character is written, plus one (a block collection's end mark
    lies past the comments that follow it; a block scalar's past its trailing blank lines)."""
    while isinstance(node, MappingNode | SequenceNode) and not node.flow_style:
        last = node.value[-1]
        node = last[1] if isinstance(last, tuple) else last
    end = node.end_mark.index
    while end > node.start_mark.index and text[end - 1].isspace():
        end -= 1
    return end


def _own_lines(text: str, start: int, node: Node, what: str) -> Span:
    """Remove the lines from `start` to the end of `node`, if nothing else is on them."""
    end = _content_end(text, node)
    if not _LINE_REST.fullmatch(text[end : line_end(text, end)]):
        raise Refused(f"{what} shares its last line with something else")
    return whole_lines(text, start, end)


def _remove_entry(text: str, node: MappingNode) -> Span:
    return _own_lines(text, node.start_mark.index, node, "its entry")


def _empty_list(text: str, key: ScalarNode) -> Span:
    """`users: []` once every entry of the list is removed (an empty `users:` is null)."""
    colon = text.index(":", key.end_mark.index)
    return Span(colon + 1, colon + 1, " []")


def _move(text: str, node: MappingNode, agent: str) -> list[Span]:
    """`pattern: shared` and `agent: <agent>` in place of `pattern: dedicated` and the
    template; the tags of the user's own agent dropped."""
    pairs = {str(k.value): (k, v) for k, v in node.value if isinstance(k, ScalarNode)}
    pattern_key, pattern = pairs["pattern"]
    spans = [Span(pattern.start_mark.index, pattern.end_mark.index, "shared")]
    value = plain_scalar(agent)
    if "template" in pairs:
        key, template = pairs["template"]
        spans.append(Span(key.start_mark.index, key.end_mark.index, "agent"))
        spans.append(Span(template.start_mark.index, template.end_mark.index, value))
    elif node.flow_style:
        spans.append(Span(pattern.end_mark.index, pattern.end_mark.index, f", agent: {value}"))
    else:
        at = line_end(text, _content_end(text, pattern))
        indent = " " * pattern_key.start_mark.column
        spans.append(Span(at, at, f"\n{indent}agent: {value}"))
    if "tags" in pairs:
        spans.append(_remove_pair(text, node, "tags"))
    return spans


def _remove_pair(text: str, node: MappingNode, name: str) -> Span:
    index = next(i for i, (k, _) in enumerate(node.value) if k.value == name)
    key, value = node.value[index]
    if node.flow_style:
        if index > 0:
            return Span(node.value[index - 1][1].end_mark.index, value.end_mark.index, "")
        return Span(key.start_mark.index, node.value[index + 1][0].start_mark.index, "")
    start = key.start_mark.index
    if text[line_start(text, start) : start].strip():
        raise Refused(f"its '{name}' shares a line with the list's '- '; edit it by hand")
    return _own_lines(text, start, value, f"its '{name}'")


def plain_scalar(value: str) -> str:
    """`value` as YAML reads it back as this very string: plain when it can be, else quoted."""
    try:
        plain = yaml.safe_load(value) == value and "#" not in value and ":" not in value
    except yaml.YAMLError:
        plain = False
    return value if plain else json.dumps(value)
