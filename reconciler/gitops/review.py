"""What a plan comment records for the apply job: a hidden review record, and the digest of
what applying the plan does.

A pull request's plan comment carries the digest of its plan's effect; on the main branch the
apply job plans again and applies only when the digests match, as Atlantis applies the plan a
pull request showed. The digest covers what applying sends (actions, addresses, ids, bodies),
not what the plan shows beside it (field `before` values, notices, the live fingerprint), so
memory an agent rewrites between review and merge does not void the review when the manifests
keep it (`policy: seed`), while any difference in what would be sent does.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from reconciler.plan.model import Action, Plan
from reconciler.plan.serialize import plan_summary, plan_to_dict
from reconciler.values import JSON

RECORD_VERSION = 1
MAX_LISTED_CHANGES = 1000
"""Changes whose own digests a record lists (9 characters each); a larger plan is compared
whole, and a refusal then names counts rather than addresses."""

LABEL_NO_CHANGES = "letta:no-changes"
LABEL_CHANGES = "letta:changes"
LABEL_DESTROY = "letta:destroy"
MANAGED_LABELS = (LABEL_NO_CHANGES, LABEL_CHANGES, LABEL_DESTROY)


class Status(StrEnum):
    """How the plan job ended for the stack the record describes."""

    PLANNED = "planned"
    INVALID = "invalid"
    """The manifests did not validate: nothing was planned."""
    FAILED = "failed"
    """Planning failed (the server unreachable, a refused key): nothing to apply."""


@dataclass(frozen=True)
class Review:
    """The hidden record of one stack's plan comment."""

    key: str
    """Which stack: the paths the job plans, as configured (stable when manifests break)."""
    status: Status
    stack: str | None = None
    digest: str | None = None
    head: str | None = None
    """The commit that was planned."""
    summary: Mapping[str, int] = field(default_factory=dict)
    changes: tuple[str, ...] | None = None
    """Each change's own digest, in plan order; None when the plan had too many to list."""

    @property
    def has_changes(self) -> bool:
        return self.summary.get("total", 0) > 0 or self.summary.get("blocked", 0) > 0

    @property
    def destroys(self) -> bool:
        return self.summary.get("delete", 0) > 0


def review_of(plan: Plan, *, key: str, head: str | None) -> Review:
    """The record of a plan made by the plan job."""
    hashes = change_digests(plan)
    summary = {**plan_summary(plan), "blocked": len(plan.blocked)}
    return Review(
        key=key,
        status=Status.PLANNED,
        stack=plan.stack,
        digest=changes_digest(plan),
        head=head,
        summary=summary,
        changes=tuple(hashes) if len(hashes) <= MAX_LISTED_CHANGES else None,
    )


def changes_digest(plan: Plan) -> str:
    """Hex sha256 of what applying `plan` does: the stack, the server, prune and every change
    as sent (canonical JSON, as for the plan's own digest)."""
    data = plan_to_dict(plan)
    effect = {key: data[key] for key in ("format_version", "stack", "target", "prune")}
    effect["changes"] = [_effect(change) for change in _changes(data)]
    return _sha256(effect)


def change_digests(plan: Plan) -> list[str]:
    """A short digest of each change's effect, in plan order."""
    return [_sha256(_effect(change))[:8] for change in _changes(plan_to_dict(plan))]


def _changes(data: Mapping[str, JSON]) -> list[Mapping[str, JSON]]:
    changes = data["changes"]
    assert isinstance(changes, list)
    return [c for c in changes if isinstance(c, Mapping)]


def _effect(change: Mapping[str, JSON]) -> dict[str, JSON]:
    """A change without what only describes it: an update's `fields` repeat its `body` beside
    the server's current values."""
    return {key: value for key, value in change.items() if key != "fields"}


def _sha256(value: object) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


# The record in a comment or issue body: a marker line to find it by, then the record.

_MARK = "<!-- letta-apply"
_RECORD = re.compile(r"^<!-- letta-apply review (\{.*\}) -->$", re.MULTILINE)


def marker(key: str, what: str = "plan") -> str:
    """The hidden first line that identifies one stack's comment (or drift issue)."""
    return f"{_MARK} {what} {key_digest(key)} -->"


def key_digest(key: str) -> str:
    """The stack's key as it appears in a marker: no text from the workflow is echoed."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def record_line(review: Review) -> str:
    """The record as one hidden line; `<`, `>` and `&` escaped so no value ends the comment."""
    data = {
        "version": RECORD_VERSION,
        "key": key_digest(review.key),
        "status": review.status.value,
        "stack": review.stack,
        "digest": review.digest,
        "head": review.head,
        "summary": dict(review.summary),
        "changes": list(review.changes) if review.changes is not None else None,
    }
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    for char in "<>&":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return f"{_MARK} review {text} -->"


def read_review(body: str, key: str) -> Review | None:
    """The record in a comment written for `key`; None when there is none or it is not one
    this version wrote (a hand-edited record is not trusted to be a review)."""
    if not body.startswith(marker(key)):
        return None
    return _parse(body, key)


def read_reviews(bodies: Iterable[str]) -> list[Review]:
    """The records of every stack's plan comment among `bodies` (their keys as digests)."""
    found = (_parse(body, None) for body in bodies if body.startswith(f"{_MARK} plan "))
    return [review for review in found if review is not None]


def _parse(body: str, key: str | None) -> Review | None:
    found = _RECORD.search(body)
    if found is None:
        return None
    try:
        return _review(json.loads(found.group(1)), key)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def _review(data: Mapping[str, object], key: str | None) -> Review | None:
    """`key` None: any stack's record, keyed by the digest it holds."""
    if data["version"] != RECORD_VERSION:
        return None
    if key is not None and data["key"] != key_digest(key):
        return None
    summary = data["summary"]
    changes = data["changes"]
    if not isinstance(summary, Mapping) or not (changes is None or isinstance(changes, list)):
        return None
    return Review(
        key=key if key is not None else str(data["key"]),
        status=Status(str(data["status"])),
        stack=_optional_str(data["stack"]),
        digest=_optional_str(data["digest"]),
        head=_optional_str(data["head"]),
        summary={str(k): int(v) for k, v in summary.items()},
        changes=tuple(str(c) for c in changes) if changes is not None else None,
    )


def _optional_str(value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(value)
    return value


def labels_for(reviews: Iterable[Review]) -> set[str]:
    """The managed labels a pull request should carry, given every stack's latest record:
    `letta:changes` when any stack would change, `letta:destroy` when any would delete,
    `letta:no-changes` when every stack planned and none would change."""
    planned = [r for r in reviews if r.status is Status.PLANNED]
    if not planned:
        return set()
    labels = {LABEL_CHANGES} if any(r.has_changes for r in planned) else {LABEL_NO_CHANGES}
    if any(r.destroys for r in planned):
        labels.add(LABEL_DESTROY)
    return labels


def differences(reviewed: Review, plan: Plan) -> list[str]:
    """What the plan made now does that the reviewed one did not, for a refusal message."""
    lines = [f"reviewed: {_counts(reviewed.summary)}; now: {_counts(plan_summary(plan))}"]
    if reviewed.changes is None:
        return lines
    listed = set(reviewed.changes)
    current = change_digests(plan)
    new = [c for c, h in zip(plan.changes, current, strict=True) if h not in listed]
    gone = len(set(reviewed.changes) - set(current))
    lines.extend(f"not reviewed: {c.action.value} {c.address}" for c in new[:20])
    if len(new) > 20:
        lines.append(f"... and {len(new) - 20} more change(s) not reviewed")
    if gone:
        lines.append(f"{gone} reviewed change(s) no longer planned (or planned differently)")
    return lines


def _counts(summary: Mapping[str, int]) -> str:
    parts = [f"{summary.get(a.value, 0)} to {a.value}" for a in Action if summary.get(a.value)]
    return ", ".join(parts) or "no changes"
