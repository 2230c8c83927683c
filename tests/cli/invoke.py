"""Running the command line in the test's own process: the exit code it ends with."""

from __future__ import annotations

from pathlib import Path

import pytest

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "dedicated")
"""A small stack of three dedicated users, valid offline."""


def run(args: list[str]) -> int:
    """`letta-apply ARGS`; its exit code (what it printed is in capsys)."""
    from reconciler.cli import main

    with pytest.raises(SystemExit) as exited:
        main(args)
    return int(exited.value.code or 0)
