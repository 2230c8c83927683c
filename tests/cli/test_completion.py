"""Shell completion, as the README documents it: the shell asks letta-apply through
`_LETTA_APPLY_COMPLETE` and gets commands and options back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def complete(words: str, shell: str = "bash") -> str:
    """What the shell gets for the last word of `words`."""
    environ = {
        **os.environ,
        "_LETTA_APPLY_COMPLETE": f"{shell}_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - 1),
    }
    code = "from reconciler.cli import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_readme_shows_how_each_shell_enables_it(shell: str) -> None:
    assert f"_LETTA_APPLY_COMPLETE={shell}_source letta-apply" in README.read_text()


def test_commands_and_options_complete() -> None:
    assert "plain,plan" in complete("letta-apply pl").splitlines()
    assert "plain,--format" in complete("letta-apply plan examples --fo").splitlines()
    assert "plain,status" in complete("letta-apply dev-server st").splitlines()
