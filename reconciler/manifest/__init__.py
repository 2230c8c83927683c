"""Manifests: load, validate and expand YAML files into one stack's DesiredState.

Problems come in at most two rounds. First every file is read and checked on its own
(YAML, values the server cannot keep, schema) and the well-formed ones are merged (conflicts
between files, users files). Every file read is inside the stack's root (`files.Root`).
References and expansion are checked once all files are well-formed, so that a broken
file never causes misleading "unknown template" problems elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.desired import DesiredState, Outline
from reconciler.environ import credential_refusal, is_credential
from reconciler.errors import Location, ManifestError
from reconciler.manifest.expand import Blueprints, compile_stack, expand, outline
from reconciler.manifest.files import Root, TextFile, discover, find_root, read_manifest
from reconciler.manifest.merge import (
    Stack,
    Users,
    collect_users,
    manifest_users,
    merge,
    open_users_files,
)
from reconciler.manifest.problems import Problems
from reconciler.manifest.scalars import check_values
from reconciler.manifest.schema import check_document, manifest_schema
from reconciler.manifest.users import User
from reconciler.manifest.yaml_loader import Document, load_documents

__all__ = ["Declared", "Opened", "load_declared", "load_desired", "manifest_schema", "open_stack"]


def load_desired(paths: Sequence[Path], root: Path | None = None) -> DesiredState:
    """The desired state declared by the manifests under `paths` (files or directories).

    Files are read only inside `root` (`--root`), by default the folder holding `paths`.
    Offline and deterministic. Raises ManifestError carrying every problem found.
    """
    return load_declared(paths, root).desired


@dataclass(frozen=True)
class Declared:
    """A valid stack as declared: its desired state, its users with where each is written,
    and the root its files are read from (and written to, by edits of the manifests)."""

    desired: DesiredState
    users: tuple[User, ...]
    root: Root


def load_declared(paths: Sequence[Path], root: Path | None = None) -> Declared:
    """Like `load_desired`, keeping the users' declarations and the stack's root."""
    return open_stack(paths, root).declared()


@dataclass(frozen=True)
class Opened:
    """A stack whose manifests are read, merged and checked (their definitions compiled when
    every file is well-formed, `prints`; the users they declare themselves checked) and its
    users files read: the rows of these are parsed and checked, and every user expanded, by
    `declared`. `problems` holds what was found so far."""

    stack: Stack
    root: Root
    problems: Problems
    prints: Blueprints | None
    users: Users
    """The users the manifests declare themselves, checked."""
    users_files: tuple[TextFile | None, ...]
    """The text of each users file (None for one that is not read)."""

    @property
    def outline(self) -> Outline | None:
        """What the manifests declare before their users; None when they have problems."""
        if self.problems or self.prints is None:
            return None
        return outline(self.stack, self.prints)

    def declared(self) -> Declared:
        """The valid stack: its users read and expanded. Raises ManifestError carrying every
        problem found, those of the manifests included."""
        problems = self.problems
        users = collect_users(self.stack, problems, self.users_files, self.users)
        if self.prints is None:
            problems.raise_if_any()
        state = expand(self.stack, users, problems, self.prints)
        _no_credentials(state, problems)
        problems.raise_if_any()
        return Declared(state, tuple(users), self.root)

    def desired(self) -> DesiredState:
        """`declared().desired`."""
        return self.declared().desired


def open_stack(paths: Sequence[Path], root: Path | None = None) -> Opened:
    """The manifests under `paths` read, checked, merged and compiled, and the users files
    they name read, their rows not parsed yet: every problem of the manifests themselves is
    found, and the stack known (`Opened.outline`) while the users files' rows load. Raises
    ManifestError when no stack can be read (no manifest, a folder that leads out)."""
    problems = Problems()
    if (files_root := find_root(paths, root, problems)) is None:
        raise ManifestError(problems.listed())  # nothing is read through a folder that leads out
    documents, well_formed = _read(paths, files_root, problems)
    stack = merge(documents, files_root, problems)
    if stack is None:
        if not problems:
            where = ", ".join(p.as_posix() for p in paths) or "."
            problems.add(Location(where), "no manifest documents found (*.yaml, *.yml)")
        problems.raise_if_any()
    assert stack is not None
    prints = compile_stack(stack, problems) if well_formed else None
    users = manifest_users(stack, problems)
    texts = tuple(open_users_files(stack, problems))
    return Opened(stack, files_root, problems, prints, users, texts)


def _no_credentials(state: DesiredState, problems: Problems) -> None:
    """A manifest never names the credentials of letta-apply or of the CI runner, whatever
    the operator allows (which variables it allows is checked when they are read)."""
    for _address, declared in state.declared_secrets():
        for secret in declared:
            if is_credential(secret.env):
                problems.add(secret.loc, credential_refusal(secret.env))


def _read(paths: Sequence[Path], root: Root, problems: Problems) -> tuple[list[Document], bool]:
    """Every schema-valid document, and whether all files were well-formed."""
    before = len(problems.items)
    documents: list[Document] = []
    for path in discover(paths, root, problems):
        file = read_manifest(path, root, problems)
        if file is not None:
            documents.extend(d for d in load_documents(file, problems) if _valid(d, problems))
    return documents, len(problems.items) == before


def _valid(document: Document, problems: Problems) -> bool:
    """Schema-valid; values the server cannot keep are reported too (and fail the run)."""
    shallow = check_values(document.root, "", document.root.loc, problems)
    return shallow and check_document(document.root, problems)
