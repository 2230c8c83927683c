"""The Letta server's own virtualenv, built once per pin set in the user's cache folder.

The server pins an older letta-client than this project, so it cannot share our environment.
It lives in `<cache>/letta-apply/server-<key>/venv`, where the key hashes the pin files, so
changing a pin builds a new one. Only a marker written after a verified install makes a venv
count as ready: an interrupted or failed install is rebuilt, never trusted.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import DevServerError

Progress = Callable[[str], None]

REQUIREMENTS = "requirements.txt"
CONSTRAINTS = "constraints-letta-0.16.8.txt"
MARKER = "installed.json"
LETTA_VERSION = "0.16.8"

# Imports the server, its database bootstrap and its embedding model need; a venv that
# cannot import them is broken.
_VERIFY = "import asyncpg, letta, pgserver, pgvector, wordllama; from letta.orm import Base"


def cache_root() -> Path:
    """`$XDG_CACHE_HOME/letta-apply`, by default `~/.cache/letta-apply`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "letta-apply"


def pins_key(requirements: bytes, constraints: bytes) -> str:
    """The cache key of a pin set: first 16 hex digits of sha256(requirements + constraints)."""
    return hashlib.sha256(requirements + constraints).hexdigest()[:16]


def ignore_progress(_: str) -> None:
    """Progress sink that drops messages."""


@dataclass(frozen=True)
class ServerVenv:
    """Where the server's virtualenv lives and how to build it from the packaged pin files."""

    root: Path
    requirements: Path
    constraints: Path
    base_python: str = sys.executable

    @classmethod
    def default(cls, cache: Path | None = None) -> ServerVenv:
        """The venv for the pin files shipped with this package, under `cache` (or the default)."""
        here = Path(__file__).resolve().parent
        requirements, constraints = here / REQUIREMENTS, here / CONSTRAINTS
        key = pins_key(requirements.read_bytes(), constraints.read_bytes())
        return cls(
            root=(cache or cache_root()) / f"server-{key}",
            requirements=requirements,
            constraints=constraints,
        )

    @property
    def venv_dir(self) -> Path:
        return self.root / "venv"

    @property
    def python(self) -> Path:
        return self.venv_dir / "bin" / "python"

    @property
    def letta(self) -> Path:
        return self.venv_dir / "bin" / "letta"

    @property
    def marker(self) -> Path:
        return self.root / MARKER

    @property
    def log_path(self) -> Path:
        return self.root / "install.log"

    def is_ready(self) -> bool:
        """True if a verified install is recorded and its executables are still there."""
        return self.marker.is_file() and self.python.exists() and self.letta.exists()

    def ensure(self, progress: Progress = ignore_progress) -> None:
        """Build the venv unless a verified one exists; safe to call from several processes."""
        if self.is_ready():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock():
            if not self.is_ready():  # another process may have finished it while we waited
                self._install(progress)

    def verify_and_mark(self) -> None:
        """Check that the server imports, then record the venv as ready."""
        # Importing letta writes ~/.letta: keep that out of the user's home.
        scratch = self.root / "verify-home"
        scratch.mkdir(exist_ok=True)
        env = {**os.environ, "HOME": str(scratch)}
        self._run("verifying the installation", [str(self.python), "-c", _VERIFY], env)
        record = {"letta": LETTA_VERSION, "key": self.root.name, "installed_at": time.time()}
        tmp = self.marker.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(self.marker)

    def _install(self, progress: Progress) -> None:
        self.marker.unlink(missing_ok=True)
        if self.venv_dir.exists():
            shutil.rmtree(self.venv_dir)  # a venv without marker is an interrupted install
        self.log_path.write_text("")
        started = time.monotonic()
        progress(f"Installing the Letta {LETTA_VERSION} server into {self.venv_dir}")
        progress("  first time only: 2-4 min, ~1 GB; log: " + str(self.log_path))
        pip = [str(self.python), "-m", "pip"]
        steps: list[tuple[str, list[str]]] = [
            ("creating the virtualenv", [self.base_python, "-m", "venv", str(self.venv_dir)]),
            # Older pips (23.x) crash while resolving this dependency set.
            ("upgrading pip", [*pip, "install", "-U", "pip"]),
            (
                "installing letta and its pinned dependencies",
                [*pip, "install", "-r", str(self.requirements), "-c", str(self.constraints)],
            ),
        ]
        for number, (name, command) in enumerate(steps, start=1):
            progress(f"  [{number}/{len(steps) + 1}] {name} ...")
            self._run(name, command)
        progress(f"  [{len(steps) + 1}/{len(steps) + 1}] verifying the installation ...")
        self.verify_and_mark()
        progress(f"  done in {time.monotonic() - started:.0f} s")

    def _run(self, step: str, command: list[str], env: dict[str, str] | None = None) -> None:
        with self.log_path.open("a") as log:
            log.write(f"\n$ {' '.join(command)}\n")
            log.flush()
            try:
                code = subprocess.call(
                    command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
                )
            except OSError as exc:
                raise DevServerError(
                    f"installing the Letta server failed while {step}: {exc}; see {self.log_path}"
                ) from exc
        if code != 0:
            raise DevServerError(
                f"installing the Letta server failed while {step} (exit code {code}); "
                f"see {self.log_path}"
            )

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        with (self.root.parent / f"{self.root.name}.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
