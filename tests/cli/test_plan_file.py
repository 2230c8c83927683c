"""Saved plan files: `--out` refused before any request when it cannot be written, written
whole and readable by its owner only; anything that is not a saved plan is one error line."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.errors import LettaApplyError
from reconciler.planfile import read_plan, save_plan
from tests.cli.answering import Answer, Answering, answering, letta_like
from tests.cli.recorder import Recorder

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "dedicated")


def run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(args)
    return int(exited.value.code or 0)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def empty_server() -> Iterator[Answering]:
    """Answers the pre-flight and every listing as an empty Letta server does."""

    def route(method: str, path: str) -> Answer:
        return letta_like(method, path) or Answer.json({"detail": "read only"}, status=400)

    with answering(route) as server:
        yield server


@pytest.mark.parametrize(
    ("out", "says"),
    [("missing/plan.json", "the folder"), ("folder", "is a folder")],
    ids=["missing-folder", "a-folder"],
)
def test_an_out_that_cannot_be_written_is_refused_before_any_request(
    out: str,
    says: str,
    tmp_path: Path,
    recorder: Recorder,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "folder").mkdir()
    target = tmp_path / out
    assert run(["plan", EXAMPLE, "--base-url", recorder.url, "--out", str(target)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # no plan shown as if it had been saved
    assert "Error: Invalid value for '--out'" in captured.err and says in captured.err
    assert recorder.requests == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]


def test_a_saved_plan_is_readable_by_its_owner_only(
    tmp_path: Path, empty_server: Answering, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plan.json"
    assert run(["plan", EXAMPLE, "--base-url", empty_server.url, "--out", str(out)]) == 0
    assert mode(out) == 0o600
    assert json.loads(out.read_text(encoding="utf-8"))["stack"] == "example-dedicated"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]  # no temporary file left
    assert "Saved the plan to" in capsys.readouterr().err


def test_saving_replaces_a_file_or_link_instead_of_writing_through_it(tmp_path: Path) -> None:
    shared = tmp_path / "shared.txt"
    shared.write_text("someone else's", encoding="utf-8")
    shared.chmod(0o644)
    link = tmp_path / "link.json"
    link.symlink_to(shared)
    older = tmp_path / "older.json"
    older.write_text("old plan", encoding="utf-8")
    older.chmod(0o644)

    save_plan(link, "new plan\n")
    save_plan(older, "new plan\n")

    assert shared.read_text(encoding="utf-8") == "someone else's"
    for path in (link, older):
        assert not path.is_symlink()
        assert path.read_text(encoding="utf-8") == "new plan\n"
        assert mode(path) == 0o600


def test_a_failed_save_leaves_nothing_behind(tmp_path: Path) -> None:
    (tmp_path / "plan.json").mkdir()  # a folder in the way: the rename fails
    with pytest.raises(LettaApplyError, match="cannot save the plan"):
        save_plan(tmp_path / "plan.json", "plan\n")
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"<html></html>", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
        (b'{"format_version": ' + b"9" * 5000 + b"}", "not a saved plan"),
        (b"\xff\xfe not utf-8", "not UTF-8"),
        (b'{"format_version": 4}', "malformed saved plan"),
    ],
    ids=["not-json", "deep", "huge-number", "not-utf8", "incomplete"],
)
def test_what_is_not_a_saved_plan_is_one_line(
    content: bytes, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "plan.json"
    path.write_bytes(content)
    assert run(["apply", str(path), "--base-url", "http://127.0.0.1:9"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"Error: {path}: ") and says in lines[0]


def test_a_plan_file_that_cannot_be_read_is_one_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "plan.json"
    path.write_text("{}", encoding="utf-8")

    def refuse(*_args: object, **_kwargs: object) -> str:
        raise PermissionError(13, os.strerror(13))

    monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(LettaApplyError, match="cannot read the saved plan"):
        read_plan(path)


def test_a_plan_file_must_be_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "plan.json"
    os.mkfifo(fifo)  # reading it would wait forever
    with pytest.raises(LettaApplyError, match="not a regular file"):
        read_plan(fifo)
