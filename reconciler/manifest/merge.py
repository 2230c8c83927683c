"""Merging the documents of many files into one stack, reporting every conflict.

Definitions (templates, agents, blocks) merge by key and may be defined once; users are
concatenated; `defaults`, `prune` and `review` merge field by field, and a field set twice
must agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler import collector
from reconciler.errors import Location
from reconciler.manifest.files import FileRef, Root, TextFile
from reconciler.manifest.marked import MarkedList, MarkedMap
from reconciler.manifest.problems import Problems
from reconciler.manifest.schema import manifest_schema
from reconciler.manifest.users import Format, Origin, User, parse_user
from reconciler.manifest.users_from import (
    UsersFile,
    open_users_file,
    users_file_format,
    users_rows,
    where_conditions,
)
from reconciler.manifest.yaml_loader import Document


def _definition_sections() -> dict[str, str]:
    """The top-level sections of definitions by name (`templates:`, `blocks:`, ...), as the
    schema has them (a mapping of names to a definition), each with what one of its
    definitions is called: the section's name in the singular (`template`, `block`)."""
    return {
        name: name.removesuffix("s")
        for name, node in manifest_schema()["properties"].items()
        if node.get("type") == "object" and isinstance(node.get("additionalProperties"), dict)
    }


SECTIONS = _definition_sections()


@dataclass(frozen=True)
class Definition:
    """A template, shared agent or shared block, with the directory its files are relative to."""

    kind: str
    name: str
    body: MarkedMap
    loc: Location
    base: Path


@dataclass(frozen=True)
class Setting:
    """One field of `defaults`, `prune` or `review`, with where it was set."""

    value: Any
    loc: Location


@dataclass
class Stack:
    """Everything the documents declare, merged, before expansion, and the root the files
    they name must be in."""

    name: str
    loc: Location
    root: Root
    defaults: dict[str, Setting] = field(default_factory=dict)
    prune: dict[str, Setting] = field(default_factory=dict)
    review: dict[str, Setting] = field(default_factory=dict)
    definitions: dict[str, dict[str, Definition]] = field(
        default_factory=lambda: {section: {} for section in SECTIONS}
    )
    raw_users: list[tuple[Any, str, Location, Origin]] = field(default_factory=list)
    users_files: list[UsersFile] = field(default_factory=list)


def merge(documents: Iterable[Document], files: Root, problems: Problems) -> Stack | None:
    """One stack from the documents (already valid against the schema), reading in `files`."""
    stack: Stack | None = None
    for document in documents:
        root = document.root
        if stack is None:
            stack = Stack(root["stack"], root.value_loc("stack"), files)
        elif root["stack"] != stack.name:
            problems.add(root.value_loc("stack"), _other_stack(root["stack"], stack))
            continue
        _merge_document(stack, document, problems)
    return stack


def _other_stack(name: str, stack: Stack) -> str:
    return (
        f"stack '{name}' differs from stack '{stack.name}' declared at {stack.loc}; "
        "all manifests of one run must belong to one stack"
    )


def _merge_document(stack: Stack, document: Document, problems: Problems) -> None:
    root = document.root
    base = document.file.path.parent
    for section in ("defaults", "prune", "review"):
        _merge_settings(getattr(stack, section), section, root.get(section), problems)
    for section, kind in SECTIONS.items():
        for name, body in root.get(section, {}).items():
            definition = Definition(kind, name, body, root[section].key_loc(name), base)
            _define(stack.definitions[section], definition, problems)
    users = root.get("users", MarkedList(root.loc))
    origin = Origin(Format.YAML, document.file.path)
    stack.raw_users.extend(
        (user, f"users[{i}]", users.item_loc(i), origin) for i, user in enumerate(users)
    )
    stack.users_files.extend(_users_files(root, base, problems))


def _merge_settings(
    settings: dict[str, Setting], section: str, body: MarkedMap | None, problems: Problems
) -> None:
    if body is None:
        return
    for key, value in body.items():
        loc = body.value_loc(key)
        earlier = settings.get(key)
        if earlier is None:
            settings[key] = Setting(value, loc)
        elif earlier.value != value:
            problems.add(loc, f"{section}.{key} conflicts with the value set at {earlier.loc}")


def _define(known: dict[str, Definition], definition: Definition, problems: Problems) -> None:
    earlier = known.get(definition.name)
    if earlier is None:
        known[definition.name] = definition
        return
    what = f"{definition.kind} '{definition.name}'"
    problems.add(definition.loc, f"{what} is already defined at {earlier.loc}")


def _users_files(root: MarkedMap, base: Path, problems: Problems) -> list[UsersFile]:
    if "usersFrom" not in root:
        return []
    value = root["usersFrom"]
    if isinstance(value, MarkedList):
        entries = [(item, value.item_loc(i)) for i, item in enumerate(value)]
    else:
        entries = [(value, root.value_loc("usersFrom"))]
    return [_users_file(item, loc, base, problems) for item, loc in entries]


def _users_file(entry: Any, loc: Location, base: Path, problems: Problems) -> UsersFile:
    if isinstance(entry, str):
        return UsersFile(FileRef("usersFrom", entry, base, loc), None)
    file = FileRef("usersFrom", entry["path"], base, entry.value_loc("path"))
    where = where_conditions(entry["where"], problems) if "where" in entry else ()
    return UsersFile(file, entry.get("format"), where)


def open_users_files(stack: Stack, problems: Problems) -> list[TextFile | None]:
    """The text of each of the stack's users files, in order (None for one that is not read,
    with the problem recorded)."""
    return [open_users_file(ref, stack.root, problems) for ref in stack.users_files]


class Users:
    """Users checked one by one, in order, each id once: a user declared again is reported
    where it is."""

    def __init__(self) -> None:
        self.listed: list[User] = []
        self._seen: dict[str, User] = {}

    def check(self, raws: Iterable[tuple[Any, str, Location, Origin]], problems: Problems) -> None:
        """Check and keep each raw user (a mapping, how messages name it, where it is written,
        the file it is declared in)."""
        for raw, where, loc, origin in raws:
            user = parse_user(raw, where, loc, problems, origin)
            if user is None:
                continue
            if user.id in self._seen:
                message = (
                    f"duplicate user id '{user.id}' (also declared at {self._seen[user.id].loc})"
                )
                problems.add(user.loc, message)
                continue
            self._seen[user.id] = user
            self.listed.append(user)

    def copy(self) -> Users:
        """The same users, checked further without changing these."""
        copied = Users()
        copied.listed = list(self.listed)
        copied._seen = dict(self._seen)
        return copied


def manifest_users(stack: Stack, problems: Problems) -> Users:
    """The users the manifests declare themselves (not in a users file), checked."""
    users = Users()
    with collector.paused():
        users.check(stack.raw_users, problems)
    return users


def collect_users(
    stack: Stack,
    problems: Problems,
    opened: Sequence[TextFile | None] | None = None,
    users: Users | None = None,
) -> list[User]:
    """Declared users then file users, each checked, with duplicate ids reported. `opened`:
    the users files' texts if they are read already (`open_users_files`); `users`: the
    manifests' own users if they are checked already (`manifest_users`)."""
    with collector.paused():  # users make no reference cycles
        # The manifests' own users are kept as they are (an opened stack holds them while
        # the plan runs): the file users are checked into a copy.
        checked = manifest_users(stack, problems) if users is None else users.copy()
        texts = open_users_files(stack, problems) if opened is None else opened
        raws: list[tuple[Any, str, Location, Origin]] = []
        for ref, text in zip(stack.users_files, texts, strict=True):
            if text is not None and (fmt := users_file_format(ref)) is not None:
                origin = Origin(Format(fmt), ref.file.path)
                rows = users_rows(ref, text, problems)
                raws.extend((row, "user", row.loc, origin) for row in rows)
        checked.check(raws, problems)
        return checked.listed
