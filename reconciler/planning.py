"""Planning a stack against a server: the pre-flight (the server answers, the declared
model handles exist), the read of the live state and the plan, at once for a whole stack
(`plan_while_loading`) or one after the other (`make_plan`).

What a plan needs and nothing of applying: `letta-apply plan` imports no apply code.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import replace
from typing import TypeGuard

from reconciler import collector
from reconciler.address import Kind
from reconciler.client import LettaApi, Target
from reconciler.desired import DesiredState, Outline
from reconciler.errors import (
    Cancelled,
    ConnectionFailed,
    LettaApplyError,
    PreflightError,
    ServerError,
    UnexpectedAnswer,
)
from reconciler.kinds.read import read_live, read_scoped
from reconciler.live.state import LiveState
from reconciler.plan.model import Create, Plan, Update
from reconciler.planner import build_plan
from reconciler.scope import Scoped
from reconciler.text import api_path_hint
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
    summarized: bool = True,
) -> tuple[Plan, LiveState]:
    """Read the live state and plan against it (secrets compared by their keyed digests).

    `scoped`: only the scope's resources and what they need are read and planned (`desired`
    is then `scoped.desired`). `adopt`: unowned resources holding declared keys are read and
    planned for adoption. `summarized=False`: a plan only shown as text (`build_plan`)."""
    if scoped is not None:
        sealed = replace(scoped, desired=api.secrets.seal(scoped.desired))
        live = read_scoped(api, sealed.desired, parallelism=parallelism)
        plan = build_plan(
            sealed.desired, live, target=api.target.label, scoped=sealed, summarized=summarized
        )
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
    plan = build_plan(
        desired, live, target=api.target.label, prune=prune, adopt=adopt, summarized=summarized
    )
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
    summarized: bool = True,
    kept: bool = False,
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
    for no model list. `summarized=False`: a plan only shown as text (`build_plan`).
    `kept`: the live state lives as long as the process (a command's): frozen once read
    (`gc.freeze`), before the collector, off while the pages come in, would go through it.
    """
    try:
        api.secrets.check_secrets(outline.secrets)
    except LettaApplyError:
        desired = load()
        preflight(api, desired, models=False)
        plan, live = make_plan(
            api,
            desired,
            prune=prune,
            parallelism=parallelism,
            progress=progress,
            adopt=adopt,
            summarized=summarized,
        )
        check_models(api, desired, plan)
        return desired, plan, live
    declared: Future[DesiredState | None] = Future()
    with collector.paused(), ThreadPoolExecutor(max_workers=2) as pool:
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
            if kept:
                gc.freeze()
        except BaseException:
            api.cancel()
            if not declared.done():
                declared.set_exception(Cancelled("the reads' desired state was not loaded"))
            raise
    plan = build_plan(
        sealed, live, target=api.target.label, prune=prune, adopt=adopt, summarized=summarized
    )
    check_models(api, sealed, plan)
    return desired, plan, live
