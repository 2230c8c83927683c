"""`letta-apply show`: what the stack owns on the server, as it holds it. Address -> id and
the fields the stack manages, read from the live state through the registry of kinds (each
kind's owned resources), so a new kind shows without a change here.

Secrets never show: an agent's secrets by name only, an MCP server's credentials not at all.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from reconciler.address import Address
from reconciler.kinds.registry import KINDS
from reconciler.live.state import LiveBlock, LiveState, ToolRef
from reconciler.text import clean, json_text, target_label
from reconciler.values import JSON, Frozen, thaw

_BOOKKEEPING = frozenset(
    {"id", "address", "metadata", "owned", "tagged", "owner", "marked_by", "created_at"}
)
"""Record fields that say how the stack knows a resource, not what it is."""

_SECRET_SETTINGS = frozenset({"values", "secrets"})
"""Settings holding credentials (as keyed digests): never shown."""


@dataclass(frozen=True)
class Shown:
    """One owned resource: where the stack keeps it, its id, what it holds, and the ids of
    duplicates claiming the same address (the oldest is kept)."""

    address: Address
    id: str
    fields: Mapping[str, JSON]
    duplicates: tuple[str, ...] = ()


def owned_resources(live: LiveState) -> list[Shown]:
    """Every resource the stack owns, by address."""
    found = [
        Shown(address, group[0].id, _fields(group[0]), tuple(r.id for r in group[1:]))
        for entry in KINDS
        for address, group in entry.owned(live).items()
        if group
    ]
    return sorted(found, key=lambda shown: str(shown.address))


def matching(resources: Iterable[Shown], patterns: Iterable[str]) -> list[Shown]:
    """The resources whose address matches one of the globs (`agent/user:*`)."""
    wanted = list(patterns)
    return [r for r in resources if any(fnmatch.fnmatchcase(str(r.address), p) for p in wanted)]


def _fields(resource: object) -> dict[str, JSON]:
    fields: dict[str, JSON] = {}
    for field in dataclasses.fields(resource):  # type: ignore[arg-type]
        if field.name in _BOOKKEEPING:
            continue
        value = getattr(resource, field.name)
        if field.name == "settings" and isinstance(value, Mapping):
            fields.update(
                (k, thaw(v)) for k, v in sorted(value.items()) if k not in _SECRET_SETTINGS
            )
        elif value not in (None, (), "") and value != Frozen({}):
            fields[field.name] = _plain(value)
    return fields


def _plain(value: object) -> JSON:
    if isinstance(value, tuple) and value and isinstance(value[0], LiveBlock):
        return {block.label: block.id for block in value}
    if isinstance(value, tuple) and value and isinstance(value[0], ToolRef):
        return [ref.name for ref in value if not ref.is_base]
    return thaw(value)


def render_text(stack: str, target: str, resources: list[Shown], *, details: bool) -> str:
    """`address  id` a line, and with `details` each field below it (values escaped and
    shortened as in plans)."""
    from reconciler.render.lines import inline

    lines = [f"Stack {clean(stack)} on {target_label(target)}: {len(resources)} resource(s)"]
    width = max((len(clean(str(r.address))) for r in resources), default=0)
    for resource in resources:
        lines.append(f"{clean(str(resource.address)):<{width}}  {clean(resource.id)}")
        if resource.duplicates:
            lines.append(f"    duplicates: {', '.join(map(clean, resource.duplicates))}")
        if details:
            lines += [f"    {clean(k)}: {inline(v)}" for k, v in resource.fields.items()]
    return "\n".join(lines) + "\n"


def render_json(stack: str, target: str, resources: list[Shown]) -> str:
    """`{"stack", "target", "resources": [{"address", "id", "fields", "duplicates"}]}`."""
    document = {
        "stack": stack,
        "target": target_label(target),
        "resources": [
            {
                "address": str(r.address),
                "id": r.id,
                "fields": dict(r.fields),
                "duplicates": list(r.duplicates),
            }
            for r in resources
        ],
    }
    return json_text(json.dumps(document, indent=2, ensure_ascii=False)) + "\n"
