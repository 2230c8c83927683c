"""The steps the commands are made of: connect, pre-flight, plan, apply, outputs.

Each step is a function of explicit values; the CLI strings them together and prints.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from reconciler.apply import StackLock, apply_plan, check_guards
from reconciler.apply.executor import ApplyResult, Progress
from reconciler.client import LettaApi, Target
from reconciler.desired import DesiredState
from reconciler.errors import (
    ConnectionFailed,
    LettaApplyError,
    PreflightError,
    ServerError,
    StalePlanError,
)
from reconciler.live.reader import read_live
from reconciler.live.state import LiveState
from reconciler.plan.model import Plan
from reconciler.plan.planner import build_plan
from reconciler.values import JSON


def preflight(api: LettaApi, desired: DesiredState) -> None:
    """Check before planning: the server answers, the key works, the model handles exist."""
    try:
        api.get("/v1/health/", address="health check")
        models = api.get("/v1/models/", address="model list")
        embeddings = api.get("/v1/models/embedding", address="embedding model list")
    except ConnectionFailed as exc:
        raise ConnectionFailed(f"cannot reach the Letta server: {exc}") from exc
    except ServerError as exc:
        if exc.status in (401, 403):
            raise PreflightError(
                f"the server at {api.target.base_url} refused the API key (HTTP {exc.status}); "
                "check LETTA_API_KEY"
            ) from exc
        raise
    _check_handles("model", {a.model for a in desired.agents}, models)
    _check_handles("embedding", {a.embedding for a in desired.agents}, embeddings)


def _check_handles(what: str, wanted: set[str], listed: list[JSON]) -> None:
    available = sorted({str(m.get("handle")) for m in listed if m.get("handle")})
    unknown = sorted(wanted - set(available))
    if unknown:
        raise PreflightError(
            f"unknown {what} handle(s) {', '.join(unknown)}; the server offers: "
            f"{', '.join(available) or 'none'}"
        )


def make_plan(
    api: LettaApi,
    desired: DesiredState,
    *,
    prune: bool | None,
    parallelism: int,
    progress: Callable[[str], None] | None = None,
) -> tuple[Plan, LiveState]:
    """Read the live state and plan against it."""
    live = read_live(api, desired.stack, desired, parallelism=parallelism, progress=progress)
    plan = build_plan(desired, live, target=api.target.base_url, prune=prune)
    return plan, live


@dataclass(frozen=True)
class ApplyOptions:
    """What an apply is allowed to do and how."""

    allow_delete: bool = False
    allow_mass_delete: bool = False
    parallelism: int = 8
    lock_timeout: float = 0.0


def apply_saved_plan(
    api: LettaApi,
    plan: Plan,
    options: ApplyOptions,
    progress: Progress | None = None,
    notify: Callable[[str], None] = lambda _message: None,
) -> list[ApplyResult]:
    """Apply exactly `plan`, under the stack lock, if the server still matches it."""
    check_guards(
        plan, allow_destructive=options.allow_delete, allow_mass_delete=options.allow_mass_delete
    )
    with StackLock(api, plan.stack, timeout=options.lock_timeout, notify=notify):
        live = read_live(api, plan.stack, parallelism=options.parallelism)
        if live.fingerprint() != plan.live_fingerprint:
            raise StalePlanError(
                f"the server changed since this plan was made (stack {plan.stack!r}); "
                "the plan was not applied. Make a new plan and review it."
            )
        return apply_plan(api, plan, live, parallelism=options.parallelism, progress=progress)


def check_target(plan: Plan, target: Target) -> None:
    """A saved plan is applied only to the server it was made against."""
    if plan.target.rstrip("/") != target.base_url.rstrip("/"):
        raise LettaApplyError(
            f"this plan was made for {plan.target}, not {target.base_url}; "
            "make a new plan for this server"
        )


# Outputs ------------------------------------------------------------------------------------

OUTPUT_COLUMNS = ("user_id", "pattern", "agent_id", "conversation_id", "identity_id")


def outputs(desired: DesiredState, live: LiveState) -> list[dict[str, str | None]]:
    """Per declared user: the ids an app stores (agent, conversation, identity), of the
    resources the stack keeps (the survivors, for duplicates)."""
    ids = live.kept_ids()
    rows: list[dict[str, str | None]] = []
    for agent in desired.agents:
        if agent.user_id is not None:
            rows.append(_row(agent.user_id, "dedicated", ids.get(agent.address)))
    for conv in desired.conversations:
        row = _row(conv.user_id, "shared", ids.get(conv.agent))
        row["conversation_id"] = ids.get(conv.address)
        rows.append(row)
    for identity in desired.identities:
        agent_id = ids.get(identity.agents[0]) if identity.agents else None
        row = _row(identity.identifier_key, "identity", agent_id)
        row["identity_id"] = ids.get(identity.address)
        rows.append(row)
    return sorted(rows, key=lambda r: str(r["user_id"]))


def _row(user_id: str, pattern: str, agent_id: str | None) -> dict[str, str | None]:
    return {
        "user_id": user_id,
        "pattern": pattern,
        "agent_id": agent_id,
        "conversation_id": None,
        "identity_id": None,
    }


def render_outputs(stack: str, rows: list[dict[str, str | None]], fmt: str) -> str:
    """Outputs as JSON (`{"stack", "users": {id: {...}}}`) or CSV with a header."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=OUTPUT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue()
    users: Mapping[str, JSON] = {
        str(r["user_id"]): {k: v for k, v in r.items() if k != "user_id"} for r in rows
    }
    return json.dumps({"stack": stack, "users": users}, indent=2) + "\n"
