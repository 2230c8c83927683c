"""Planner inputs as data: a folder holding `desired.yaml` (a manifest) and `live.json` (what
the server holds, as live values) becomes the (desired, live) pair the planner takes.

`live.json` lists `agents`, `blocks`, `conversations`, `identities` and `foreign_agents`, each
object holding the fields of the matching live value type; a missing list is empty.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.desired import DesiredState
from reconciler.live import LiveAgent, LiveBlock, LiveConversation, LiveIdentity, LiveState
from reconciler.manifest import load_desired
from reconciler.plan.planner import build_plan

if TYPE_CHECKING:
    from reconciler.plan.model import Plan

TARGET = "http://letta.test"


def _block(raw: dict[str, Any]) -> LiveBlock:
    return LiveBlock(**{**raw, "tags": tuple(raw.get("tags", ()))})


def _agent(raw: dict[str, Any]) -> LiveAgent:
    fields = {**raw, "tags": tuple(raw.get("tags", ()))}
    fields["blocks"] = tuple(_block(b) for b in raw.get("blocks", ()))
    fields["identity_ids"] = tuple(raw.get("identity_ids", ()))
    return LiveAgent(**fields)


def live_from_json(stack: str, raw: dict[str, Any]) -> LiveState:
    """The live state a `live.json` document describes, for `stack`."""
    return LiveState(
        stack=stack,
        agents=tuple(_agent(a) for a in raw.get("agents", ())),
        blocks=tuple(_block(b) for b in raw.get("blocks", ())),
        conversations=tuple(LiveConversation(**c) for c in raw.get("conversations", ())),
        identities=tuple(LiveIdentity(**i) for i in raw.get("identities", ())),
        foreign_agents=tuple(_agent(a) for a in raw.get("foreign_agents", ())),
    )


def load_case(folder: Path) -> tuple[DesiredState, LiveState]:
    """The desired state of `folder/desired.yaml` and the live state of `folder/live.json`."""
    desired = load_desired([folder / "desired.yaml"])
    raw = json.loads((folder / "live.json").read_text(encoding="utf-8"))
    return desired, live_from_json(desired.stack, raw)


def plan_case(folder: Path, *, target: str = TARGET, prune: bool | None = None) -> Plan:
    """The plan the planner makes for a case folder (prune as the manifest says by default)."""
    desired, live = load_case(folder)
    return build_plan(desired, live, target=target, prune=prune)
