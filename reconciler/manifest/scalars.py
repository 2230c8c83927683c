"""Values the server cannot keep or the guards cannot compare, refused wherever they appear:
numbers that are not finite (NaN, infinities), NUL characters (the server drops them) and lone
surrogates (not Unicode text: no plan could print them). Nesting is bounded too, so that no
later step recurses without end.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from reconciler.errors import Location
from reconciler.manifest.marked import MarkedMap, child_loc
from reconciler.manifest.problems import Problems

MAX_DEPTH = 32
"""Levels of mappings and lists a value may nest; a manifest needs six."""

_SURROGATE = re.compile("[\ud800-\udfff]")


def check_values(value: Any, where: str, loc: Location, problems: Problems) -> bool:
    """Record every key, string and number in `value` (a marked manifest document or a plain
    row of a users file) that the server cannot keep. `where` names `value` in messages.

    False when `value` nests deeper than MAX_DEPTH (what is deeper was not checked).
    """
    pending = [(value, where, loc, 1)]
    shallow = True
    while pending:
        node, path, node_loc, depth = pending.pop()
        for key, child in _items(node):
            if isinstance(key, str) and (why := bad_text(key)):
                problems.add(_key_loc(node, key, node_loc), f"{path or 'manifest'}: a key {why}")
            child_path = _join(path, key)
            item_loc = child_loc(node, key) or node_loc
            if not isinstance(child, dict | list):
                if why := _bad_scalar(child):
                    problems.add(item_loc, f"{child_path}: {why}")
            elif depth < MAX_DEPTH:
                pending.append((child, child_path, item_loc, depth + 1))
            else:
                problems.add(item_loc, f"{child_path}: nested more than {MAX_DEPTH} levels deep")
                shallow = False
    return shallow


def bad_text(text: str) -> str | None:
    """Why the server cannot keep `text` (a NUL, a lone surrogate), or None."""
    if "\0" in text:
        return "contains a NUL character, which the server drops"
    if not text.isascii() and (found := _SURROGATE.search(text)):
        escape = f"\\u{ord(found.group()):04x}"
        return f"contains {escape}, a lone surrogate: not text (write the character itself)"
    return None


def _bad_scalar(value: Any) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return f"{json.dumps(value)} is not a finite number"
    if isinstance(value, str):
        return bad_text(value)
    return None


def _items(node: Any) -> list[tuple[str | int, Any]]:
    if isinstance(node, dict):
        return list(node.items())
    return list(enumerate(node))


def _key_loc(node: Any, key: str, fallback: Location) -> Location:
    return node.key_loc(key) if isinstance(node, MarkedMap) else fallback


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    shown = repr(key)[1:-1] if bad_text(key) else key
    return f"{path}.{shown}" if path else shown
