"""Manifests: load, validate and expand YAML files into one stack's DesiredState.

Problems come in at most two rounds. First every file is read and checked on its own
(YAML, schema) and the well-formed ones are merged (conflicts between files, users files).
References and expansion are checked once all files are well-formed, so that a broken
file never causes misleading "unknown template" problems elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from reconciler.desired import DesiredState
from reconciler.errors import Location
from reconciler.manifest.expand import expand
from reconciler.manifest.files import MANIFEST_MAX_BYTES, discover, read_text
from reconciler.manifest.merge import collect_users, merge
from reconciler.manifest.problems import Problems
from reconciler.manifest.schema import check_document, manifest_schema
from reconciler.manifest.yaml_loader import Document, load_documents

__all__ = ["load_desired", "manifest_schema"]


def load_desired(paths: Sequence[Path]) -> DesiredState:
    """The desired state declared by the manifests under `paths` (files or directories).

    Offline and deterministic. Raises ManifestError carrying every problem found.
    """
    problems = Problems()
    documents, well_formed = _read(paths, problems)
    stack = merge(documents, problems)
    if stack is None:
        if not problems:
            where = ", ".join(p.as_posix() for p in paths) or "."
            problems.add(Location(where), "no manifest documents found (*.yaml, *.yml)")
        problems.raise_if_any()
    assert stack is not None
    users = collect_users(stack, problems)
    if not well_formed:
        problems.raise_if_any()
    state = expand(stack, users, problems)
    problems.raise_if_any()
    return state


def _read(paths: Sequence[Path], problems: Problems) -> tuple[list[Document], bool]:
    """Every schema-valid document, and whether all files were well-formed."""
    before = len(problems.items)
    documents: list[Document] = []
    for path in discover(paths, problems):
        file = read_text(path, MANIFEST_MAX_BYTES, problems)
        if file is not None:
            documents.extend(
                d for d in load_documents(file, problems) if check_document(d.root, problems)
            )
    return documents, len(problems.items) == before
