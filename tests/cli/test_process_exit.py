"""The `letta-apply` process (`reconciler.cli.run`) ends as soon as its output is flushed:
everything it printed arrives whole, its exit code is the command's, and a reader that went
away (`| true`) costs no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "mixed")


def letta_apply(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args], capture_output=True, text=True, timeout=120
    )


def test_the_output_arrives_whole_with_the_exit_code() -> None:
    done = letta_apply("--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].split()[0] == "validate"  # the last line, flushed
    done = letta_apply("validate", EXAMPLE)
    assert done.returncode == 0 and done.stdout.endswith("\n"), done.stderr


def test_an_error_is_said_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "stack.yaml").write_text("apiVersion: letta-apply/v1\nstack: [\n")
    done = letta_apply("validate", str(tmp_path))
    assert done.returncode == 1
    assert done.stderr.startswith("Error: ") and str(tmp_path / "stack.yaml") in done.stderr
    assert "Traceback" not in done.stderr


def test_a_reader_that_went_away_costs_no_traceback() -> None:
    command = [sys.executable, "-m", "reconciler", "--help"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # `| true`: what the command prints cannot be written
        error = process.stderr.read()
        process.wait(timeout=120)
    assert error == b""
