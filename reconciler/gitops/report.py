"""A step's results for the workflow: outputs (`GITHUB_OUTPUT`) and the job summary
(`GITHUB_STEP_SUMMARY`), appended as the runner expects."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path


def write_outputs(path: Path | None, outputs: Mapping[str, str]) -> None:
    """Append `outputs`; every value in the heredoc form with a random delimiter, so no value
    (a summary quoting a stack's name) can end it early and set another output."""
    if path is None:
        return
    with path.open("a", encoding="utf-8") as file:
        for name, value in outputs.items():
            delimiter = f"EOF_{secrets.token_hex(12)}"
            file.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def write_summary(path: Path | None, markdown: str) -> None:
    if path is None:
        return
    with path.open("a", encoding="utf-8") as file:
        file.write(markdown.rstrip("\n") + "\n")
