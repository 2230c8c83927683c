"""A manifest cannot make `plan` read outside the stack's root: run as CI runs it, with the
API key in the environment, a reference to `/proc/self/environ`, to `../`, or through a symlink
leads to exit code 1 before any connection, and the key is in no output and no saved plan."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

API_KEY = "sk-let-3c1d5e7f9a-do-not-print"
HEAD = """\
apiVersion: letta-apply/v1
stack: confined
defaults: {model: letta/letta-free, embedding: letta/letta-free}
agents:
  support:
    blocks:
      persona: {value: I am support.}
"""


class Listener:
    """A TCP socket on a free local port that records each connection and closes it."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.connections: list[tuple[str, int]] = []
        self._stopper = socket.socket()
        self._stopper.bind(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            connection, peer = self.server.accept()
            connection.close()
            if peer == self._stopper.getsockname():
                return
            self.connections.append(peer)

    def close(self) -> list[tuple[str, int]]:
        """Every connection made before the first call (accepted in the order they came)."""
        if self._thread.is_alive():
            self._stopper.connect(self.server.getsockname())
            self._thread.join()
            self._stopper.close()
            self.server.close()
        return self.connections


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def plan(place: Path, listener: Listener, *args: str) -> subprocess.CompletedProcess[str]:
    """`letta-apply plan ARGS stack` in `place`, with the key and the listener as the server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LETTA_")}
    env |= {"LETTA_API_KEY": API_KEY, "LETTA_BASE_URL": listener.url}
    command = [sys.executable, "-m", "reconciler", "plan", *args, "stack"]
    return subprocess.run(command, cwd=place, env=env, capture_output=True, text=True, timeout=120)


def knowledge(value_from: str) -> str:
    return f"      knowledge: {{valueFrom: {value_from}}}\n"


def proc_environ(place: Path) -> str:
    return knowledge("/proc/self/environ")


def parent_path(place: Path) -> str:
    return knowledge("../outside.md")


def symlink_out(place: Path) -> str:
    (place / "stack" / "kb.md").symlink_to(place / "outside.md")
    return knowledge("kb.md")


def symlink_to_proc(place: Path) -> str:
    (place / "stack" / "kb.md").symlink_to("/proc/self/environ")
    return knowledge("kb.md")


def symlinked_folder_out(place: Path) -> str:
    (place / "elsewhere").mkdir()
    (place / "elsewhere" / "kb.md").write_text(f"LETTA_API_KEY={API_KEY}\n")
    (place / "stack" / "docs").symlink_to(place / "elsewhere", target_is_directory=True)
    return knowledge("docs/kb.md")


def users_from_proc(place: Path) -> str:
    return "usersFrom: {path: /proc/self/environ, format: csv}\n"


REFERENCES: dict[str, Callable[[Path], str]] = {
    f.__name__: f
    for f in (
        proc_environ,
        parent_path,
        symlink_out,
        symlink_to_proc,
        symlinked_folder_out,
        users_from_proc,
    )
}
OUTPUTS = {"markdown": ["--format", "markdown"], "saved": ["--out", "plan.json"]}


def stack(place: Path, make_reference: Callable[[Path], str]) -> None:
    """The stack's folder `place/stack`, a file holding the key beside it, and the manifest
    ending with the lines `make_reference` returns (after preparing what they name)."""
    (place / "stack").mkdir()
    (place / "outside.md").write_text(f"LETTA_API_KEY={API_KEY}\n")
    (place / "stack" / "manifest.yaml").write_text(HEAD + make_reference(place))


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("reference", REFERENCES)
def test_a_reference_out_of_the_root_stops_the_plan_before_any_connection(
    tmp_path: Path, listener: Listener, reference: str, output: str
) -> None:
    stack(tmp_path, REFERENCES[reference])
    done = plan(tmp_path, listener, *OUTPUTS[output])
    assert done.returncode == 1, done.stderr
    assert "is outside the stack's root" in done.stderr
    assert "Traceback" not in done.stderr
    assert API_KEY not in done.stdout + done.stderr
    assert not (tmp_path / "plan.json").exists()
    assert listener.close() == []


def test_the_listener_sees_a_plan_that_does_connect(tmp_path: Path, listener: Listener) -> None:
    """The same run with a block inside the root reaches the listener: the test above can fail."""
    stack(tmp_path, lambda _: "      knowledge: {value: Facts.}\n")
    done = plan(tmp_path, listener, "--format", "markdown")
    assert done.returncode == 1
    assert len(listener.close()) >= 1
