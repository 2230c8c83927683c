"""`letta-apply export` option values that cannot work are refused before any request, and a
folder with files in it is refused before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.cli import main
from tests.cli.recorder import Recorder


def run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(args)
    return int(exited.value.code or 0)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--stack", "acme", "--tag", "app:x"], "drop --tag"),
        (["--name", "Not A Stack"], "Invalid value for '--name'"),
        (["--stack", "../up"], "Invalid value for '--stack'"),
        (["--stack", "acme\n"], "Invalid value for '--stack'"),
        (["--users-file", "sometimes"], "Invalid value for '--users-file'"),
    ],
)
def test_options_that_cannot_work_are_refused_before_any_request(
    tmp_path: Path,
    extra: list[str],
    message: str,
    recorder: Recorder,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["export", "--out", str(tmp_path / "out"), "--base-url", recorder.url, *extra]
    assert run(args) == 1
    assert message in capsys.readouterr().err
    assert recorder.requests == []
    assert not (tmp_path / "out").exists()


def test_a_folder_with_files_is_refused_before_any_request(
    tmp_path: Path, recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "stack.yaml").write_text("mine")
    assert run(["export", "--out", str(tmp_path), "--base-url", recorder.url]) == 1
    assert "is not empty" in capsys.readouterr().err
    assert recorder.requests == []
    assert (tmp_path / "stack.yaml").read_text() == "mine"


def test_the_help_names_the_commands_that_take_an_export_over(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["export", "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "`letta-apply plan OUT --adopt`" in shown
    assert "`letta-apply OUT --adopt` applies it" in shown
    assert "`apply --adopt`" not in shown
