"""The steps the commands are made of: connect, pre-flight, plan, apply, outputs.

Each step is a function of explicit values; what a flow reports and whom it asks are
callbacks (`Hooks`), so the CLI only parses options, prints and maps errors to exit codes.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import TypeGuard

from reconciler.address import Kind
from reconciler.apply import (
    StackLock,
    apply_plan,
    check_guards,
    check_not_redacted,
    check_owned,
)
from reconciler.apply.results import ApplyResult, Progress
from reconciler.client import LettaApi, Target
from reconciler.desired import DesiredState, Outline
from reconciler.errors import (
    Cancelled,
    ConnectionFailed,
    Declined,
    Interrupted,
    LettaApplyError,
    NotConverged,
    PreflightError,
    ServerError,
    StalePlanError,
    UnexpectedAnswer,
)
from reconciler.kinds.read import read_live, read_scoped
from reconciler.kinds.registry import claimed_twice, fingerprint, kept_ids
from reconciler.live.state import LiveState
from reconciler.plan.model import Create, Plan, Update
from reconciler.planner import build_plan
from reconciler.scope import Scoped
from reconciler.text import api_path_hint, clean, redact_url, without_credentials
from reconciler.values import JSON

_MODEL_READS = (("/v1/models/", "model list"), ("/v1/models/embedding", "embedding model list"))
_PREFLIGHT_READS = (("/v1/health/", "health check"), *_MODEL_READS)


def preflight(api: LettaApi, desired: DesiredState, *, models: bool = True) -> None:
    """Check before planning: the server answers, the key works, the model handles exist.

    The reads are independent and sent at once: one round trip instead of three. A secret
    whose environment variable is missing stops it before any request. `models=False` (a
    scoped run, which may not need them) leaves the handles to `check_models`.
    """
    api.secrets.check(desired)
    with ThreadPoolExecutor(max_workers=len(_PREFLIGHT_READS)) as pool:
        _check_preflight(api, desired, _preflight_reads(api, pool, models=models))


def _preflight_reads(api: LettaApi, pool: Executor, *, models: bool) -> list[Future[JSON]]:
    """The pre-flight reads, sent at once."""
    reads = _PREFLIGHT_READS if models else _PREFLIGHT_READS[:1]
    return [pool.submit(api.get, path, address=what) for path, what in reads]


def _check_preflight(api: LettaApi, desired: DesiredState, sent: list[Future[JSON]]) -> None:
    """What the pre-flight reads answered: a Letta server, which has the models `desired`
    names (when they were asked for)."""
    try:
        answers = [answer.result() for answer in sent]
    except ConnectionFailed as exc:
        raise ConnectionFailed(f"cannot reach the Letta server: {exc}") from exc
    except ServerError as exc:
        raise _refused(api.target, exc) from exc
    health, *lists = answers
    _check_shape(api.target, health, *(lists or ([], [])))
    if lists:
        _check_handles("model", {a.model for a in desired.agents}, lists[0])
        _check_handles("embedding", {a.embedding for a in desired.agents}, lists[1])


def check_models(api: LettaApi, desired: DesiredState, plan: Plan) -> None:
    """The model handles a plan sends (an agent it creates, or whose model or embedding it
    changes), checked before anything is applied: a plan that sends none asks for no model
    list (a scoped plan, and a whole one made while its users load)."""
    sent = [
        change
        for change in plan.changes
        if change.address.kind is Kind.AGENT
        and (
            isinstance(change, Create)
            or (isinstance(change, Update) and {"model", "embedding"} & set(change.body))
        )
    ]
    if not sent:
        return
    addresses = {change.address for change in sent}
    agents = [spec for spec in desired.agents if spec.address in addresses]
    with ThreadPoolExecutor(max_workers=2) as pool:
        sent_at_once = [pool.submit(api.get, path, address=what) for path, what in _MODEL_READS]
        models, embeddings = (answer.result() for answer in sent_at_once)
    if not (_is_list_of_objects(models) and _is_list_of_objects(embeddings)):
        raise PreflightError(
            f"{api.target.label} does not look like a Letta server "
            "(its model lists are not what Letta answers)"
        )
    _check_handles("model", {a.model for a in agents}, models)
    _check_handles("embedding", {a.embedding for a in agents}, embeddings)


def _refused(target: Target, exc: ServerError) -> LettaApplyError:
    """What a failed pre-flight read means: a refused key, or not a Letta server at all (an
    `UnexpectedAnswer` says so itself)."""
    if exc.status in (401, 403):
        return PreflightError(
            f"the server at {target.label} refused the API key (HTTP {exc.status}); "
            "check LETTA_API_KEY"
        )
    if exc.status == 404 and not isinstance(exc, UnexpectedAnswer):
        message = f"{target.label} does not look like a Letta server: {exc}"
        hint = api_path_hint(target.label)
        return PreflightError(f"{message}; {hint}" if hint else message)
    return exc


def _check_shape(target: Target, health: JSON, models: JSON, embeddings: JSON) -> None:
    """Letta answers its health check with an object and lists models as objects: JSON of
    another shape comes from some other server."""
    lists = (models, embeddings)
    if isinstance(health, Mapping) and all(_is_list_of_objects(x) for x in lists):
        return
    raise PreflightError(
        f"{target.label} does not look like a Letta server "
        "(its health check or model lists are not what Letta answers)"
    )


def _is_list_of_objects(value: JSON) -> TypeGuard[list[JSON]]:
    return isinstance(value, list) and all(isinstance(item, Mapping) for item in value)


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
    scoped: Scoped | None = None,
    adopt: bool = False,
) -> tuple[Plan, LiveState]:
    """Read the live state and plan against it (secrets compared by their keyed digests).

    `scoped`: only the scope's resources and what they need are read and planned (`desired`
    is then `scoped.desired`). `adopt`: unowned resources holding declared keys are read and
    planned for adoption."""
    if scoped is not None:
        sealed = replace(scoped, desired=api.secrets.seal(scoped.desired))
        live = read_scoped(api, sealed.desired, parallelism=parallelism)
        plan = build_plan(sealed.desired, live, target=api.target.label, scoped=sealed)
        check_models(api, sealed.desired, plan)
        return plan, live
    desired = api.secrets.seal(desired)
    live = read_live(
        api,
        desired.stack,
        desired,
        parallelism=parallelism,
        progress=progress,
        adopt=adopt,
        prune=prune,
    )
    plan = build_plan(desired, live, target=api.target.label, prune=prune, adopt=adopt)
    return plan, live


def plan_while_loading(
    api: LettaApi,
    outline: Outline,
    load: Callable[[], DesiredState],
    *,
    prune: bool | None,
    parallelism: int,
    progress: Callable[[str], None] | None = None,
    adopt: bool = False,
) -> tuple[DesiredState, Plan, LiveState]:
    """`preflight` and `make_plan` of a whole stack, their requests sent while `load` loads
    its users (`outline`: what its manifests declare without them): the pre-flight reads and
    every kind's read start at once, and each kind waits for the desired state only where it
    needs the declared keys. Returns the desired state `load` gave, the plan and the live
    state.

    Only reads are sent before the users are loaded, and nothing at all when a secret the
    manifests declare cannot be read (the users then tell whether an agent has it, before
    any request, as `preflight` does). When `load` fails, its error is raised as it is: the
    client is cancelled (`LettaApi.cancel`) and what the reads found is dropped. A failed
    health check is raised before anything the reads found. The model handles are checked
    only when the plan sends them (`check_models`): a plan that changes no agent's model asks
    for no model list.
    """
    try:
        api.secrets.check_secrets(outline.secrets)
    except LettaApplyError:
        desired = load()
        preflight(api, desired, models=False)
        plan, live = make_plan(
            api, desired, prune=prune, parallelism=parallelism, progress=progress, adopt=adopt
        )
        check_models(api, desired, plan)
        return desired, plan, live
    declared: Future[DesiredState | None] = Future()
    with ThreadPoolExecutor(max_workers=2) as pool:
        checks = _preflight_reads(api, pool, models=False)
        reading = pool.submit(
            read_live,
            api,
            outline.stack,
            declared,
            outline=outline,
            parallelism=parallelism,
            progress=progress,
            adopt=adopt,
            prune=prune,
        )
        try:
            desired = load()
            sealed = api.secrets.seal(desired)
            declared.set_result(sealed)
            _check_preflight(api, sealed, checks)
            live = reading.result()
        except BaseException:
            api.cancel()
            if not declared.done():
                declared.set_exception(Cancelled("the reads' desired state was not loaded"))
            raise
    plan = build_plan(sealed, live, target=api.target.label, prune=prune, adopt=adopt)
    check_models(api, sealed, plan)
    return desired, plan, live


@dataclass(frozen=True)
class ApplyOptions:
    """What an apply is allowed to do and how."""

    allow_delete: bool = False
    allow_mass_delete: bool = False
    parallelism: int = 8
    lock_timeout: float = 0.0


StopRequested = Callable[[], bool]
"""Whether the person running an apply asked it to stop starting changes."""


@contextlib.contextmanager
def never_stopping() -> Iterator[StopRequested]:
    """Nobody can ask to stop: every change is applied."""
    yield lambda: False


@dataclass(frozen=True)
class Hooks:
    """What a flow tells the person or job running it, and whom it asks; silent by default.

    `confirm` is None when nobody is there to ask: the plan is applied as the options allow.
    When someone is asked, their answer also covers the plan's deletions.
    """

    status: Callable[[str], None] = lambda _line: None
    """A transient line while reading the server."""
    notify: Callable[[str], None] = lambda _message: None
    """Messages worth keeping, such as waiting for or taking over the stack's lock."""
    show: Callable[[Plan], None] = lambda _plan: None
    """The plan about to be applied, before anything is."""
    confirm: Callable[[Plan], bool] | None = None
    progress: Progress | None = None
    """After each change."""
    finished: Callable[[Sequence[ApplyResult]], None] = lambda _results: None
    """Once every change ran, when there were any."""
    stopping: Callable[[], AbstractContextManager[StopRequested]] = never_stopping
    """Entered while the changes are applied: what it gives says when the person running the
    apply asked to stop (Ctrl-C); no change is started after that."""


def plan_and_apply(
    api: LettaApi,
    desired: DesiredState,
    options: ApplyOptions,
    hooks: Hooks,
    *,
    prune: bool | None = None,
    scoped: Scoped | None = None,
    adopt: bool = False,
) -> list[ApplyResult]:
    """Plan and apply under the stack lock, so nothing changes between the two.

    `scoped`: only the scope's resources (see `reconciler.scope`); nothing is deleted.

    Raises NotConverged when declared resources stay blocked by resources the stack does not
    own, ApplyFailed when changes failed, Declined when the person asked said no.
    """
    preflight(api, scoped.desired if scoped else desired, models=scoped is None)
    with _lock(api, desired.stack, options, hooks):
        plan, live = make_plan(
            api,
            desired,
            prune=prune,
            parallelism=options.parallelism,
            progress=hooks.status,
            scoped=scoped,
            adopt=adopt,
        )
        hooks.show(plan)
        _check_guards(plan, options, hooks)
        results = _apply_reviewed(api, plan, live, options, hooks)
    return _finish(plan, results, hooks)


def apply_saved_plan(
    api: LettaApi, plan: Plan, options: ApplyOptions, hooks: Hooks
) -> list[ApplyResult]:
    """Apply exactly `plan`, under the stack lock, if the server still matches it.

    A plan made for another server, or one the options do not allow, is refused before any
    request is sent; the API key goes only to the server `api` was opened for.
    """
    check_not_redacted(plan)
    check_whole(plan)
    check_target(plan, api.target)
    _check_guards(plan, options, hooks)
    with _lock(api, plan.stack, options, hooks):
        live = read_live(
            api,
            plan.stack,
            parallelism=options.parallelism,
            progress=hooks.status,
            changes=plan.changes,
            records=dict(plan.reads),
        )
        if fingerprint(live) != plan.live_fingerprint:
            raise StalePlanError(
                f"the server changed since this plan was made (stack {plan.stack!r}); "
                "the plan was not applied. Make a new plan and review it."
            )
        check_owned(plan, live)
        hooks.show(plan)
        try:
            results = _apply_reviewed(api, plan, live, options, hooks)
        except Interrupted as exc:
            # Part of it was applied: the saved plan no longer matches the server.
            raise exc.advising("Make a new plan and apply it to converge.") from None
    return _finish(plan, results, hooks)


def check_whole(plan: Plan) -> None:
    """A partial plan read only its scope: whether the rest of the stack changed since cannot
    be checked, so it is not applied from a file (a scoped run plans and applies at once)."""
    if plan.partial:
        raise LettaApplyError(
            "this plan is partial (" + ", ".join(plan.scope) + "): apply it with "
            "`letta-apply PATHS --target ... / --users ...`, which plans and applies under "
            "the stack's lock, not from a saved plan"
        )


def _lock(api: LettaApi, stack: str, options: ApplyOptions, hooks: Hooks) -> StackLock:
    return StackLock(api, stack, timeout=options.lock_timeout, notify=hooks.notify)


def _check_guards(plan: Plan, options: ApplyOptions, hooks: Hooks) -> None:
    check_guards(
        plan,
        allow_destructive=options.allow_delete or hooks.confirm is not None,
        allow_mass_delete=options.allow_mass_delete,
    )


def _apply_reviewed(
    api: LettaApi, plan: Plan, live: LiveState, options: ApplyOptions, hooks: Hooks
) -> list[ApplyResult]:
    """Ask if someone can be asked, then apply the plan's changes."""
    if not plan.has_changes:
        return []
    if hooks.confirm is not None and not hooks.confirm(plan):
        raise Declined("the plan was not applied: it was declined at the prompt")
    with hooks.stopping() as stop:
        return apply_plan(
            api,
            plan,
            live,
            parallelism=options.parallelism,
            progress=hooks.progress,
            stop=stop,
            notify=hooks.notify,
        )


def _finish(plan: Plan, results: list[ApplyResult], hooks: Hooks) -> list[ApplyResult]:
    if plan.has_changes:
        hooks.finished(results)
    check_converged(plan)
    return results


def check_converged(plan: Plan) -> None:
    """A plan that leaves declared resources uncreated cannot converge: NotConverged says so."""
    if plan.blocked:
        addresses = ", ".join(str(n.address) for n in plan.blocked)
        raise NotConverged(
            f"{len(plan.blocked)} declared resource(s) blocked by resources this stack does "
            f"not own: {addresses}; adopt them (`letta-apply adopt`) or remove them"
        )


def check_target(plan: Plan, target: Target) -> None:
    """A saved plan is applied only to the server it was made against.

    Plans hold the target without its credentials, so the servers are compared without them:
    a plan applies to the server it was made for whatever user and password the URL carries.
    """
    if without_credentials(plan.target) != without_credentials(target.base_url):
        raise LettaApplyError(
            f"this plan was made for {redact_url(plan.target)}, not {target.label}; "
            "make a new plan for this server, or point --base-url / LETTA_BASE_URL at it"
        )


# Outputs ------------------------------------------------------------------------------------

OUTPUT_COLUMNS = ("user_id", "pattern", "agent_id", "conversation_id", "identity_id")


def outputs(desired: DesiredState, live: LiveState) -> list[dict[str, str | None]]:
    """Per declared user: the ids an app stores (agent, conversation, identity), of the
    resources the stack keeps (the survivors, for duplicates)."""
    ids = kept_ids(live)
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


def claimed_twice_lines(live: LiveState) -> list[str]:
    """Warnings for the addresses two resources claim with the stack's record: outputs name
    the one plans keep, which a copied record can make the wrong one."""
    return [
        f"Warning: {address}: {len(ids)} resources carry this stack's ownership record "
        f"({', '.join(ids)}); the outputs name {ids[0]}, the one plans keep (the oldest): check "
        "which is genuine (`letta-apply audit`)"
        for address, ids in claimed_twice(live).items()
    ]


_NEEDED_IDS = {
    "dedicated": ("agent_id",),
    "shared": ("agent_id", "conversation_id"),
    "identity": ("identity_id",),
}
"""The ids a user of each pattern has once the stack is applied."""


def not_created(rows: list[dict[str, str | None]]) -> list[str]:
    """The users whose resources are not on the server yet (rows with empty ids)."""
    return [
        str(row["user_id"])
        for row in rows
        if any(row.get(column) is None for column in _NEEDED_IDS[str(row["pattern"])])
    ]


def render_outputs(stack: str, rows: list[dict[str, str | None]], fmt: str) -> str:
    """Outputs as JSON (`{"stack", "users": {id: {...}}}`) or CSV with a header."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=OUTPUT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: clean(v) if v else v for k, v in row.items()} for row in rows)
        return buffer.getvalue()
    users: Mapping[str, JSON] = {
        str(r["user_id"]): {k: v for k, v in r.items() if k != "user_id"} for r in rows
    }
    return json.dumps({"stack": stack, "users": users}, indent=2) + "\n"
