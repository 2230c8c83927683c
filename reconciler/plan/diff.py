"""Field-level differences between a live resource and its desired form.

Only fields the desired side declares are compared: a field the manifest leaves unset is not
managed. Numbers are compared as numbers (`1` and `1.0` are the same value; `1` and `true`
are not). Nested mappings (metadata, settings objects) are compared with deepdiff, so a plan
names the exact nested key that changed (`metadata.limits.daily`); a list is one value,
compared element by element, or as a collection for the fields whose order means nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

from reconciler.plan.model import FieldChange
from reconciler.values import JSON, canonical, freeze, thaw


def field_changes(
    current: Mapping[str, JSON],
    desired: Mapping[str, JSON],
    unordered: Collection[str] = (),
) -> tuple[FieldChange, ...]:
    """The changes that turn `current` into `desired`, for the keys `desired` declares.

    The lists of the fields named in `unordered` (and the lists inside them) are compared
    without regard to order: `[a, b]` and `[b, a]` are the same tags.
    """
    changes: list[FieldChange] = []
    for key in sorted(desired):
        now, wanted = current.get(key), desired[key]
        if _same(now, wanted):
            continue  # the same value: no need to write either out
        before, after = thaw(now), thaw(wanted)
        if before == after and canonical(before) == canonical(after):
            continue
        for path in _changed_paths(before, after, ignore_order=key in unordered):
            changes.append(
                FieldChange(
                    ".".join((key, *path)), freeze(_at(before, path)), freeze(_at(after, path))
                )
            )
    return tuple(changes)


_EXACT = frozenset({str, int, bool, type(None)})
"""Types whose equal values of the same type are the same value."""


def _same(before: JSON, after: JSON) -> bool:
    """Whether two values are surely the same JSON (equal, and written out alike), checked
    without writing them out: the same object, equal texts, numbers and flags of one type,
    and mappings and lists of such. False also when it cannot tell that cheaply (`1` against
    `1.0`, other types): the caller then compares them in full."""
    if before is after:
        return True
    kind = type(before)
    if kind is not type(after) and not (isinstance(before, Mapping) and isinstance(after, Mapping)):
        return False
    if kind in _EXACT:
        return bool(before == after)
    if kind is float:
        return bool(before == after) and repr(before) == repr(after)  # not NaN, -0.0 is not 0.0
    if isinstance(before, Mapping):
        return (
            len(before) == len(after)
            and all(key in after for key in before)
            and all(_same(before[key], after[key]) for key in before)
        )
    if kind is tuple or kind is list:
        return len(before) == len(after) and all(map(_same, before, after))
    return False


def _changed_paths(before: JSON, after: JSON, *, ignore_order: bool) -> list[tuple[str, ...]]:
    """The mapping keys leading to each changed value, below the field itself (none when the
    field's value changes as a whole); a change inside a list is a change of the list."""
    if not _is_container(before) and not _is_container(after):
        return [] if _same_scalar(before, after) else [()]
    from deepdiff import DeepDiff  # only plans changing a list or mapping pay for importing it

    diff = DeepDiff(
        before,
        after,
        ignore_order=ignore_order,
        ignore_numeric_type_changes=True,
        ignore_type_subclasses=True,  # a bool is not the number 0 or 1
        view="tree",
    )
    return sorted({_mapping_path(level.path(output_format="list")) for level in _levels(diff)})


def _levels(diff: Mapping[str, Any]) -> Iterator[Any]:
    for levels in diff.values():
        yield from levels


def _mapping_path(path: Sequence[str | int]) -> tuple[str, ...]:
    keys: list[str] = []
    for step in path:
        if not isinstance(step, str):
            break
        keys.append(step)
    return tuple(keys)


def _at(value: JSON, path: Sequence[str]) -> JSON:
    """The value at `path` in nested mappings; None where the path does not exist."""
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _is_container(value: JSON) -> bool:
    return isinstance(value, Mapping | list)


def _same_scalar(before: JSON, after: JSON) -> bool:
    if _is_number(before) and _is_number(after):
        return bool(before == after)
    return type(before) is type(after) and before == after


def _is_number(value: JSON) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
