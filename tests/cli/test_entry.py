"""The command line's entry point: `letta-apply PATHS` means run, options may come first,
and errors become one line and an exit code."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.cli import exit_code as cli_exit_code
from reconciler.cli import main
from reconciler.errors import (
    ApplyFailed,
    Declined,
    LettaApplyError,
    ManifestError,
    NotConverged,
    ServerError,
)
from reconciler.exitcodes import ExitCode

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "dedicated")
CLOSED = "http://127.0.0.1:9"  # nothing listens on the discard port


def exit_code(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(args)
    return int(exited.value.code or 0)


def test_group_options_then_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_code(["--debug", "validate", EXAMPLE]) == 0
    assert capsys.readouterr().out.startswith("OK: example-dedicated")


@pytest.mark.parametrize(
    "args",
    [[EXAMPLE, "--base-url", CLOSED], ["--prune", "--base-url", CLOSED, EXAMPLE]],
    ids=["paths-first", "run-options-first"],
)
def test_paths_without_a_command_plan_and_apply(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert exit_code(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: cannot reach the Letta server")
    assert "Traceback" not in err


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_code(["plan", "--no-such-option", EXAMPLE]) == 1
    assert "No such option" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["unlock", "adopt"])
def test_commands_without_parallel_requests_take_no_parallelism(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert exit_code([command, "--parallelism", "2", EXAMPLE]) == ExitCode.ERROR
    assert "No such option '--parallelism'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ApplyFailed([ServerError("agent/user:alice", "boom", 500)], applied=1), 3),
        (NotConverged("blocked"), 3),
        (Declined("no"), 1),
        (ManifestError([]), 1),
        (LettaApplyError("other"), 1),
    ],
)
def test_errors_map_to_exit_codes(error: LettaApplyError, code: int) -> None:
    assert cli_exit_code(error) == code


def test_the_readme_lists_every_exit_code() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme.split("| code | meaning |", 1)[1].split("\n\n", 1)[0]
    listed = [int(row.split("|")[1]) for row in table.splitlines() if row[:3].strip("| ").isdigit()]
    assert listed == sorted(code.value for code in ExitCode)
