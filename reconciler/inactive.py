"""Inactive users: the stack's dedicated agents and shared users' conversations that no one
has used for a number of days, and the edit of the manifests that takes those users out (or
moves dedicated users to a shared agent), to be reviewed as a pull request.

Activity is what the server records when a message is processed: an agent's last completed
run, a conversation's last message request; a resource never used counts from its creation.
Nothing here talks to the server: it takes the activity read from it, the declared users and
the time, and returns values (the edit reads the manifest files it changes).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from reconciler.address import Address, Pattern
from reconciler.errors import LettaApplyError
from reconciler.live.state import Activity, Basis
from reconciler.manifest import Declared
from reconciler.manifest.edits import Edits, Move, NotEdited, Remove, Request, edit_users
from reconciler.manifest.users import User
from reconciler.text import clean, json_text


@dataclass(frozen=True)
class Idle:
    """A user whose agent or conversation has not been used for `days` days or more."""

    address: Address
    resource_id: str
    last_active: datetime
    basis: Basis
    days: int

    @property
    def user(self) -> str:
        user = self.address.user
        assert user is not None
        return user


def find_idle(
    declared: Iterable[Address], activity: Iterable[Activity], now: datetime, days: int
) -> list[Idle]:
    """The declared addresses whose resources were all last used `days` days or more before
    `now`, by address. Where several resources claim an address, the latest use counts; an
    address with a date the server does not give readably is never listed."""
    wanted = set(declared)
    latest: dict[Address, Idle] = {}
    unreadable: set[Address] = set()
    for found in activity:
        if found.address not in wanted:
            continue
        seen = _last_seen(found)
        if seen is None:
            unreadable.add(found.address)
            continue
        when, basis = seen
        earlier = latest.get(found.address)
        if earlier is None or when > earlier.last_active:
            idle_days = (now - when) // timedelta(days=1)
            latest[found.address] = Idle(found.address, found.id, when, basis, idle_days)
    return [
        idle
        for address, idle in sorted(latest.items())
        if address not in unreadable and now - idle.last_active >= timedelta(days=days)
    ]


def _last_seen(activity: Activity) -> tuple[datetime, Basis] | None:
    if activity.last_used is None:
        created = _time(activity.created_at)
        return None if created is None else (created, Basis.CREATED)
    used = _time(activity.last_used)
    return None if used is None else (used, activity.basis)


def _time(text: str) -> datetime | None:
    """An ISO 8601 time from the server (UTC when it names no zone), or None."""
    try:
        parsed = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def user_address(user: User) -> Address | None:
    """The address of the resource serving a dedicated or shared user (identities have no
    activity to read)."""
    match user.pattern:
        case Pattern.DEDICATED:
            return Address.dedicated_agent(user.id)
        case Pattern.SHARED:
            assert user.agent is not None  # a valid stack names the agent of a shared user
            return Address.conversation(Address.agent(user.agent), user.id)
        case Pattern.IDENTITY:
            return None


def check_move_target(declared: Declared, agent: str) -> None:
    """Refuse `--move-to` naming no shared agent of the stack, before any request."""
    shared = sorted(s.address.name for s in declared.desired.agents if s.user_id is None)
    if agent not in shared:
        known = ", ".join(shared) or "none"
        raise LettaApplyError(
            f"--move-to {agent!r}: the stack has no shared agent of that name (shared agents: "
            f"{known})"
        )


@dataclass(frozen=True)
class Report:
    """Who is inactive in a stack, and the manifest edit for them."""

    stack: str
    days: int
    now: datetime
    idle: tuple[Idle, ...]
    edits: Edits
    changes: Mapping[str, str]
    """User id -> `remove` or `move`, for the users the edit changes."""


def report(
    declared: Declared,
    activity: Iterable[Activity],
    now: datetime,
    days: int,
    move_to: str | None = None,
) -> Report:
    """The inactive users and the edit taking them out of the manifests (with `move_to`,
    moving the dedicated ones to that shared agent instead)."""
    users = {address: user for user in declared.users if (address := user_address(user))}
    idle = find_idle(users, activity, now, days)
    desired = declared.desired
    protected = {s.address for s in desired.agents if s.protected}
    protected |= {s.address for s in desired.conversations if s.protected}
    requests: list[Request] = []
    kept: list[NotEdited] = []
    for found in idle:
        match _request(users[found.address], found.address in protected, move_to):
            case NotEdited() as left:
                kept.append(left)
            case request:
                requests.append(request)
    edits = edit_users(requests, declared.root)
    done = set(edits.edited)
    changes = {
        r.user.id: "move" if isinstance(r, Move) else "remove"
        for r in requests
        if r.user.id in done
    }
    edits = Edits(edits.files, edits.edited, (*kept, *edits.not_edited))
    return Report(declared.desired.stack, days, now, tuple(idle), edits, changes)


def _request(user: User, protected: bool, move_to: str | None) -> Request | NotEdited:
    """What to do with an inactive user's declaration, or why to leave it."""
    if protected:
        why = "it is protected (never deleted); remove the protection first if it is to go"
        return NotEdited(user.id, user.loc, why)
    if move_to is None:
        return Remove(user)
    if user.pattern is Pattern.DEDICATED:
        return Move(user, move_to)
    why = (
        f"already a conversation on the shared agent {user.agent} (--move-to moves dedicated users)"
    )
    return NotEdited(user.id, user.loc, why)


def render(result: Report, fmt: str, *, written: bool) -> str:
    """The report: JSON for CI, or a table of the users followed by the edit."""
    if fmt == "json":
        return (
            json_text(json.dumps(_document(result, written), indent=2, ensure_ascii=False)) + "\n"
        )
    return "\n".join(_text(result, written)) + "\n"


def _document(result: Report, written: bool) -> dict[str, object]:
    return {
        "stack": result.stack,
        "days": result.days,
        "as_of": result.now.isoformat(),
        "users": [
            {
                "user": idle.user,
                "pattern": idle.address.pattern,
                "address": str(idle.address),
                "id": idle.resource_id,
                "last_activity": idle.last_active.isoformat(),
                "basis": idle.basis.value,
                "days_idle": idle.days,
                "change": result.changes.get(idle.user),
            }
            for idle in result.idle
        ],
        "edit": {
            "written": written and bool(result.edits.files),
            "files": [file.path.as_posix() for file in result.edits.files],
            "diff": result.edits.diff(),
            "not_edited": [
                {"user": n.user, "where": str(n.where), "reason": n.reason}
                for n in result.edits.not_edited
            ],
        },
    }


_BASIS_TEXT = {
    Basis.LAST_RUN: "last run",
    Basis.LAST_MESSAGE: "last message",
    Basis.CREATED: "created, never used",
}


def _text(result: Report, written: bool) -> list[str]:
    as_of = f"as of {result.now.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    stack = clean(result.stack)
    days = f"{result.days} day" + ("" if result.days == 1 else "s")
    if not result.idle:
        return [f"Stack {stack}: no user inactive for {days} or more ({as_of})."]
    lines = [
        f"Stack {stack}: {len(result.idle)} user(s) inactive for {days} or more ({as_of}):",
        *_table(result.idle),
    ]
    if result.edits.not_edited:
        lines += ["", f"Left as declared ({len(result.edits.not_edited)}):"]
        lines += [
            f"  {clean(n.user)}: {clean(str(n.where))}: {clean(n.reason)}"
            for n in result.edits.not_edited
        ]
    lines += ["", *_edit_text(result, written)]
    return lines


def _table(idle: Iterable[Idle]) -> list[str]:
    rows = [("user", "pattern", "address", "last activity", "idle")]
    rows += [
        (
            clean(i.user),
            str(i.address.pattern),
            clean(str(i.address)),
            f"{i.last_active.astimezone(UTC):%Y-%m-%d} ({_BASIS_TEXT[i.basis]})",
            f"{i.days} days",
        )
        for i in idle
    ]
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return [
        "  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _edit_text(result: Report, written: bool) -> list[str]:
    files = result.edits.files
    if not files:
        return ["No manifest edit to make."]
    if written:
        head = f"Edited {len(files)} file(s); review the change and open a pull request:"
    else:
        head = "The manifest edit (--write applies it to the files):"
    # A CRLF file's lines show without their "\r" (the files keep it).
    diff = [clean(line.removesuffix("\r")) for line in result.edits.diff().split("\n")[:-1]]
    return [head, *diff, "", *_next_steps(set(result.changes.values()))]


def _next_steps(changes: set[str]) -> list[str]:
    steps = []
    if "remove" in changes:
        steps.append(
            "Once merged, `letta-apply plan` shows the removed users' agents and conversations "
            "as no longer declared; they are deleted with prune."
        )
    if "move" in changes:
        steps.append(
            "Once merged, `letta-apply plan` creates each moved user's conversation; the "
            "user's own agent is no longer declared (deleted with prune, memory included)."
        )
    return steps
