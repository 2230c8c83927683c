"""Running `letta-apply validate` in-process, exactly as the console script does."""

from __future__ import annotations

import pytest

from reconciler.cli import cli, main
from reconciler.cli.validate import validate


def run_validate(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit code and combined output of `letta-apply validate ARGS`."""
    cli.add_command(validate)
    try:
        main(["validate", *args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out + captured.err
