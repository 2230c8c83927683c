"""Planner inputs as data: a folder holding `desired.yaml` (a manifest) and `live.json` (what
the server holds, as live values) becomes the (desired, live) pair the planner takes.

`live.json` lists `agents`, `blocks`, `conversations`, `identities`, `foreign_agents` and
`tools` (the stack's, and others by name, as the server sends them),
`unmarked_conversations` (no stack's marker: what `--adopt` may take), and `companions` (the
agents in the stack's agents' sleep-time groups, with their blocks); a missing list is
empty. An optional `options.json` holds `{"adopt": true}` for a case planned with `--adopt`.
Agents and blocks are written as the server sends them (ownership
record in `metadata`), except that an agent's blocks show their `tags` (the stack's tag marks
the blocks the stack made); a conversation's `summary` leaves out the ownership marker and names
its `user_id`; an identity's `properties` are key -> value and `owned` stands for this stack's
marker property. What the server sends empty may be left out (an agent's or a block's `tags`
and `metadata`, a tool's `tags` and `metadata_`); every record is then read through its kind's
parse point (`SHAPE`), as the server's answers are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler import ownership
from reconciler.desired import DesiredState
from reconciler.kinds import agent, block, conversation, identity, tool
from reconciler.kinds.agent_record import SHAPE as AGENT
from reconciler.live import LiveConversation, LiveIdentity, LiveState
from reconciler.manifest import load_desired
from reconciler.planner import build_plan

if TYPE_CHECKING:
    from reconciler.plan.model import Plan

TARGET = "http://letta.test"


SOURCE = "live.json"


def _block(raw: dict[str, Any]) -> Any:
    return block.SHAPE.parse({"tags": [], "metadata": None, **raw}, SOURCE)


def _agent(raw: dict[str, Any]) -> Any:
    blocks = [_block(b) for b in raw.get("blocks", ())]
    return AGENT.parse({"tags": [], "metadata": None, **raw, "blocks": blocks}, SOURCE)


def _conversation(raw: dict[str, Any], stack: str) -> LiveConversation:
    """A conversation; `summary` is written without the marker, which is added here."""
    marked = ownership.conversation_summary(raw["summary"], stack, raw["user_id"])
    found = conversation.from_server(_unmarked({**raw, "summary": marked}), stack)
    assert found is not None, raw
    return found


def _unmarked(raw: dict[str, Any]) -> Any:
    return conversation.SHAPE.parse(raw, SOURCE)


def _identity(raw: dict[str, Any], stack: str) -> LiveIdentity:
    """An identity; `properties` as key -> value, `owned` adding this stack's marker."""
    values = dict(raw.get("properties", {}))
    if raw.get("owned"):
        values[ownership.IDENTITY_MARKER_KEY] = stack
    listed = [{"key": k, "value": v, "type": "string"} for k, v in values.items()]
    return identity.from_server(identity.SHAPE.parse({**raw, "properties": listed}, SOURCE), stack)


def _tool(raw: dict[str, Any]) -> Any:
    return tool.SHAPE.parse({"tags": [], "metadata_": None, **raw}, SOURCE)


def live_from_json(stack: str, raw: dict[str, Any]) -> LiveState:
    """The live state a `live.json` document describes, for `stack`, read through the same
    functions that read the server's answers."""
    agents = agent.Agents(
        listed=tuple(agent.from_server(_agent(a), stack) for a in raw.get("agents", ())),
        foreign=tuple(agent.from_server(_agent(a), stack) for a in raw.get("foreign_agents", ())),
        companions=tuple(
            agent.companion_from_server(_agent(a), stack) for a in raw.get("companions", ())
        ),
    )
    blocks = block.Blocks(
        shared=tuple(block.from_server(_block(b), stack) for b in raw.get("blocks", ())),
        tagged=_tagged(raw, stack),
    )
    conversations = conversation.Conversations(
        marked=tuple(_conversation(c, stack) for c in raw.get("conversations", ())),
        unmarked=tuple(
            found
            for c in raw.get("unmarked_conversations", ())
            if (found := conversation.unmarked_from_server(_unmarked(c))) is not None
        ),
    )
    identities = identity.Identities(tuple(_identity(i, stack) for i in raw.get("identities", ())))
    tools = tool.Tools(tuple(tool.from_server(_tool(t), stack) for t in raw.get("tools", ())))
    parts = (
        (agent.LIVE, agents),
        (block.LIVE, blocks),
        (conversation.LIVE, conversations),
        (identity.LIVE, identities),
        (tool.LIVE, tools),
    )
    return LiveState(stack, {key.kind: part for key, part in parts})


def _tagged(raw: dict[str, Any], stack: str) -> frozenset[str]:
    """Blocks carrying the stack's tag, as the tag-filtered block listing would find them (the
    agent listing itself returns no block tags)."""
    tag = ownership.stack_tag(stack)
    blocks = [
        *raw.get("blocks", ()),
        *(b for a in raw.get("agents", ()) for b in a.get("blocks", ())),
        *(b for a in raw.get("companions", ()) for b in a.get("blocks", ())),
    ]
    return frozenset(b["id"] for b in blocks if tag in b.get("tags", ()))


def load_case(folder: Path) -> tuple[DesiredState, LiveState]:
    """The desired state of `folder/desired.yaml` and the live state of `folder/live.json`."""
    desired = load_desired([folder / "desired.yaml"])
    raw = json.loads((folder / "live.json").read_text(encoding="utf-8"))
    return desired, live_from_json(desired.stack, raw)


def plan_case(folder: Path, *, target: str = TARGET, prune: bool | None = None) -> Plan:
    """The plan the planner makes for a case folder (prune as the manifest says by default)."""
    desired, live = load_case(folder)
    options_file = folder / "options.json"
    options = json.loads(options_file.read_text(encoding="utf-8")) if options_file.exists() else {}
    return build_plan(desired, live, target=target, prune=prune, adopt=options.get("adopt", False))
