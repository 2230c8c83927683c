"""The isolation audit: the multi-user guidance's rules for keeping users apart, checked on
the live server for one stack.

Every dedicated agent carries exactly one user tag, its own user's; no user tag is on two
agents (an app looking the user up would find either); identities are attached only to the
agents that declare them; each shared user's conversation is on the declared agent;
everything marked with the stack's tag carries a complete ownership record; and no address is
claimed by two resources carrying the stack's record (a copied record is a forgery the plan
cannot tell from the genuine one). Pure: it reads
the desired and live states (and the agents carrying the stack's users' tags) only.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from reconciler import ownership
from reconciler.address import Address
from reconciler.desired import DesiredState
from reconciler.kinds import agent as agents
from reconciler.kinds import conversation as conversations
from reconciler.kinds import identity as identities
from reconciler.kinds import tool as tools
from reconciler.kinds.registry import claimed_twice
from reconciler.live.state import LiveAgent, LiveState
from reconciler.text import clean


@dataclass(frozen=True)
class Violation:
    """One broken rule: which, where (an address, or a server id when none applies), and
    what is wrong."""

    rule: str
    where: str
    message: str


def audit(
    desired: DesiredState, live: LiveState, user_tagged: Iterable[LiveAgent]
) -> list[Violation]:
    """Every violation, in a stable order. `user_tagged` are all agents carrying one of
    the declared dedicated users' tags, the stack's or not."""
    found = [
        *_user_tags(desired, live),
        *_shared_tags(desired, user_tagged),
        *_identity_links(desired, live),
        *_conversations(desired, live),
        *_records(live),
        *_claimed_twice(live),
    ]
    return sorted(found, key=lambda v: (v.rule, v.where, v.message))


def _user_tags(desired: DesiredState, live: LiveState) -> Iterable[Violation]:
    """A dedicated agent carries exactly one user tag, its user's."""
    expected = {spec.address: spec.user_tag for spec in desired.agents if spec.user_tag}
    prefixes = {tag.split(":", 1)[0] + ":" for tag in expected.values() if tag and ":" in tag}
    for address, group in agents.of(live).by_address.items():
        tag = expected.get(address)
        if tag is None:
            continue
        agent = group[0]
        carried = sorted(t for t in agent.tags if any(t.startswith(p) for p in prefixes))
        if carried != [tag]:
            yield Violation(
                "one-user-tag",
                str(address),
                f"agent {agent.id} carries user tags {carried}, expected exactly [{tag!r}]",
            )


def _shared_tags(desired: DesiredState, user_tagged: Iterable[LiveAgent]) -> Iterable[Violation]:
    """No user tag is on two agents."""
    wanted = {spec.user_tag: spec.address for spec in desired.agents if spec.user_tag}
    holders: dict[str, list[str]] = defaultdict(list)
    for agent in {a.id: a for a in user_tagged}.values():
        for tag in agent.tags:
            if tag in wanted:
                holders[tag].append(agent.id)
    for tag, ids in sorted(holders.items()):
        if len(ids) > 1:
            yield Violation(
                "tag-on-one-agent",
                str(wanted[tag]),
                f"{len(ids)} agents carry {tag!r} ({', '.join(sorted(ids))}); "
                "an app looking the user up would find either",
            )


def _identity_links(desired: DesiredState, live: LiveState) -> Iterable[Violation]:
    """An owned identity is attached to the declared agents only."""
    declared = {spec.address: set(spec.agents) for spec in desired.identities}
    ids = {group[0].id: address for address, group in identities.of(live).by_address.items()}
    for agent_address, group in agents.of(live).by_address.items():
        for identity_id in group[0].identity_ids:
            identity = ids.get(identity_id)
            if identity is not None and agent_address not in declared.get(identity, set()):
                yield Violation(
                    "identity-where-declared",
                    str(identity),
                    f"attached to {agent_address}, which does not declare it",
                )


def _conversations(desired: DesiredState, live: LiveState) -> Iterable[Violation]:
    """A shared user's conversation is on the agent the manifest names."""
    declared = {spec.user_id: spec.agent for spec in desired.conversations}
    for address, group in conversations.by_agent(live).items():
        agent = address.owner
        user = address.name
        if user in declared and agent != declared[user]:
            yield Violation(
                "conversation-on-declared-agent",
                str(Address.conversation(declared[user], user)),
                f"conversation {group[0].id} is on {agent}, not {declared[user]}",
            )


def _records(live: LiveState) -> Iterable[Violation]:
    """What carries the stack's tag carries its ownership record too."""
    for listed in agents.of(live).listed:
        if listed.address is None:
            yield Violation(
                "complete-ownership-record",
                listed.id,
                f"agent {listed.name!r} carries {ownership.stack_tag(live.stack)!r} but no "
                "ownership record",
            )
    for tool in tools.of(live).found:
        if tool.tagged and tool.address is None:
            yield Violation(
                "complete-ownership-record",
                tool.id,
                f"tool {tool.name!r} carries the stack's tag but no ownership record",
            )


def _claimed_twice(live: LiveState) -> Iterable[Violation]:
    """One resource carries the stack's record for an address."""
    for address, ids in claimed_twice(live).items():
        yield Violation(
            "one-resource-per-address",
            str(address),
            f"{len(ids)} resources carry this stack's ownership record for it "
            f"({', '.join(ids)}); plans keep and outputs name {ids[0]} (the oldest): check "
            "which is genuine",
        )


def render(stack: str, violations: list[Violation], fmt: str) -> str:
    """The report: JSON for CI, or one line per violation."""
    if fmt == "json":
        document = {"stack": stack, "violations": [asdict(v) for v in violations]}
        return json.dumps(document, indent=2) + "\n"
    if not violations:
        return f"Audit of stack {clean(stack)}: no violations.\n"
    lines = [f"Audit of stack {clean(stack)}: {len(violations)} violation(s)."]
    lines += [f"  {clean(v.where)}: [{v.rule}] {clean(v.message)}" for v in violations]
    return "\n".join(lines) + "\n"
