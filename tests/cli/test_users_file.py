"""`--users @FILE` reads its file like every file of the stack: inside the root, a regular
file; a refusal is one line that never quotes the file, and nothing is sent."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from reconciler.cli import main
from tests.cli.recorder import Recorder

MANIFEST = """\
apiVersion: letta-apply/v1
stack: acme
defaults: {model: letta/letta-free, embedding: letta/letta-free}
agents:
  desk: {}
users:
  - {id: alice, pattern: shared, agent: desk}
"""

SENTINEL = "sentinel-7d1c0b5e-value"


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    folder = tmp_path / "stack"
    folder.mkdir()
    (folder / "stack.yaml").write_text(MANIFEST, encoding="utf-8")
    return folder


def plan(stack: Path, recorder: Recorder, users: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        main(["plan", str(stack), "--base-url", recorder.url, "--users", users])
    assert exited.value.code == 1
    assert recorder.requests == []
    output = capsys.readouterr()
    return output.out + output.err


def test_a_link_to_the_process_environment_is_refused_unread(
    stack: Path,
    recorder: Recorder,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SOME_SECRET", SENTINEL)
    (stack / "ids.txt").symlink_to("/proc/self/environ")
    shown = plan(stack, recorder, f"@{stack / 'ids.txt'}", capsys)
    assert "outside the stack's root" in shown and SENTINEL not in shown
    assert len(shown.strip().splitlines()) == 1


def test_a_file_outside_the_root_is_refused(
    stack: Path, recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = stack.parent / "ids.txt"
    outside.write_text(f"alice\n{SENTINEL}\n")
    shown = plan(stack, recorder, f"@{outside}", capsys)
    assert "outside the stack's root" in shown and SENTINEL not in shown


def test_a_named_pipe_is_refused_without_waiting(
    stack: Path, recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = stack / "ids.fifo"
    os.mkfifo(fifo)
    shown: list[str] = []
    reading = threading.Thread(
        target=lambda: shown.append(plan(stack, recorder, f"@{fifo}", capsys)), daemon=True
    )
    reading.start()
    reading.join(timeout=30)  # a read waiting for a writer would never end
    assert not reading.is_alive()
    assert "not a regular file (a named pipe)" in shown[0]


def test_ids_not_declared_are_named_by_their_line_not_their_text(
    stack: Path, recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = stack / "ids.txt"
    ids.write_text(f"alice\n# a comment\n{SENTINEL}\n")
    shown = plan(stack, recorder, f"@{ids}", capsys)
    assert f"not declared in stack acme: user(s) {ids.as_posix()}:3" in shown
    assert SENTINEL not in shown


def test_declared_ids_in_a_file_inside_the_root_are_planned(
    stack: Path, recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    (stack / "ids.txt").write_text("alice  # the first\n")
    with pytest.raises(SystemExit):
        main(["plan", str(stack), "--base-url", recorder.url, "--users", f"@{stack / 'ids.txt'}"])
    assert recorder.requests  # past the file, on to the server (which refuses)
