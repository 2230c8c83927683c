"""Hand-built plans the renderer and saved-plan tests share."""

from __future__ import annotations

from reconciler.plan.model import Action, Change, FieldChange, Kind, Notice, NoticeKind, Plan

TARGET = "http://localhost:8283"

ALICE_HUMAN = "User ID: alice\nName: Alice\nPreferences: (to be learned)"


def empty_plan() -> Plan:
    return Plan(stack="acme", target=TARGET, live_fingerprint="f" * 64)


def mixed_plan() -> Plan:
    """Every action and every kind, listed out of display order on purpose."""
    changes = (
        Change(
            Action.DELETE,
            Kind.AGENT,
            "agent/user:frank",
            resource_id="agent-0f3a",
            pattern="dedicated",
            reason="no longer declared; prune is on",
        ),
        Change(
            Action.CREATE,
            Kind.AGENT,
            "agent/user:alice",
            body={
                "name": "alice-assistant",
                "model": "anthropic/claude-sonnet-4-5-20250929",
                "embedding": "openai/text-embedding-3-small",
                "tags": ["tier:premium", "plan:pro", "user:alice", "letta-apply:acme"],
                "metadata": {
                    "team": "cx",
                    "letta_apply": {"stack": "acme", "address": "agent/user:alice"},
                },
                "memory_blocks": [
                    {"label": "persona", "value": "I am a personal assistant."},
                    {"label": "human", "value": ALICE_HUMAN, "limit": 2000},
                ],
            },
            refs={"block:knowledge": "block/knowledge"},
            pattern="dedicated",
            reason="new user",
        ),
        Change(
            Action.CREATE,
            Kind.CONVERSATION,
            "conversation/support/bob",
            body={"summary": "Bob [letta-apply:acme/bob]"},
            refs={"agent": "agent/support"},
            pattern="shared",
        ),
        Change(
            Action.CREATE,
            Kind.IDENTITY,
            "identity/carol",
            body={
                "identifier_key": "carol",
                "name": "Carol",
                "identity_type": "user",
                "properties": [
                    {"key": "email", "value": "carol@acme.com", "type": "string"},
                    {"key": "letta_apply_stack", "value": "acme", "type": "string"},
                ],
            },
            pattern="identity",
        ),
        Change(
            Action.UPDATE,
            Kind.AGENT,
            "agent/support",
            resource_id="agent-5e1d",
            fields=(FieldChange("tags", ["a"], ["a", "b"]),),
            body={"tags": ["a", "b"]},
        ),
        Change(
            Action.UPDATE,
            Kind.BLOCK,
            "block/knowledge",
            resource_id="block-77aa",
            fields=(
                FieldChange("limit", 5000, 8000),
                FieldChange(
                    "value",
                    "# Acme\nReturns: 30 days\nShipping: 5 days\nSupport: 9-5",
                    "# Acme\nReturns: 60 days\nShipping: 5 days\nSupport: 9-5",
                ),
            ),
            body={
                "limit": 8000,
                "value": "# Acme\nReturns: 60 days\nShipping: 5 days\nSupport: 9-5",
            },
        ),
        Change(
            Action.ATTACH,
            Kind.IDENTITY,
            "agent/support/identity/carol",
            refs={"agent": "agent/support", "identity": "identity/carol"},
            pattern="identity",
        ),
        Change(
            Action.ATTACH,
            Kind.BLOCK,
            "agent/user:alice/block/knowledge",
            refs={"agent": "agent/user:alice", "block": "block/knowledge"},
            pattern="dedicated",
        ),
        Change(
            Action.DETACH,
            Kind.BLOCK,
            "agent/user:frank/block/knowledge",
            resource_id="block-77aa",
            refs={"agent": "agent/user:frank", "block": "block/knowledge"},
            pattern="dedicated",
            reason="the agent is deleted",
        ),
        Change(
            Action.DELETE,
            Kind.CONVERSATION,
            "conversation/support/gina",
            resource_id="conv-91b2",
            pattern="shared",
            reason="no longer declared; prune is on",
        ),
    )
    notices = (
        Notice(
            NoticeKind.UNDECLARED,
            "identity/henry",
            "no longer declared",
            resource_ids=("identity-4c4c",),
        ),
    )
    return Plan(
        stack="acme",
        target=TARGET,
        changes=changes,
        notices=notices,
        live_fingerprint="3b" * 32,
        prune=True,
    )


def drift_plan() -> Plan:
    """Seeded blocks the agents rewrote, one long enough to be shortened."""
    long_before = "\n".join(f"Fact {i}: unknown" for i in range(1, 41))
    long_after = "\n".join(
        f"Fact {i}: learned {i * 7}" if i % 3 == 0 else f"Fact {i}: unknown" for i in range(1, 41)
    )
    notices = (
        Notice(
            NoticeKind.DRIFT,
            "block/user:alice/human",
            "the value differs from the seed; kept (policy: seed)",
            fields=(
                FieldChange(
                    "value",
                    ALICE_HUMAN,
                    "User ID: alice\nName: Alice\nPreferences: short answers, French",
                ),
            ),
            resource_ids=("block-a11c",),
        ),
        Notice(
            NoticeKind.DRIFT,
            "block/user:dave/human",
            "the value differs from the seed; kept (policy: seed)",
            fields=(FieldChange("value", long_before, long_after),),
            resource_ids=("block-da7e",),
        ),
    )
    change = Change(
        Action.UPDATE,
        Kind.BLOCK,
        "block/user:alice/human",
        resource_id="block-a11c",
        fields=(FieldChange("limit", 2000, 4000),),
        body={"limit": 4000},
        pattern="dedicated",
    )
    return Plan(stack="acme", target=TARGET, changes=(change,), notices=notices)


def notices_plan() -> Plan:
    """No changes, one notice of each kind but drift."""
    notices = (
        Notice(
            NoticeKind.PROTECTED,
            "agent/user:zoe",
            "no longer declared but protected; not deleted",
            resource_ids=("agent-2002",),
        ),
        Notice(
            NoticeKind.DUPLICATE,
            "agent/user:erin",
            "2 owned agents claim this address (an interrupted create?); delete one by hand",
            resource_ids=("agent-e1", "agent-e2"),
        ),
        Notice(
            NoticeKind.CONFLICT,
            "agent/user:ivan",
            "1 agent(s) not owned by this stack already carry user:ivan; they are left alone, "
            "and apps looking agents up by tag may find either",
            resource_ids=("agent-1234",),
        ),
        Notice(
            NoticeKind.UNDECLARED,
            "conversation/support/jack",
            "no longer declared",
            resource_ids=("conv-3",),
        ),
        Notice(
            NoticeKind.UNDECLARED,
            "agent/user:ken",
            "no longer declared",
            resource_ids=("agent-ken",),
        ),
    )
    return Plan(stack="acme", target=TARGET, notices=notices)


def many_users_plan(count: int = 2000) -> Plan:
    """A large roll-out: half the users are new, the others change plan tier and memory."""
    changes = []
    for n in range(count):
        user = f"user{n:05d}"
        if n % 2:
            changes.append(
                Change(
                    Action.CREATE,
                    Kind.AGENT,
                    f"agent/user:{user}",
                    body={"name": f"{user}-assistant", "tags": [f"user:{user}", "tier:premium"]},
                    pattern="dedicated",
                    reason="new user",
                )
            )
        else:
            changes.append(
                Change(
                    Action.UPDATE,
                    Kind.AGENT,
                    f"agent/user:{user}",
                    resource_id=f"agent-{n}",
                    fields=(
                        FieldChange("tags", [f"user:{user}"], [f"user:{user}", "plan:pro"]),
                        FieldChange("blocks.persona.value", "Old\npersona", "New\npersona"),
                    ),
                    pattern="dedicated",
                )
            )
    return Plan(stack="acme", target=TARGET, changes=tuple(changes))


HOSTILE = (
    "```\n</details>\n<script>alert(1)</script>\n@acme/admins *bold* [x](http://x)\n"
    "\x1b[31mred\x1b[0m \u202eevil\r\n~~~\n````` \n| a | b |"
)


def hostile_plan() -> Plan:
    """User values that try to break out of code blocks, tables, HTML and the terminal."""
    change = Change(
        Action.UPDATE,
        Kind.BLOCK,
        "block/user:mallory`</details>/human",
        resource_id="block-666",
        fields=(
            FieldChange("value", "old\nline", HOSTILE),
            FieldChange("description", "x", "`inline` </summary> @acme/admins \x1b]0;title\x07"),
        ),
        pattern="dedi|cated<br>",
        reason="</details> **bold** @acme/admins",
    )
    notice = Notice(
        NoticeKind.CONFLICT,
        "agent/user:x```",
        "msg </summary></details><details open> @acme/admins\n```",
        fields=(FieldChange("value", None, HOSTILE),),
    )
    return Plan(
        stack="ac`me|<b>@team",
        target="http://user:s3cret@evil.example:8283/<i>",
        changes=(change,),
        notices=(notice,),
    )


SAMPLES = {
    "empty": empty_plan,
    "mixed": mixed_plan,
    "drift": drift_plan,
    "notices": notices_plan,
}
