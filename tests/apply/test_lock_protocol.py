"""The lock's protocol with both kinds of record, on the in-memory Letta server
(tests/letta_memory) through letta-apply's own client: identities (refusing a second lock key,
or absent and answering 404, as on Letta Cloud) and blocks (listed by exact label and tag).
Races are staged with threads and hooks between the create and the listing; the real server
runs the same protocol in tests/apply/test_lock.py and tests/integration/test_cloud.py."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from reconciler.apply.lock import StackLock, force_unlock
from reconciler.client import LettaApi
from reconciler.errors import LockError
from reconciler.kinds.lock import BLOCK, IDENTITY, RecordKind, kinds_on
from reconciler.ownership import LOCK_BLOCK_LABEL, LOCK_METADATA_KEY, is_lock_record, lock_key
from tests.letta_memory import MemoryLetta, Request, serving
from tests.offline.conftest import client

IDENTITIES = "/v1/identities/"
BLOCKS = "/v1/blocks/"


class LockServer:
    """The in-memory server and a client for it; `on_list` runs before each listing of lock
    records, `on_create` after each create (another run acting in between)."""

    def __init__(self, letta: MemoryLetta, api: LettaApi) -> None:
        self.letta = letta
        self.api = api
        self.identities = letta.has_identities
        self.on_list: Callable[[], None] = lambda: None
        self.on_create: Callable[[], None] = lambda: None
        letta.before = self._before
        letta.after = self._after

    def _before(self, request: Request) -> None:
        if request.method == "GET" and request.path in (IDENTITIES, BLOCKS) and not _probe(request):
            self.on_list()

    def _after(self, request: Request) -> None:
        if request.method == "POST":
            self.on_create()

    @property
    def probes(self) -> int:
        return sum(1 for r in self.letta.requests if r.method == "GET" and _probe(r))

    @property
    def unlisted(self) -> bool:
        """Listings leave out every record (a listing lagging behind, or ignoring filters)."""
        return self.letta.unlisted

    @unlisted.setter
    def unlisted(self, value: bool) -> None:
        self.letta.unlisted = value

    def rows(self, path: str) -> list[dict[str, Any]]:
        collection = self.letta.identities if path == IDENTITIES else self.letta.blocks
        return list(collection.rows.values())

    def all(self) -> list[dict[str, Any]]:
        return [*self.rows(IDENTITIES), *self.rows(BLOCKS)]


def _probe(request: Request) -> bool:
    return request.query.get("limit") == ["1"]


@contextlib.contextmanager
def lock_server(identities: bool) -> Iterator[LockServer]:
    with serving(MemoryLetta(identities=identities)) as (letta, url), client(url) as api:
        yield LockServer(letta, api)


@pytest.fixture(params=["identity", "block"])
def server(request: pytest.FixtureRequest) -> Iterator[LockServer]:
    """A server with identities (lock identities), and one without (lock blocks)."""
    with lock_server(request.param == "identity") as served:
        yield served


def api_of(server: LockServer) -> LettaApi:
    return server.api


def kind_of(server: LockServer) -> RecordKind:
    return IDENTITY if server.identities else BLOCK


def records(server: LockServer, stack: str = "acme") -> list[dict[str, Any]]:
    key = lock_key(stack)
    return [
        r
        for r in server.rows(IDENTITIES if server.identities else BLOCKS)
        if r.get("identifier_key") == key or key in r.get("tags", ())
    ]


def plant(server: LockServer, holder: str, stack: str = "acme") -> None:
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
    with lock_server(identities=True) as server:
        assert kinds_on(api_of(server), "acme") == (IDENTITY, BLOCK)
    with lock_server(identities=False) as server:
        assert kinds_on(api_of(server), "acme") == (BLOCK,)


def test_held_while_inside_and_gone_after_with_one_probe(server: LockServer) -> None:
    with StackLock(api_of(server), "acme") as held:
        [record] = records(server)
        assert held.kind is kind_of(server)
    assert server.all() == []
    assert server.probes == 1  # the choice is made once and serves the release too
    holder = kind_of(server).holder_of(record)
    assert set(holder) >= {"token", "holder", "started_at"}
    assert str(holder["holder"]).startswith(f"{socket.gethostname()}:")


def test_a_lock_block_is_a_plain_unattached_block_marked_as_a_lock() -> None:
    with lock_server(identities=False) as server, StackLock(api_of(server), "acme"):
        [block] = server.rows(BLOCKS)
    assert block["label"] == LOCK_BLOCK_LABEL
    assert block["tags"] == ["letta-apply-lock:acme"]
    assert block["metadata"][LOCK_METADATA_KEY]["stack"] == "acme"
    assert "letta_apply" not in block["metadata"]  # no ownership record: never the stack's
    assert not any(t.startswith("letta-apply:") for t in block["tags"])
    assert is_lock_record(block)
    assert server.rows(IDENTITIES) == []


def test_a_held_lock_is_refused_with_its_holder_then_admitted(server: LockServer) -> None:
    plant(server, "ci-runner-7:4242")
    with pytest.raises(LockError, match="locked by ci-runner-7:4242 since 2026-01-01"):
        StackLock(api_of(server), "acme", sleep=quick).__enter__()
    assert len(records(server)) == 1  # the refused run left nothing of its own
    assert force_unlock(api_of(server), "acme") == 1
    with StackLock(api_of(server), "acme"):
        assert len(records(server)) == 1


def test_another_stacks_lock_is_not_this_ones(server: LockServer) -> None:
    plant(server, "ci-runner-7:4242", stack="other")
    with StackLock(api_of(server), "acme"):
        assert len(records(server)) == 1
    assert force_unlock(api_of(server), "acme") == 0
    assert len(records(server, "other")) == 1


def test_a_run_creating_between_create_and_listing_loses(server: LockServer) -> None:
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


def test_two_runs_started_together_one_proceeds(server: LockServer) -> None:
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


def test_a_waiting_run_gets_the_lock_once_released(server: LockServer) -> None:
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


def test_a_dead_local_holder_is_taken_over(server: LockServer) -> None:
    plant(server, f"{socket.gethostname()}:{dead_pid()}")
    said: list[str] = []
    waited: list[float] = []
    with StackLock(api_of(server), "acme", notify=said.append, sleep=waited.append, settle=3):
        [record] = records(server)
        assert kind_of(server).holder_of(record)["token"] != "left-behind"
    assert len(said) == 1 and said[0].startswith("Took over the lock of")
    assert waited == [3]
    assert server.all() == []


def test_ctrl_c_inside_the_lock_releases_it(server: LockServer) -> None:
    with pytest.raises(KeyboardInterrupt), StackLock(api_of(server), "acme"):
        assert len(records(server)) == 1
        raise KeyboardInterrupt
    assert server.all() == []


def test_ctrl_c_between_create_and_listing_leaves_no_record(server: LockServer) -> None:
    """Ctrl-C reaches the run itself (not the server) after its create, before its listing."""
    interrupts = iter([KeyboardInterrupt])
    api = api_of(server)
    listing = api.get

    def interrupted_once(path: str, params: Any = None, *, address: str = "") -> Any:
        if params and params.get("limit") != 1:
            for signal in interrupts:
                raise signal
        return listing(path, params, address=address)

    api.get = interrupted_once  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt), StackLock(api, "acme"):
        pass
    assert server.all() == []


def test_ctrl_c_while_settling_after_a_takeover_releases(server: LockServer) -> None:
    plant(server, f"{socket.gethostname()}:{dead_pid()}")

    def interrupted(_seconds: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), StackLock(api_of(server), "acme", sleep=interrupted):
        pass
    assert server.all() == []


def test_unlock_removes_both_kinds_where_identities_exist() -> None:
    """A lock block left while the identities API was missing is removed all the same."""
    said = {"token": "t", "holder": "ci:1", "started_at": "2026-01-01T00:00:00+00:00"}
    with lock_server(identities=True) as server:
        IDENTITY.create(api_of(server), "acme", said)
        BLOCK.create(api_of(server), "acme", said)
        assert force_unlock(api_of(server), "acme") == 2
        assert server.all() == []


def test_a_lost_create_answer_is_found_by_token() -> None:
    said = {"token": "mine", "holder": "ci:1", "started_at": "2026-01-01T00:00:00+00:00"}
    with lock_server(identities=False) as server:
        plant(server, "ci-runner-7:4242")
        # The block is made, but the answer is lost: the client reads it back.
        lost = server.letta.fail("POST", f"^{BLOCKS}$", status=502, acted=True)
        record = BLOCK.create(api_of(server), "acme", said)
        assert lost.times == 0 and record.token == "mine"
        assert len(records(server)) == 2


def test_lock_records_are_recognised_whatever_their_stack() -> None:
    assert is_lock_record({"label": LOCK_BLOCK_LABEL, "tags": ["letta-apply-lock:x"]})
    assert is_lock_record({"identifier_key": "letta-apply-lock:x"})
    assert not is_lock_record({"label": "human", "tags": ["letta-apply:x"]})
    assert not is_lock_record({"identifier_key": "carol"})


def test_a_lock_block_without_a_holder_record_still_holds_the_lock() -> None:
    """Server data may be anything: a lock block whose metadata is not the holder record is
    a holder all the same (never ignored), named as well as it can be."""
    with lock_server(identities=False) as server:
        lock = {"label": LOCK_BLOCK_LABEL, "value": "?", "tags": ["letta-apply-lock:acme"]}
        planted = server.letta.block(**lock, metadata=["?"])
        with pytest.raises(LockError, match="locked by another apply since an unknown time"):
            StackLock(api_of(server), "acme", sleep=quick).__enter__()
        assert [r["id"] for r in server.rows(BLOCKS)] == [planted["id"]]


def test_a_listing_lagging_behind_the_create_is_asked_again(server: LockServer) -> None:
    server.unlisted = True

    def catch_up(_seconds: float) -> None:
        server.unlisted = False

    with StackLock(api_of(server), "acme", sleep=catch_up):
        assert len(records(server)) == 1
    assert server.all() == []


def test_a_listing_that_never_shows_the_record_made_refuses(server: LockServer) -> None:
    """Without its own record in the listing, a run cannot tell it is alone: it must not
    proceed, and it removes what it made."""
    server.unlisted = True
    with pytest.raises(LockError, match=r"does not list the lock .* just made"):
        StackLock(api_of(server), "acme", sleep=quick).__enter__()
    assert server.all() == []
