"""Shared fixtures: one real Letta server for the whole session, started only when needed.

Tests that talk to a server are marked `server` and ask for `letta_url` or `sdk`; the server
starts on the first such test (nothing starts for a run without one) and stops at the end.
`LETTA_APPLY_TEST_SERVER=<url>` points the suite at a server that is already running instead.

Every server test runs under the request ledger (`tests.requestledger`): a write any of its
letta-apply runs sent that no change of the applied plan names fails the test.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from letta_client import Letta

from reconciler.devserver import DevServer
from tests.requestledger import LEDGER_ENV, verdicts

SERVER_FIXTURES = {"letta_url", "sdk"}
_STARTUP_KEY = pytest.StashKey[str]()
_ROOT_PREFIX = "letta-apply-test-"


@pytest.fixture(autouse=True, scope="session")
def private_config_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The key letta-apply makes for a server without one goes to the user's config folder:
    the tests' own, never the home folder of whoever runs them."""
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse tests that use the server without the `server` marker (so `-m` selects right)."""
    unmarked = [
        item.nodeid
        for item in items
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("server") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "tests using the Letta server must be marked @pytest.mark.server: "
            + ", ".join(unmarked)
        )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Report how long the session's server took to start, next to the test results."""
    line = terminalreporter.config.stash.get(_STARTUP_KEY, None)
    if line:
        terminalreporter.write_sep("-", "letta test server")
        terminalreporter.write_line(line)


def _say(config: pytest.Config, message: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        print(message, file=sys.stderr)
        return
    reporter.ensure_newline()
    reporter.write_line(message)


@pytest.fixture(autouse=True)
def no_dev_server_of_the_machine(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Commands run without a URL find no dev server unless a test records one: whether the
    machine's own dev server runs must not change what a test sees."""
    monkeypatch.setenv("LETTA_APPLY_DEV_SERVER_DIR", str(tmp_path_factory.getbasetemp() / "none"))


@pytest.fixture(scope="session")
def server_state_root() -> Iterator[Path]:
    """A folder for dev server state folders, removed at the end of the session.

    Not under pytest's tmp_path: pytest makes its base folder private (0700) at every session
    start, which locks PostgreSQL (running as its own user when we are root) out of its data
    folder whenever another pytest session starts meanwhile.
    """
    _stop_abandoned_servers()
    root = Path(tempfile.mkdtemp(prefix=_ROOT_PREFIX))
    (root / "owner.pid").write_text(str(os.getpid()))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _stop_abandoned_servers() -> None:
    """Stop servers left by a test session that was killed before its teardown ran."""
    for root in Path(tempfile.gettempdir()).glob(f"{_ROOT_PREFIX}*"):
        try:
            owner = int((root / "owner.pid").read_text())
            os.kill(owner, 0)
            continue  # another session, still running
        except (OSError, ValueError):
            pass
        for state in root.glob("*/state.json"):
            DevServer(state.parent).down()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def letta_url(request: pytest.FixtureRequest, server_state_root: Path) -> Iterator[str]:
    """Base URL of a real Letta server shared by the session."""
    external = os.environ.get("LETTA_APPLY_TEST_SERVER")
    if external:
        request.config.stash[_STARTUP_KEY] = f"using the running server at {external}"
        yield external.rstrip("/")
        return
    state_dir = server_state_root / "session"
    server = DevServer(state_dir, progress=lambda message: _say(request.config, message))
    began = time.monotonic()
    _say(request.config, "starting a local Letta server for the tests ...")
    info = server.up()  # on failure it stops whatever it started
    line = f"Letta {info.version} at {info.url} started in {time.monotonic() - began:.1f} s"
    request.config.stash[_STARTUP_KEY] = line
    _say(request.config, line)
    try:
        yield info.url
    finally:
        server.down()


@pytest.fixture(scope="session")
def sdk(letta_url: str) -> Iterator[Letta]:
    """The official client on the test server, with the SDK's own retries off.

    Its default retries re-send POSTs and can duplicate creates; tests should see what happened.
    """
    client = Letta(base_url=letta_url, max_retries=0)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def stack_name() -> str:
    """A stack name no other test uses, so tests on the shared server cannot see each other."""
    return f"t-{uuid.uuid4().hex[:8]}"


@pytest.fixture(autouse=True)
def request_ledger(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """For a server test: the file its letta-apply runs record their writes in, checked after
    the test (each write belongs to a change of the plan applied, or is the lock's)."""
    if request.node.get_closest_marker("server") is None:
        yield
        return
    folder = Path(tempfile.mkdtemp(prefix="letta-apply-ledger-"))
    ledger = folder / "writes.jsonl"
    monkeypatch.setenv(LEDGER_ENV, str(ledger))
    try:
        yield
        stray = [v for v in verdicts(ledger) if not v["ok"]]
        if stray:
            lines = [
                f"{v['method']} {v['path']} ({v['change'] or 'no change'}): {v['why']}"
                for v in stray
            ]
            pytest.fail("writes no planned change names:\n" + "\n".join(lines), pytrace=False)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
