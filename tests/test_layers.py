"""Packages import one way: no package of `reconciler` imports one that imports it back.

Every import in every module counts (type-only and function-level imports included): a
package's dependencies are the other packages any of its modules name. A package is a
folder under `reconciler/` or a module directly in it.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).parents[1] / "reconciler"


def _package(module: str) -> str:
    """`reconciler.kinds.agent` -> `kinds`; `reconciler.address` -> `address`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _module_name(path: Path) -> str:
    relative = path.relative_to(ROOT.parent).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def _imported(path: Path) -> set[str]:
    """The `reconciler` modules (or packages) a module imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("reconciler.")}


def package_imports() -> dict[str, set[str]]:
    """Package -> the other packages its modules import."""
    graph: dict[str, set[str]] = defaultdict(set)
    modules = {_module_name(p) for p in ROOT.rglob("*.py")}
    for path in ROOT.rglob("*.py"):
        source = _package(_module_name(path))
        for name in _imported(path):
            while name not in modules and "." in name:
                name = name.rsplit(".", 1)[0]  # `from package import name` names no module
            target = _package(name)
            if target and target != source:
                graph[source].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of packages that import each other (strongly connected, more than one)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_no_package_imports_one_that_imports_it_back() -> None:
    assert cycles(package_imports()) == []


def test_a_cycle_is_seen() -> None:
    graph = {"kinds": {"plan"}, "plan": {"live"}, "live": {"kinds"}, "cli": {"plan"}}
    assert cycles(graph) == [["kinds", "live", "plan"]]
