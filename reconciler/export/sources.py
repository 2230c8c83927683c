"""The sections agents list by name in an export (`reconciler.manifest.sources.SECTIONS`):
which of their resources are read (by the section's kind: `reconciler.kinds.registry.exporter`),
and how they are written back.

With `--stack`, the stack's own resources of each section (with the contents it made);
otherwise those no stack owns, every one (or, with `--tag`, those attached to the selected
agents), with the contents no stack made. Each section's kind reads a resource with its
contents, and the section writes its definition back (what cannot be written back is left
out and named in a note); each exported agent lists those attached to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from reconciler.address import Address
from reconciler.client import LettaApi
from reconciler.kinds.registry import exporter
from reconciler.manifest import schema
from reconciler.manifest.sources import SECTIONS, Section, Written


class Held(Protocol):
    """A resource of a section as its kind lists it for an export."""

    @property
    def name(self) -> str: ...

    @property
    def owner(self) -> str | None: ...

    @property
    def address(self) -> Address | None: ...

    @property
    def agent_ids(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Sources:
    """What an export read of the sections: by section name, the resources exported with
    their contents (as the section's kind reads them), and the resources attached to the
    exported agents that another stack owns (left out: name -> owner)."""

    found: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    others: tuple[tuple[str, str], ...] = ()


def read_sources(
    api: LettaApi,
    stack: str | None,
    agent_ids: Iterable[str],
    *,
    every: bool,
    parallelism: int,
    page_size: int,
) -> Sources:
    """`stack`'s resources of each section, or (None) the unowned ones: all of them when
    `every`, else those attached to one of the exported agents (`agent_ids`)."""
    selected = frozenset(agent_ids)
    found: list[tuple[str, tuple[Any, ...]]] = []
    others: list[tuple[str, str]] = []
    for section in SECTIONS:
        listed: Sequence[Held] = exporter(section.kind).with_agents(api, stack or "", parallelism)
        chosen = [item for item in listed if _chosen(item, stack, every, selected)]
        with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
            read = pool.map(partial(_exported, section, api, stack, page_size), chosen)
            found.append((section.name, tuple(read)))
        others += [
            (item.name, item.owner)
            for item in listed
            if item.owner is not None and item.owner != stack and _attached(item, selected)
        ]
    return Sources(tuple(found), tuple(others))


def _chosen(item: Held, stack: str | None, every: bool, selected: frozenset[str]) -> bool:
    if stack is not None:
        return item.address is not None
    return item.owner is None and (every or _attached(item, selected))


def _attached(item: Held, selected: frozenset[str]) -> bool:
    return any(agent_id in selected for agent_id in item.agent_ids)


def _exported(section: Section, api: LettaApi, stack: str | None, size: int, item: Held) -> Any:
    return exporter(section.kind).exported(api, item, stack, size)


def write_sources(sources: Sources, notes: list[str]) -> Written:
    """The sections' definitions and files of what was exported, and each agent's links;
    what cannot be written is left out and named in `notes`."""
    written = Written()
    for name, owner in sources.others:
        notes.append(f"{name!r} belongs to stack {owner!r}: left out (export it with --stack)")
    found = dict(sources.found)
    for section in SECTIONS:
        entries = written.sections.setdefault(section.name, {})
        for item in found.get(section.name, ()):
            if not schema.fits(schema.SOURCE_NAME, item.name):
                notes.append(
                    f"{section.kind.value} {item.name!r} left out: a name no manifest can hold"
                )
                continue
            entries[item.name] = section.entry(item, written, notes)
            for agent_id in item.agent_ids:
                links = written.links.setdefault(agent_id, {})
                links.setdefault(section.name, []).append(item.name)
        if section.one_per_agent:
            _one_each(written, section, notes)
    return written


def _one_each(written: Written, section: Section, notes: list[str]) -> None:
    """An agent holding several of a section it lists one of lists none (which is its own
    is for a person to say)."""
    for links in written.links.values():
        if len(names := links.get(section.name, ())) > 1:
            listed = ", ".join(map(repr, names))
            notes.append(
                f"an agent has {section.name} {listed}: none listed (a manifest lists one)"
            )
            del links[section.name]
