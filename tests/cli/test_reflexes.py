"""What users type out of habit or by mistake gets an answer naming what to run: a mistyped
command, a command of a group, a stack given to `apply`, `--debug` after the command, and the
default command (`run`) shown in help."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.invoke import EXAMPLE, run


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        (["plna", EXAMPLE], "letta-apply plan"),
        (["valdiate", EXAMPLE], "letta-apply validate"),
        (["status"], "letta-apply dev-server status"),
        (["--debug", "ouputs", EXAMPLE], "letta-apply outputs"),
    ],
)
def test_a_mistyped_command_is_answered_with_the_command(
    typed: list[str], meant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(typed) == 1
    err = capsys.readouterr().err
    assert f"did you mean `{meant}`?" in err
    assert "no such file" not in err


def test_a_folder_named_like_a_command_is_a_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "plna").mkdir()
    monkeypatch.chdir(tmp_path)
    assert run(["plna"]) == 1
    err = capsys.readouterr().err
    assert "did you mean" not in err
    assert "plna: no manifest documents found" in err


@pytest.mark.parametrize("given", ["folder", "yaml"])
def test_apply_given_a_stack_says_what_to_run(
    given: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = EXAMPLE if given == "folder" else f"{EXAMPLE}/manifest.yaml"
    assert run(["apply", path]) == 1
    err = capsys.readouterr().err
    assert "is a stack's manifests, not a saved plan" in err
    assert f"run `letta-apply {path}`" in err
    assert f"`letta-apply plan {path} --out plan.json`" in err


def test_help_names_the_default_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"]) == 0
    listed = capsys.readouterr().out
    assert "  run " in listed
    assert "`letta-apply PATHS` is short for `letta-apply run PATHS`" in listed.replace("\n  ", " ")
    assert run([EXAMPLE, "--help"]) == 0
    assert "`letta-apply PATHS` is short for `letta-apply run PATHS`" in capsys.readouterr().out


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_works_before_and_after_the_command(
    where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = ["--base-url", "http://127.0.0.1:9"]
    args = ["--debug", "plan", EXAMPLE, *closed]
    if where == "after":
        args = ["plan", EXAMPLE, *closed, "--debug"]
    assert run(args) == 1
    err = capsys.readouterr().err
    assert "No such option" not in err
    assert "Traceback (most recent call last)" in err


def test_options_before_the_command_are_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    closed = "http://127.0.0.1:9"
    assert run(["--base-url", closed, "outputs", EXAMPLE, "--format", "csv"]) == 1
    err = capsys.readouterr().err
    assert f"connection failed talking to {closed}" in err
    assert "no such file" not in err
