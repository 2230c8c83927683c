"""Golden-file comparison: exact text, refreshed only when UPDATE_GOLDEN=1 is set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "golden"


def assert_golden(actual: str, name: str) -> None:
    """Compare with tests/golden/<name>; with UPDATE_GOLDEN=1, rewrite it instead.

    Files hold the rendered text plus one final newline, so editors leave them alone.
    """
    path = GOLDEN_DIR / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual + "\n", encoding="utf-8", newline="")
        return
    if not path.exists():
        pytest.fail(f"{path.name} is missing; run with UPDATE_GOLDEN=1 and review the new file")
    expected = path.read_text(encoding="utf-8")
    assert actual + "\n" == expected, f"{path.name} differs; if intended: UPDATE_GOLDEN=1"
