"""Start, inspect and stop a local Letta server with its own private PostgreSQL.

Layout of a state folder: `state.json` (what is running), `pgdata/` (the database, kept
between runs), `home/` (the server's HOME), `logs/` (server, embedding model and database
bootstrap logs), `embeddings.json` (the embedding model's port, kept between runs).
The server embeds with a local model the dev server runs beside it (`embeddings`).
Everything started is recorded by pid before it is waited on, so a failed or interrupted
start, and `down`, can stop exactly what was started and nothing else.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from reconciler.devserver import embeddings, processes
from reconciler.devserver.venv import Progress, ServerVenv, cache_root, ignore_progress
from reconciler.errors import DevServerError

HOST = "127.0.0.1"
MAX_CONNECTIONS = 400
_BOOTSTRAP = Path(__file__).resolve().parent / "bootstrap_db.py"
_HEALTH_POLL = 0.5
_STOP_TIMEOUT = 20.0


def default_state_dir() -> Path:
    """Where `letta-apply dev-server` keeps its server: `~/.cache/letta-apply/dev-server`."""
    return cache_root() / "dev-server"


def running_url(state_dir: Path) -> str | None:
    """The URL of the server the state folder `state_dir` started, if its processes still run;
    None otherwise. Sends no request, takes no lock and stops nothing: cheap enough for every
    command that looks for a server to talk to."""
    try:
        record = _Record.from_json((state_dir.expanduser() / "state.json").read_text())
    except (OSError, ValueError, KeyError):
        return None
    alive = processes.runs(record.server_pid, "letta") and processes.runs(
        record.postgres_pid, "postgres"
    )
    return _url(record.port) if alive else None


@dataclass(frozen=True)
class ServerInfo:
    """A running dev server. `started` is True only when the call that returned it started it."""

    url: str
    port: int
    server_pid: int
    postgres_pid: int
    data_dir: Path
    log_path: Path
    version: str | None = None
    started: bool = False
    embedding_pid: int = 0
    embedding_url: str = ""

    @property
    def pids(self) -> tuple[int, ...]:
        return tuple(p for p in (self.server_pid, self.postgres_pid, self.embedding_pid) if p)

    @property
    def embedding_handle(self) -> str:
        """The embedding handle of the local model, the server's default."""
        return embeddings.HANDLE


@dataclass(frozen=True)
class _Record:
    """What state.json holds; `server_pid` (`embedding_pid`) is 0 until the server (its
    embedding model) is started."""

    port: int
    postgres_pid: int
    socket_dir: str
    server_pid: int = 0
    embedding_pid: int = 0
    embedding_port: int = 0

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2)

    @classmethod
    def from_json(cls, text: str) -> _Record:
        raw: dict[str, Any] = json.loads(text)
        return cls(
            port=int(raw["port"]),
            postgres_pid=int(raw["postgres_pid"]),
            socket_dir=str(raw["socket_dir"]),
            server_pid=int(raw.get("server_pid", 0)),
            embedding_pid=int(raw.get("embedding_pid", 0)),
            embedding_port=int(raw.get("embedding_port", 0)),
        )


class DevServer:
    """One local Letta server plus its PostgreSQL, owned by a state folder."""

    def __init__(
        self,
        state_dir: Path,
        port: int | None = None,
        progress: Progress = ignore_progress,
        venv: ServerVenv | None = None,
    ) -> None:
        self.state_dir = state_dir.expanduser().resolve()
        self.port = port
        self.progress = progress
        self.venv = venv or ServerVenv.default()
        # Kept so the children are not garbage-collected (and warned about) while they run.
        self._process: subprocess.Popen[bytes] | None = None
        self._embedder: subprocess.Popen[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "pgdata"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    def logs(self) -> Path:
        """The Letta server's log file (the database bootstrap log sits beside it)."""
        return self.state_dir / "logs" / "server.log"

    def bootstrap_log(self) -> Path:
        return self.state_dir / "logs" / "database.log"

    def embedding_log(self) -> Path:
        return self.state_dir / "logs" / "embeddings.log"

    def up(self, timeout: float = 240.0) -> ServerInfo:
        """Start the server (installing it first if needed) unless it already runs.

        `timeout` bounds the start (database, tables, server ready), not a first install.
        On any failure everything this call started is stopped again.
        """
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self._lock():
            try:
                running = self._check_running()
            except DevServerError as exc:
                self.progress(f"{exc}\nStarting a new one.")
                running = None
            if running is not None:
                return running
            if self.port is not None:
                _require_free(self.port)  # fail before a possibly long install
            self.venv.ensure(self.progress)
            port = self.port or _free_port()
            try:
                return self._start(port, time.monotonic() + timeout)
            except BaseException:
                # Includes Ctrl-C: a half-started server must not outlive the command.
                self._stop_recorded()
                raise

    def status(self) -> ServerInfo | None:
        """The running server, or None if none was started.

        Raises DevServerError if a recorded process died (after stopping what was left).
        """
        if not self.state_file.exists():
            return None
        with self._lock():
            return self._check_running()

    def down(self) -> tuple[int, ...]:
        """Stop everything this state folder started; returns the pids that were stopped."""
        if not self.state_dir.exists():
            return ()
        with self._lock():
            return self._stop_recorded()

    def _check_running(self) -> ServerInfo | None:
        record = self._read_record()
        if record is None:
            return None
        if (
            processes.runs(record.server_pid, "letta")
            and processes.runs(record.postgres_pid, "postgres")
            and _embeddings_run(record)
        ):
            return self._info(record, version=_health_version(_url(record.port), timeout=3.0))
        dead = _describe_dead(record)
        self._stop_recorded()
        raise DevServerError(
            f"the dev server is not running: {dead}; stopped what was left. See {self.logs()}"
        )

    def _start(self, port: int, deadline: float) -> ServerInfo:
        started = time.monotonic()
        self.progress("Starting PostgreSQL and preparing the database ...")
        record = self._start_database(port, deadline)
        self.progress(f"  database ready in {time.monotonic() - started:.0f} s")
        record = self._start_embeddings(record, deadline)
        self.progress(f"Starting the Letta server on {_url(port)} ...")
        process = self._spawn_server(record)
        record = replace(record, server_pid=process.pid)
        self._write_record(record)
        version = self._wait_healthy(process, _url(port), deadline)
        return replace(self._info(record, version=version), started=True)

    def _start_database(self, port: int, deadline: float) -> _Record:
        result_file = self.state_dir / "database.json"
        result_file.unlink(missing_ok=True)
        self.bootstrap_log().parent.mkdir(parents=True, exist_ok=True)
        command = [
            str(self.venv.python),
            str(_BOOTSTRAP),
            "--pgdata",
            str(self.data_dir),
            "--role",
            _os_user(),
            "--max-connections",
            str(MAX_CONNECTIONS),
            "--result",
            str(result_file),
        ]
        # Letta picks column types by database at import time, so the URI must be set here too.
        env = self._server_env(socket_dir=str(self.data_dir))
        with self.bootstrap_log().open("w") as log:
            code = _run_with_deadline(command, env, log, deadline)
        if code != 0 or not result_file.exists():
            reason = "timed out" if code is None else f"failed (exit code {code})"
            raise DevServerError(
                f"preparing the dev server's PostgreSQL {reason}; see {self.bootstrap_log()}"
            )
        raw = json.loads(result_file.read_text())
        record = _Record(
            port=port, postgres_pid=int(raw["postgres_pid"]), socket_dir=str(raw["socket_dir"])
        )
        self._write_record(record)
        return record

    def _start_embeddings(self, record: _Record, deadline: float) -> _Record:
        """Start the local embedding model; the server lists its models once, at start."""
        port = embeddings.choose_port(self.state_dir, HOST)
        self.progress(f"Starting the embedding model ({embeddings.HANDLE}) ...")
        env = self._server_env(record.socket_dir)
        with self.embedding_log().open("wb") as log:
            self._embedder = embeddings.spawn(self.venv.python, HOST, port, log, env)
        record = replace(record, embedding_pid=self._embedder.pid, embedding_port=port)
        self._write_record(record)
        embeddings.wait_ready(self._embedder, _url(port), deadline, self.embedding_log())
        return record

    def _spawn_server(self, record: _Record) -> subprocess.Popen[bytes]:
        command = [str(self.venv.letta), "server", "--host", HOST, "--port", str(record.port)]
        env = {
            **self._server_env(record.socket_dir),
            **embeddings.server_env(HOST, record.embedding_port),
        }
        with self.logs().open("w") as log:
            # Own session: `down` signals the whole group, whatever the server spawns.
            self._process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=env["HOME"],
                start_new_session=True,
            )
        return self._process

    def _server_env(self, socket_dir: str) -> dict[str, str]:
        home = self.state_dir / "home"
        home.mkdir(exist_ok=True)
        user = quote(_os_user(), safe="")
        uri = f"postgresql+asyncpg://{user}@/letta?host={quote(socket_dir, safe='/')}&ssl=disable"
        return {
            **os.environ,
            "LETTA_PG_URI": uri,
            # With pooling off the server opens a connection per request and runs out of them.
            "LETTA_DISABLE_SQLALCHEMY_POOLING": "false",
            # A local, single-user server: MCP servers started as local commands are allowed.
            "MCP_DISABLE_STDIO": os.environ.get("MCP_DISABLE_STDIO", "false"),
            "HOME": str(home),
        }

    def _wait_healthy(self, process: subprocess.Popen[bytes], url: str, deadline: float) -> str:
        while time.monotonic() < deadline:
            code = process.poll()
            if code is not None:
                raise DevServerError(
                    f"the Letta server exited during start (exit code {code}); last log lines:",
                    [*_tail(self.logs(), 8), f"See {self.logs()}"],
                )
            version = _health_version(url, timeout=2.0)
            if version is not None:
                return version
            time.sleep(_HEALTH_POLL)
        raise DevServerError(
            f"the Letta server did not answer {url}/v1/health/ in time; see {self.logs()}"
        )

    def _stop_recorded(self) -> tuple[int, ...]:
        record = self._read_record()
        stopped: list[int] = []
        survivors: list[int] = []
        if record is not None and processes.runs(record.server_pid, "letta"):
            stopped.append(record.server_pid)
            survivors += processes.stop_group(record.server_pid, _STOP_TIMEOUT)
        if record is not None and processes.runs(record.embedding_pid, "embedding_service"):
            stopped.append(record.embedding_pid)
            survivors += processes.stop_group(record.embedding_pid, _STOP_TIMEOUT)
        # Also covers a start that failed before the database pid was recorded.
        postgres_pid = _postmaster_pid(self.data_dir) or (record.postgres_pid if record else 0)
        if postgres_pid and processes.runs(postgres_pid, "postgres"):
            stopped.append(postgres_pid)
            # SIGINT is PostgreSQL's "fast" shutdown: end sessions, checkpoint, exit.
            survivors += processes.stop_tree(postgres_pid, signal.SIGINT, _STOP_TIMEOUT)
        if survivors:
            raise DevServerError(f"could not stop dev server processes {survivors}")
        self.state_file.unlink(missing_ok=True)
        return tuple(stopped)

    def _info(self, record: _Record, version: str | None) -> ServerInfo:
        return ServerInfo(
            url=_url(record.port),
            port=record.port,
            server_pid=record.server_pid,
            postgres_pid=record.postgres_pid,
            data_dir=self.data_dir,
            log_path=self.logs(),
            version=version,
            embedding_pid=record.embedding_pid,
            embedding_url=_url(record.embedding_port) if record.embedding_port else "",
        )

    def _read_record(self) -> _Record | None:
        try:
            return _Record.from_json(self.state_file.read_text())
        except FileNotFoundError:
            return None
        except (ValueError, KeyError) as exc:
            raise DevServerError(f"unreadable dev server state {self.state_file}: {exc}") from exc

    def _write_record(self, record: _Record) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(record.to_json())
        tmp.replace(self.state_file)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        # Two `up`s on one state folder would start two servers on one database.
        with (self.state_dir / ".lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _url(port: int) -> str:
    return f"http://{HOST}:{port}"


def _os_user() -> str:
    # The server connects as the OS user whatever the URI says, so that role must exist.
    return getpass.getuser()


def _health_version(url: str, timeout: float) -> str | None:
    """The server version if GET /v1/health/ answers status ok, else None."""
    # No proxies: a proxy from the environment cannot reach our loopback address.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/v1/health/", timeout=timeout) as response:
            body = json.loads(response.read())
    except (OSError, ValueError):
        return None
    if isinstance(body, dict) and body.get("status") == "ok":
        return str(body.get("version", "unknown"))
    return None


def _run_with_deadline(
    command: list[str], env: dict[str, str], log: Any, deadline: float
) -> int | None:
    """Run to completion; None if the deadline passed (the process is then killed)."""
    try:
        return subprocess.run(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            timeout=max(deadline - time.monotonic(), 1.0),
        ).returncode
    except subprocess.TimeoutExpired:
        return None


def _postmaster_pid(pgdata: Path) -> int:
    """The pid PostgreSQL recorded in its data folder, 0 if none."""
    try:
        first = (pgdata / "postmaster.pid").read_text().splitlines()[0]
        return int(first)
    except (OSError, IndexError, ValueError):
        return 0


def _embeddings_run(record: _Record) -> bool:
    """Whether the embedding model runs; a server started by an earlier letta-apply, which
    had none, counts as running without it (restart it to get the model)."""
    if record.embedding_pid == 0 and record.embedding_port == 0:
        return True
    return processes.runs(record.embedding_pid, "embedding_service")


def _describe_dead(record: _Record) -> str:
    gone = []
    if record.server_pid == 0:
        gone.append("an earlier start was interrupted before the Letta server ran")
    elif not processes.runs(record.server_pid, "letta"):
        gone.append(f"the Letta server (pid {record.server_pid}) is gone")
    if not processes.runs(record.postgres_pid, "postgres"):
        gone.append(f"PostgreSQL (pid {record.postgres_pid}) is gone")
    if record.server_pid and not _embeddings_run(record):
        gone.append(f"the embedding model (pid {record.embedding_pid}) is gone")
    return " and ".join(gone)


def _require_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Same option uvicorn sets, so a port in TIME_WAIT counts as free, as it is for it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            raise DevServerError(
                f"port {port} on {HOST} is already in use ({exc.strerror}); "
                "choose another port or leave it out to pick a free one"
            ) from exc


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ["(no log)"]
