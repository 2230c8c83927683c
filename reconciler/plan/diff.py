"""Field-level differences between a live resource and its desired form.

Only fields the desired side declares are compared: a field the manifest leaves unset is not
managed. Nested mappings (metadata, properties) are compared key by key with deepdiff so a plan
names the exact key that changed.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.plan.model import FieldChange
from reconciler.values import JSON, freeze, thaw


def field_changes(
    current: Mapping[str, JSON], desired: Mapping[str, JSON]
) -> tuple[FieldChange, ...]:
    """The changes that turn `current` into `desired`, for the keys `desired` declares."""
    changes: list[FieldChange] = []
    for key in sorted(desired):
        before, after = thaw(current.get(key)), thaw(desired[key])
        if before == after:
            continue
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            changes.extend(_nested(key, before, after))
        else:
            changes.append(FieldChange(key, freeze(before), freeze(after)))
    return tuple(changes)


def _nested(
    prefix: str, before: Mapping[str, JSON], after: Mapping[str, JSON]
) -> list[FieldChange]:
    from deepdiff import DeepDiff  # only plans with nested changes pay for importing it

    diff = DeepDiff(dict(before), dict(after), ignore_order=False, view="tree")
    paths: set[tuple[str, ...]] = set()
    for level in (item for items in diff.values() for item in items):
        path = level.path(output_format="list")
        if path:
            paths.add((str(path[0]),))
    return [
        FieldChange(f"{prefix}.{key}", freeze(before.get(key)), freeze(after.get(key)))
        for (key,) in sorted(paths)
    ]
