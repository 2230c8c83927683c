"""Plans for wide audiences without the memory they would expose: every memory block value
replaced by its length, so a reviewer still sees what changes and by how much.

No hash of the value is shown: a short value (a PIN, a user id) would be recovered from it by
trying every candidate.

Agents write what they learn about their users into their blocks, so a plan posted on a pull
request or kept as a CI log would otherwise publish it. A redacted plan is for reading only:
it is marked `redacted`, and `apply` refuses it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import assert_never

from reconciler.address import Kind
from reconciler.plan.model import (
    Adopt,
    Attach,
    Change,
    Create,
    Delete,
    Detach,
    FieldChange,
    Notice,
    Plan,
    Update,
)
from reconciler.values import JSON, Frozen, freeze


def redact_values(plan: Plan) -> Plan:
    """The same plan with every memory block value replaced by `{redacted, length}`."""
    return dataclasses.replace(
        plan,
        changes=tuple(_change(c) for c in plan.changes),
        notices=tuple(_notice(n) for n in plan.notices),
        redacted=True,
    )


def marker(value: JSON) -> JSON:
    """What is shown instead of a value: its length only."""
    if not isinstance(value, str):
        return value
    return freeze({"redacted": True, "length": len(value)})


def _change(change: Change) -> Change:
    match change:
        case Create():
            return dataclasses.replace(change, body=_body(change.body, change.address.kind))
        case Update() if change.address.kind is Kind.BLOCK:
            fields = tuple(_field(f) for f in change.fields)
            return dataclasses.replace(change, fields=fields, body=_body(change.body, Kind.BLOCK))
        case Adopt() | Update() | Attach() | Detach() | Delete():
            return change
        case _:
            assert_never(change)


def _notice(notice: Notice) -> Notice:
    if notice.address is None or notice.address.kind is not Kind.BLOCK:
        return notice
    return dataclasses.replace(notice, fields=tuple(_field(f) for f in notice.fields))


def _field(field: FieldChange) -> FieldChange:
    if field.path != "value":
        return field
    return FieldChange(field.path, marker(field.before), marker(field.after))


def _body(body: Frozen, kind: Kind) -> Frozen:
    """A block's `value`, or the values of the blocks an agent is created with."""
    values = dict(body)
    if kind is Kind.BLOCK and "value" in values:
        values["value"] = marker(values["value"])
    blocks = values.get("memory_blocks")
    if kind is Kind.AGENT and isinstance(blocks, tuple):
        values["memory_blocks"] = tuple(_block(b) for b in blocks)
    return Frozen(values)


def _block(block: JSON) -> JSON:
    if not isinstance(block, Mapping) or "value" not in block:
        return block
    return Frozen({**block, "value": marker(block["value"])})
