"""Reading the live state from the server: every registered kind reads its part at once, each
through its own listing (`read` in its module); a kind that needs another's part (the
conversations of the stack's agents) waits for it.

Requests grow with the stack, not with the server: owned agents come from one tag-filtered,
paginated listing that includes their tags, blocks and identities; conversations from one
listing per shared agent, filtered by the stack's marker; shared blocks from one tag-filtered
listing; tools and MCP servers, which cannot be filtered by stack, from the server's custom
tools, its MCP servers and the tools the manifests name. A scoped read (`read_scoped`) looks
up only what its scope declares, so one user of a 1,000-user stack costs a handful of
requests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor

from reconciler import collector
from reconciler.address import Kind
from reconciler.client import LettaApi
from reconciler.desired import DesiredState, Outline
from reconciler.errors import UnexpectedAnswer
from reconciler.kinds import registry
from reconciler.kinds.common import Reading
from reconciler.live.state import LiveState
from reconciler.paging import PAGE
from reconciler.plan.model import Change
from reconciler.values import Frozen


def read_live(
    api: LettaApi,
    stack: str,
    desired: DesiredState | Future[DesiredState | None] | None = None,
    *,
    outline: Outline | None = None,
    parallelism: int = 8,
    page_size: int = PAGE,
    progress: Callable[[str], None] | None = None,
    changes: Iterable[Change] = (),
    adopt: bool = False,
    prune: bool | None = None,
    records: Mapping[Kind, Frozen] | None = None,
) -> LiveState:
    """Read the stack's resources. With `desired`, also look for foreign resources in the way.

    `desired` may be a future, set once the users are loaded: each kind reads what it can
    (the stack's own listings) before it is, and waits for it where it needs the declared
    keys; `outline` then says what the manifests declare before their users. An exception
    set on the future ends every read waiting for it with that exception.

    `progress` hears how many agents have been read so far, a page at a time. `changes`
    are a saved plan's, from which each kind learns what more it reads than the stack's own
    (the tools the plan links, looked up by name besides those `desired` names). `adopt`:
    also what the stack could adopt (see `reconciler.planner.adoption`). `prune` (else as
    `desired` says): every identity is listed, to find owned ones attached nowhere.
    `records`: a saved plan's records of how each kind read the server
    (`reconciler.registry.read_records`), read the same way again.
    """
    return _read(
        api,
        stack,
        desired,
        outline=outline,
        parallelism=parallelism,
        page_size=page_size,
        progress=progress,
        changes=tuple(changes),
        adopt=adopt,
        prune=prune,
        records=records,
    )


def read_scoped(
    api: LettaApi, desired: DesiredState, *, parallelism: int = 8, page_size: int = PAGE
) -> LiveState:
    """The live state of the resources `desired` (a stack cut to a scope) declares: each
    looked up by what the server can filter on; a lookup that finds nothing where the stack
    should own something (a renamed agent or block) falls back to the stack's listing of that
    kind, so a rename is never mistaken for a missing resource and created twice."""
    return _read(
        api, desired.stack, desired, parallelism=parallelism, page_size=page_size, scoped=True
    )


def _read(
    api: LettaApi,
    stack: str,
    desired: DesiredState | Future[DesiredState | None] | None,
    **options: object,
) -> LiveState:
    """Every registered kind's part, each kind's `read` run at once."""
    registered = registry.KINDS
    futures: dict[Kind, Future[object]] = {entry.KIND: Future() for entry in registered}
    if isinstance(desired, Future):
        declared = desired
    else:
        declared = Future()
        declared.set_result(desired)
    reading = Reading(api, stack, declared, futures, **options)  # type: ignore[arg-type]

    def run(entry: registry.Handler) -> None:
        future = futures[entry.KIND]
        try:
            future.set_result(entry.read(reading))
        except (KeyError, TypeError, AttributeError) as exc:
            future.set_exception(_unexpected(entry.KIND, exc))
        except BaseException as exc:  # handed to whoever waits for the part
            future.set_exception(exc)

    # The pages become records and parts that hold no reference cycles.
    with collector.paused(), ThreadPoolExecutor(max_workers=len(registered)) as pool:
        for entry in registered:
            pool.submit(run, entry)
        parts = {kind: future.result() for kind, future in futures.items()}
    return LiveState(stack, parts)


def _unexpected(kind: Kind, exc: Exception) -> UnexpectedAnswer:
    """A server record without a field the kind reads, or of another type (a field the API
    renamed): one line naming the kind, the cause kept for --debug."""
    found = UnexpectedAnswer(
        f"reading {kind.value} records",
        f"the server's answer is not shaped as letta-apply reads it ({type(exc).__name__}: "
        f"{exc}); is this the Letta version letta-apply supports?",
    )
    found.__cause__ = exc
    return found
