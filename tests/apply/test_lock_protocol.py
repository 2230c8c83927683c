"""The lock's protocol with both kinds of record, on an in-memory stand-in for the two
endpoints it uses: identities (refusing a second lock key, or absent and answering 404, as on
Letta Cloud) and blocks (listed by exact label and tag). Races are staged with threads and
hooks between the create and the listing; the real server runs the same protocol in
tests/apply/test_lock.py and tests/integration/test_cloud.py."""

from __future__ import annotations

import contextlib
import copy
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

import pytest

from reconciler.apply.lock import StackLock, force_unlock
from reconciler.client import LettaApi
from reconciler.errors import LockError, ServerError
from reconciler.kinds.lock import BLOCK, IDENTITY, RecordKind, kinds_on
from reconciler.ownership import LOCK_BLOCK_LABEL, LOCK_METADATA_KEY, is_lock_record, lock_key

IDENTITIES = "/v1/identities/"
BLOCKS = "/v1/blocks/"


class LockEndpoints:
    """The identities and blocks endpoints, in memory, thread-safe; `on_list` runs before
    each listing of lock records (another run acting between a create and a listing)."""

    def __init__(self, identities: bool = True) -> None:
        self.identities = identities
        self.rows: dict[str, list[dict[str, Any]]] = {IDENTITIES: [], BLOCKS: []}
        self.on_list: Callable[[], None] = lambda: None
        self.on_create: Callable[[], None] = lambda: None
        self.probes = 0
        self.unlisted = False
        """Listings leave out every record (a listing lagging behind, or ignoring filters)."""
        self._lock = threading.RLock()
        self._ids = 0

    def _missing(self, path: str, address: str) -> None:
        if path.startswith(IDENTITIES) and not self.identities:
            raise ServerError(address or path, "Not Found", 404)

    def get(self, path: str, params: Mapping[str, Any] | None = None, *, address: str = "") -> Any:
        query = dict(params or {})
        if query.get("limit") == 1:
            self.probes += 1
        self._missing(path, address)
        if query.get("limit") != 1:
            self.on_list()
        with self._lock:
            listed = [] if self.unlisted else self.rows[path]
            return [copy.deepcopy(r) for r in listed if _matches(r, query)]

    def create(
        self, path: str, body: Any, *, address: str, find_existing: Callable[[], Any]
    ) -> Any:
        self._missing(path, address)
        with self._lock:
            key = body.get("identifier_key")
            if key and any(r.get("identifier_key") == key for r in self.rows[path]):
                raise ServerError(address, "identity exists", 409)
            self._ids += 1
            row = {**copy.deepcopy(body), "id": f"{path.split('/')[2]}-{self._ids}"}
            self.rows[path].append(row)
        self.on_create()
        return copy.deepcopy(row)

    def delete(self, path: str, *, address: str = "") -> None:
        self._missing(path, address)
        collection, _, record_id = path.rpartition("/")
        with self._lock:
            rows = self.rows[collection + "/"]
            if not any(r["id"] == record_id for r in rows):
                raise ServerError(address, "Not Found", 404)
            rows[:] = [r for r in rows if r["id"] != record_id]

    def all(self) -> list[dict[str, Any]]:
        return [*self.rows[IDENTITIES], *self.rows[BLOCKS]]


def _matches(row: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    if "identifier_key" in query and row.get("identifier_key") != query["identifier_key"]:
        return False
    if "label" in query and row.get("label") != query["label"]:
        return False
    tags = query.get("tags")
    return not tags or bool(set(tags) & set(row.get("tags") or ()))


@pytest.fixture(params=["identity", "block"])
def server(request: pytest.FixtureRequest) -> LockEndpoints:
    """A server with identities (lock identities), and one without (lock blocks)."""
    return LockEndpoints(identities=request.param == "identity")


def api_of(server: LockEndpoints) -> LettaApi:
    return cast(LettaApi, server)


def kind_of(server: LockEndpoints) -> RecordKind:
    return IDENTITY if server.identities else BLOCK


def records(server: LockEndpoints, stack: str = "acme") -> list[dict[str, Any]]:
    path = IDENTITIES if server.identities else BLOCKS
    key = lock_key(stack)
    return [
        r for r in server.rows[path] if r.get("identifier_key") == key or key in r.get("tags", ())
    ]


def plant(server: LockEndpoints, holder: str, stack: str = "acme") -> None:
    """A lock record as a run on `holder` (host:pid) would have left it."""
    said = {"token": "left-behind", "holder": holder, "started_at": "2026-01-01T00:00:00+00:00"}
    kind_of(server).create(api_of(server), stack, said)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def quick(_seconds: float) -> None:
    time.sleep(0.005)


def test_the_kind_follows_the_identities_listing() -> None:
    assert kinds_on(api_of(LockEndpoints(identities=True)), "acme") == (IDENTITY, BLOCK)
    assert kinds_on(api_of(LockEndpoints(identities=False)), "acme") == (BLOCK,)


def test_held_while_inside_and_gone_after_with_one_probe(server: LockEndpoints) -> None:
    with StackLock(api_of(server), "acme") as held:
        [record] = records(server)
        assert held.kind is kind_of(server)
    assert server.all() == []
    assert server.probes == 1  # the choice is made once and serves the release too
    holder = kind_of(server).holder_of(record)
    assert set(holder) >= {"token", "holder", "started_at"}
    assert str(holder["holder"]).startswith(f"{socket.gethostname()}:")


def test_a_lock_block_is_a_plain_unattached_block_marked_as_a_lock() -> None:
    server = LockEndpoints(identities=False)
    with StackLock(api_of(server), "acme"):
        [block] = server.rows[BLOCKS]
    assert block["label"] == LOCK_BLOCK_LABEL
    assert block["tags"] == ["letta-apply-lock:acme"]
    assert block["metadata"][LOCK_METADATA_KEY]["stack"] == "acme"
    assert "letta_apply" not in block["metadata"]  # no ownership record: never the stack's
    assert not any(t.startswith("letta-apply:") for t in block["tags"])
    assert is_lock_record(block)
    assert server.rows[IDENTITIES] == []


def test_a_held_lock_is_refused_with_its_holder_then_admitted(server: LockEndpoints) -> None:
    plant(server, "ci-runner-7:4242")
    with pytest.raises(LockError, match="locked by ci-runner-7:4242 since 2026-01-01"):
        StackLock(api_of(server), "acme", sleep=quick).__enter__()
    assert len(records(server)) == 1  # the refused run left nothing of its own
    assert force_unlock(api_of(server), "acme") == 1
    with StackLock(api_of(server), "acme"):
        assert len(records(server)) == 1


def test_another_stacks_lock_is_not_this_ones(server: LockEndpoints) -> None:
    plant(server, "ci-runner-7:4242", stack="other")
    with StackLock(api_of(server), "acme"):
        assert len(records(server)) == 1
    assert force_unlock(api_of(server), "acme") == 0
    assert len(records(server, "other")) == 1


def test_a_run_creating_between_create_and_listing_loses(server: LockEndpoints) -> None:
    """B creates and lists while A is between its create and its listing: only A proceeds."""
    api = api_of(server)
    first = StackLock(api, "acme", sleep=quick)
    second = StackLock(api, "acme", sleep=quick)
    refused: list[str] = []

    def rival() -> None:
        server.on_list = lambda: None
        with pytest.raises(LockError) as caught:
            second.__enter__()
        refused.append(str(caught.value))

    server.on_list = rival
    with first:
        assert len(refused) == 1
        assert len(records(server)) == 1
    assert server.all() == []


def test_two_runs_started_together_one_proceeds(server: LockEndpoints) -> None:
    """Both create, then both list, before either acts on what it saw: exactly one holds,
    the other is refused naming it (the oldest record's run waits for the other to
    withdraw)."""
    created = threading.Barrier(2, timeout=5)
    listed = threading.Barrier(2, timeout=5)
    server.on_create = lambda: _wait_quietly(created)
    server.on_list = lambda: _wait_quietly(listed)
    refused = threading.Event()
    outcomes: list[str] = []

    def run() -> None:
        try:
            with StackLock(api_of(server), "acme", sleep=lambda _s: refused.wait(5)):
                outcomes.append("held")
                server.on_list = lambda: None
        except LockError:
            outcomes.append("refused")
            refused.set()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(outcomes) == ["held", "refused"]
    assert server.all() == []


def _wait_quietly(barrier: threading.Barrier) -> None:
    # The identity kind refuses the second create before it lands: that run never waits
    # there, and lists once, so each barrier is passed by the first run alone.
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait(0.3)


def test_a_waiting_run_gets_the_lock_once_released(server: LockEndpoints) -> None:
    clock = iter(range(100))
    api = api_of(server)
    holder = StackLock(api, "acme")
    holder.__enter__()
    tries: list[float] = []

    def pause(seconds: float) -> None:
        tries.append(seconds)
        if len(tries) == 3:
            holder.__exit__(None, None, None)

    with StackLock(api, "acme", timeout=50, sleep=pause, clock=lambda: float(next(clock))):
        assert len(records(server)) == 1
    assert tries == [2.0, 2.0, 2.0]


def test_a_dead_local_holder_is_taken_over(server: LockEndpoints) -> None:
    plant(server, f"{socket.gethostname()}:{dead_pid()}")
    said: list[str] = []
    waited: list[float] = []
    with StackLock(api_of(server), "acme", notify=said.append, sleep=waited.append, settle=3):
        [record] = records(server)
        assert kind_of(server).holder_of(record)["token"] != "left-behind"
    assert len(said) == 1 and said[0].startswith("Took over the lock of")
    assert waited == [3]
    assert server.all() == []


def test_ctrl_c_inside_the_lock_releases_it(server: LockEndpoints) -> None:
    with pytest.raises(KeyboardInterrupt), StackLock(api_of(server), "acme"):
        assert len(records(server)) == 1
        raise KeyboardInterrupt
    assert server.all() == []


def test_ctrl_c_between_create_and_listing_leaves_no_record(server: LockEndpoints) -> None:
    interrupts = iter([KeyboardInterrupt])

    def interrupt_once() -> None:
        for signal in interrupts:
            raise signal

    server.on_list = interrupt_once
    with pytest.raises(KeyboardInterrupt), StackLock(api_of(server), "acme"):
        pass
    assert server.all() == []


def test_ctrl_c_while_settling_after_a_takeover_releases(server: LockEndpoints) -> None:
    plant(server, f"{socket.gethostname()}:{dead_pid()}")

    def interrupted(_seconds: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), StackLock(api_of(server), "acme", sleep=interrupted):
        pass
    assert server.all() == []


def test_unlock_removes_both_kinds_where_identities_exist() -> None:
    """A lock block left while the identities API was missing is removed all the same."""
    server = LockEndpoints(identities=True)
    said = {"token": "t", "holder": "ci:1", "started_at": "2026-01-01T00:00:00+00:00"}
    IDENTITY.create(api_of(server), "acme", said)
    BLOCK.create(api_of(server), "acme", said)
    assert force_unlock(api_of(server), "acme") == 2
    assert server.all() == []


def test_a_lost_create_answer_is_found_by_token() -> None:
    server = LockEndpoints(identities=False)
    said = {"token": "mine", "holder": "ci:1", "started_at": "2026-01-01T00:00:00+00:00"}
    plant(server, "ci-runner-7:4242")
    original = server.create

    def create(path: str, body: Any, *, address: str, find_existing: Callable[[], Any]) -> Any:
        """The block is made, but the answer is lost: the client reads it back."""
        original(path, body, address=address, find_existing=find_existing)
        return find_existing()

    server.create = create  # type: ignore[method-assign]
    record = BLOCK.create(api_of(server), "acme", said)
    assert record.token == "mine"


def test_lock_records_are_recognised_whatever_their_stack() -> None:
    assert is_lock_record({"label": LOCK_BLOCK_LABEL, "tags": ["letta-apply-lock:x"]})
    assert is_lock_record({"identifier_key": "letta-apply-lock:x"})
    assert not is_lock_record({"label": "human", "tags": ["letta-apply:x"]})
    assert not is_lock_record({"identifier_key": "carol"})


def test_a_lock_block_without_a_holder_record_still_holds_the_lock() -> None:
    """Server data may be anything: a lock block whose metadata is not the holder record is
    a holder all the same (never ignored), named as well as it can be."""
    server = LockEndpoints(identities=False)
    server.rows[BLOCKS].append(
        {
            "id": "block-x",
            "label": LOCK_BLOCK_LABEL,
            "tags": ["letta-apply-lock:acme"],
            "metadata": ["?"],
        }
    )
    with pytest.raises(LockError, match="locked by another apply since an unknown time"):
        StackLock(api_of(server), "acme", sleep=quick).__enter__()
    assert [r["id"] for r in server.rows[BLOCKS]] == ["block-x"]


def test_a_listing_lagging_behind_the_create_is_asked_again(server: LockEndpoints) -> None:
    server.unlisted = True

    def catch_up(_seconds: float) -> None:
        server.unlisted = False

    with StackLock(api_of(server), "acme", sleep=catch_up):
        assert len(records(server)) == 1
    assert server.all() == []


def test_a_listing_that_never_shows_the_record_made_refuses(server: LockEndpoints) -> None:
    """Without its own record in the listing, a run cannot tell it is alone: it must not
    proceed, and it removes what it made."""
    server.unlisted = True
    with pytest.raises(LockError, match=r"does not list the lock .* just made"):
        StackLock(api_of(server), "acme", sleep=quick).__enter__()
    assert server.all() == []
