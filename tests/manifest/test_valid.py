"""The valid corpus: each folder under valid/ expands to its `expected-desired.json`.

`UPDATE_GOLDEN=1 pytest tests/manifest/test_valid.py` rewrites the expected files; review
the diff before committing. Without it a missing or different file fails the test.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from reconciler.address import Address
from reconciler.desired import DesiredState
from reconciler.manifest import load_desired

CORPUS = Path(__file__).parent / "valid"
CASES = sorted(path.name for path in CORPUS.iterdir() if path.is_dir())
GOLDEN = "expected-desired.json"


def as_json(state: DesiredState) -> Any:
    """The state as JSON values (enums as their strings, addresses as text, tuples as lists)."""
    return json.loads(json.dumps(_plain(state)))


def _plain(value: Any) -> Any:
    if isinstance(value, Address):
        return str(value)
    if isinstance(value, bytes):
        return f"{len(value)} bytes"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


@pytest.mark.parametrize("case", CASES)
def test_valid_case(case: str) -> None:
    folder = CORPUS / case
    actual = as_json(load_desired([folder]))
    golden = folder / GOLDEN
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n")
    assert golden.exists(), f"no {GOLDEN} in {case}; run with UPDATE_GOLDEN=1 and review it"
    assert actual == json.loads(golden.read_text())


@pytest.mark.parametrize("case", CASES)
def test_expansion_is_deterministic(case: str) -> None:
    folder = CORPUS / case
    assert load_desired([folder]) == load_desired([folder])


def test_every_tuple_is_sorted_by_address() -> None:
    for case in CASES:
        state = load_desired([CORPUS / case])
        for group in (state.agents, state.blocks, state.conversations, state.identities):
            addresses = [item.address for item in group]
            assert addresses == sorted(addresses), case
