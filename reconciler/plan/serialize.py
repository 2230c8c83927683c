"""Saved plans: a `Plan` to and from plain JSON data, with a digest for integrity checks.

`plan_to_dict` writes every key in a fixed order; `plan_from_dict` is its exact inverse and
also reads the `--format json` document (it checks that document's derived `digest` and
`summary` against the plan they describe, so an edited file is refused, not applied). The
digest is no defence against an edit that recomputes it: a saved plan also carries a keyed
`signature` (`reconciler.plan.signing`), read here and checked where the key is.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass
from typing import Any, TypeVar, assert_never

from reconciler.address import Address, AddressError, Kind
from reconciler.desired import Policy
from reconciler.errors import LettaApplyError
from reconciler.plan.model import (
    PLAN_FORMAT_VERSION,
    Action,
    Adopt,
    Attach,
    Change,
    Create,
    Delete,
    Detach,
    FieldChange,
    Notice,
    NoticeKind,
    Plan,
    Update,
    kind_of,
    pattern_of,
)
from reconciler.values import JSON, Frozen, freeze, thaw

_T = TypeVar("_T")
_Reader = Callable[[object, str], _T]
"""Converts one value read from a document; the string names where it was, for errors."""

DERIVED_KEYS = ("digest", "summary")
"""Keys of the `--format json` document that are computed from the plan, not part of it."""
SIGNATURE_KEY = "signature"
"""The saved plan's keyed signature: about the plan, not part of it."""


@dataclass(frozen=True)
class SavedPlan:
    """A plan read from a file, with the signature it carries (None: unsigned)."""

    plan: Plan
    signature: str | None = None


def plan_to_dict(plan: Plan) -> dict[str, JSON]:
    """The plan as plain data; keys in a fixed order, `body`/`refs` keys sorted."""
    return {
        "format_version": plan.format_version,
        "stack": plan.stack,
        "target": plan.target,
        "prune": plan.prune,
        "max_delete_percent": plan.max_delete_percent,
        "owned_resources": plan.owned_resources,
        "live_fingerprint": plan.live_fingerprint,
        "redacted": plan.redacted,
        "scope": list(plan.scope),
        "reads": {kind.value: thaw(record) for kind, record in plan.reads},
        "block_policies": {str(address): policy for address, policy in plan.block_policies},
        "changes": [_change_to_dict(c) for c in plan.changes],
        "notices": [_notice_to_dict(n) for n in plan.notices],
    }


def _change_to_dict(change: Change) -> dict[str, JSON]:
    """`action`, `kind` and `pattern` (derived, for readers of the document), then the
    operation's own fields."""
    pattern = pattern_of(change)
    own = {f.name: _plain(getattr(change, f.name)) for f in dataclasses.fields(change)}
    return {
        "action": change.action.value,
        "kind": kind_of(change).value,
        "pattern": pattern.value if pattern else None,
        **own,
    }


def _notice_to_dict(notice: Notice) -> dict[str, JSON]:
    return {
        "kind": notice.kind.value,
        "address": str(notice.address) if notice.address else None,
        "message": notice.message,
        "fields": [_plain(f) for f in notice.fields],
        "resource_ids": list(notice.resource_ids),
    }


def _plain(value: object) -> JSON:
    """A plan value as JSON data: addresses as text, mapping keys sorted, new containers."""
    if isinstance(value, Address):
        return str(value)
    if isinstance(value, FieldChange):
        return {"path": value.path, "before": thaw(value.before), "after": thaw(value.after)}
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return thaw(value)


def plan_summary(plan: Plan) -> dict[str, int]:
    """Counts a machine reads without walking the plan: one per action, total, notices."""
    counts = plan.counts()
    summary = {action.value: counts[action] for action in Action}
    summary["total"] = len(plan.changes)
    summary["deleted_resources"] = len(plan.deleted_ids)
    summary["notices"] = len(plan.notices)
    return summary


def canonical_bytes(plan: Plan) -> bytes:
    """The plan's canonical JSON (sorted keys, no whitespace, UTF-8; a lone surrogate, which a
    document can carry as a `\\udXXX` escape, encoded as its code point)."""
    canonical = json.dumps(
        plan_to_dict(plan), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return canonical.encode("utf-8", "surrogatepass")


def plan_digest(plan: Plan) -> str:
    """Hex sha256 of the plan's canonical JSON."""
    return hashlib.sha256(canonical_bytes(plan)).hexdigest()


def plan_document(plan: Plan, signature: str | None = None) -> dict[str, JSON]:
    """The `--format json` document: the plan plus its digest and summary (and a saved plan's
    signature), in reading order."""
    data = plan_to_dict(plan)
    changes, notices = data.pop("changes"), data.pop("notices")
    derived: dict[str, JSON] = {"digest": plan_digest(plan), "summary": plan_summary(plan)}
    if signature is not None:
        derived[SIGNATURE_KEY] = signature
    return {**data, **derived, "changes": changes, "notices": notices}


def plan_from_json(text: str) -> Plan:
    """Parse a saved plan file's text; any problem is a `LettaApplyError` naming it."""
    return saved_plan_from_json(text).plan


def saved_plan_from_json(text: str) -> SavedPlan:
    """Parse a saved plan file's text with its signature; any problem is a `LettaApplyError`
    naming it.

    A saved plan must carry its digest (as `plan --out` writes it), so that an edit that did
    not recompute it is refused.
    """
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise LettaApplyError(f"saved plan is not valid JSON: {exc}") from exc
    if isinstance(data, Mapping) and "digest" not in data:
        raise _malformed(
            "plan.digest", "missing (a saved plan carries the digest it was made with)"
        )
    plan = plan_from_dict(data)
    signature = data.get(SIGNATURE_KEY)
    return SavedPlan(plan, None if signature is None else _str(signature, "plan.signature"))


def plan_from_dict(data: object) -> Plan:
    """Rebuild a plan from `plan_to_dict` or `plan_document` output.

    Keys that hold a default in `Plan`/`Change`/`Notice` may be omitted. Unknown keys, wrong
    types, unknown enum values and a different `format_version` are refused with a message
    naming the offending key.
    """
    doc = _mapping(data, "plan")
    _version(doc.get("format_version"), "plan.format_version")
    about = (*DERIVED_KEYS, SIGNATURE_KEY)
    own = {key: value for key, value in doc.items() if key not in about}
    plan = Plan(**_read(own, "plan", Plan, _PLAN_READERS))
    _check_derived(doc, plan)
    return plan


def _check_derived(doc: Mapping[str, Any], plan: Plan) -> None:
    """A document's digest and summary must describe its plan: a mismatch means an edit."""
    expected = {"digest": plan_digest, "summary": plan_summary}
    for key in DERIVED_KEYS:
        if key in doc and doc[key] != expected[key](plan):
            raise _malformed(
                f"plan.{key}", "does not match the plan's contents (was the file edited?)"
            )


def _read(
    doc: Mapping[str, Any], where: str, cls: type[Any], readers: Mapping[str, _Reader[Any]]
) -> dict[str, Any]:
    """Constructor arguments for `cls`: every key known and converted, none required missing.

    Keys without a default in `cls` are required, so the dataclass stays the one place that
    says what may be omitted.
    """
    names = {spec.name for spec in dataclasses.fields(cls)}
    unknown = sorted(str(key) for key in doc if key not in readers or key not in names)
    if unknown:
        raise _malformed(where, f"unknown key(s) {', '.join(unknown)}")
    for spec in dataclasses.fields(cls):
        no_default = spec.default is MISSING and spec.default_factory is MISSING
        if no_default and spec.name not in doc:
            raise _malformed(f"{where}.{spec.name}", "missing")
    return {key: readers[key](value, f"{where}.{key}") for key, value in doc.items()}


def _change_from_dict(data: object, where: str) -> Change:
    doc = _mapping(data, where)
    action = _enum(Action)(doc.get("action"), f"{where}.action")
    cls = _operation(action)
    own = {key: value for key, value in doc.items() if key not in _CHANGE_DERIVED}
    change: Change = cls(**_read(own, where, cls, _CHANGE_READERS))
    derived = _change_to_dict(change)
    for key in _CHANGE_DERIVED:
        if key in doc and doc[key] != derived[key]:
            raise _malformed(f"{where}.{key}", f"{doc[key]!r} does not match the change")
    return change


def _notice_from_dict(data: object, where: str) -> Notice:
    return Notice(**_read(_mapping(data, where), where, Notice, _NOTICE_READERS))


def _field_from_dict(data: object, where: str) -> FieldChange:
    return FieldChange(**_read(_mapping(data, where), where, FieldChange, _FIELD_READERS))


def _address(value: object, where: str) -> Address:
    try:
        return Address.parse(_str(value, where))
    except AddressError as exc:
        raise _malformed(where, str(exc)) from exc


def _optional_address(value: object, where: str) -> Address | None:
    return None if value is None else _address(value, where)


def _malformed(where: str, problem: str) -> LettaApplyError:
    return LettaApplyError(f"malformed saved plan: {where}: {problem}")


def _version(value: object, where: str) -> int:
    if type(value) is not int:
        raise _malformed(where, "missing or not an integer")
    if value != PLAN_FORMAT_VERSION:
        raise LettaApplyError(
            f"saved plan has format_version {value}; this letta-apply reads version "
            f"{PLAN_FORMAT_VERSION} only. Re-run `letta-apply plan` with this version."
        )
    return value


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _malformed(where, f"expected an object, got {type(value).__name__}")
    return value


def _tuple_of(convert: _Reader[_T]) -> _Reader[tuple[_T, ...]]:
    def read(value: object, where: str) -> tuple[_T, ...]:
        if not isinstance(value, list | tuple):
            raise _malformed(where, f"expected a list, got {type(value).__name__}")
        return tuple(convert(item, f"{where}[{index}]") for index, item in enumerate(value))

    return read


def _block_policies(value: object, where: str) -> tuple[tuple[Address, str], ...]:
    """`{address: policy}` of memory blocks, in the order written (sorted by address)."""
    policies = []
    for key, policy in _mapping(value, where).items():
        address = _address(key, f"{where}.{key}")
        if address.kind is not Kind.BLOCK:
            raise _malformed(f"{where}.{key}", "not a memory block's address")
        if policy not in {p.value for p in Policy}:
            raise _malformed(f"{where}.{key}", f"{policy!r} is not one of seed, enforce")
        policies.append((address, str(policy)))
    return tuple(policies)


def _reads(value: object, where: str) -> tuple[tuple[Kind, Frozen], ...]:
    """`{kind: record}`: each a kind's own record of how it read the server (its shape is
    that kind's to check, as it reads the server again)."""
    records = []
    for key, record in _mapping(value, where).items():
        kind = _enum(Kind)(key, f"{where}.{key}")
        records.append((kind, _json_object(record, f"{where}.{key}")))
    return tuple(records)


def _str(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise _malformed(where, f"expected a string, got {type(value).__name__}")
    return value


def _optional_str(value: object, where: str) -> str | None:
    return None if value is None else _str(value, where)


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise _malformed(where, f"expected true or false, got {type(value).__name__}")
    return value


def _count(value: object, where: str) -> int:
    if type(value) is int and value >= 0:
        return value
    raise _malformed(where, f"expected a whole number >= 0, got {value!r}")


def _percent(value: object, where: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 100:
        return float(value)
    raise _malformed(where, f"expected a number from 0 to 100, got {value!r}")


def _json_object(value: object, where: str) -> Frozen:
    frozen: Frozen = freeze(dict(_mapping(value, where)))
    return frozen


def _json(value: object, where: str) -> JSON:
    return freeze(value)


_E = TypeVar("_E", Action, NoticeKind, Kind)


def _enum(enum: type[_E]) -> _Reader[_E]:
    """A reader accepting exactly the enum's string values."""

    def read(value: object, where: str) -> _E:
        for member in enum:
            if isinstance(value, str) and value == member.value:
                return member
        names = ", ".join(member.value for member in enum)
        raise _malformed(where, f"{value!r} is not one of {names}")

    return read


_FIELD_READERS: dict[str, _Reader[Any]] = {"path": _str, "before": _json, "after": _json}


def _operation(action: Action) -> type[Adopt | Create | Update | Attach | Detach | Delete]:
    """The class of a saved change's operation (a new action is a type error here)."""
    match action:
        case Action.ADOPT:
            return Adopt
        case Action.CREATE:
            return Create
        case Action.UPDATE:
            return Update
        case Action.ATTACH:
            return Attach
        case Action.DETACH:
            return Detach
        case Action.DELETE:
            return Delete
        case _:
            assert_never(action)


_CHANGE_DERIVED = ("action", "kind", "pattern")
"""Keys of a change that follow from the operation; checked, not read."""
_CHANGE_READERS: dict[str, _Reader[Any]] = {
    "address": _address,
    "agent": _address,
    "resource_id": _str,
    "reason": _str,
    "fields": _tuple_of(_field_from_dict),
    "body": _json_object,
    "links": _tuple_of(_address),
    "owned_children": _tuple_of(_str),
    "tags": _tuple_of(_str),
}
_NOTICE_READERS: dict[str, _Reader[Any]] = {
    "kind": _enum(NoticeKind),
    "address": _optional_address,
    "message": _str,
    "fields": _tuple_of(_field_from_dict),
    "resource_ids": _tuple_of(_str),
}
_PLAN_READERS: dict[str, _Reader[Any]] = {
    "format_version": _version,
    "stack": _str,
    "target": _str,
    "prune": _bool,
    "max_delete_percent": _percent,
    "owned_resources": _count,
    "live_fingerprint": _str,
    "redacted": _bool,
    "scope": _tuple_of(_str),
    "reads": _reads,
    "block_policies": _block_policies,
    "changes": _tuple_of(_change_from_dict),
    "notices": _tuple_of(_notice_from_dict),
}
