"""The operator's key: LETTA_APPLY_KEY, else the API key, else (outside CI) a key made once in
the user's config folder, readable by its owner only; none in CI without either."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from reconciler.errors import LettaApplyError
from reconciler.keys import KEY_VARIABLE, OperatorKey


def test_the_dedicated_variable_wins_then_the_api_key(tmp_path: Path) -> None:
    environ = {"XDG_CONFIG_HOME": str(tmp_path)}
    assert OperatorKey("api-key", environ).get() == b"api-key"
    assert OperatorKey("api-key", {**environ, KEY_VARIABLE: "chosen"}).get() == b"chosen"
    assert not (tmp_path / "letta-apply").exists()


def test_without_a_key_one_is_made_once_in_the_config_folder(tmp_path: Path) -> None:
    environ = {"XDG_CONFIG_HOME": str(tmp_path)}
    first = OperatorKey(None, environ).get()
    again = OperatorKey(None, environ).get()
    path = tmp_path / "letta-apply" / "key"
    assert first is not None and first == again and len(first) >= 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"letta-apply" not in first  # not a constant of the source


def test_in_ci_without_a_key_there_is_none(tmp_path: Path) -> None:
    environ = {"XDG_CONFIG_HOME": str(tmp_path), "CI": "true"}
    key = OperatorKey(None, environ)
    assert key.get() is None and key.derived("x") is None
    with pytest.raises(LettaApplyError, match=f"set {KEY_VARIABLE}"):
        key.require()
    assert not (tmp_path / "letta-apply").exists()


def test_a_key_file_that_is_a_link_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "letta-apply"
    folder.mkdir()
    (tmp_path / "elsewhere").write_text("k" * 64)
    (folder / "key").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(LettaApplyError, match="not a regular file"):
        OperatorKey(None, {"XDG_CONFIG_HOME": str(tmp_path)}).get()


def test_derived_keys_differ_by_purpose() -> None:
    key = OperatorKey("api-key", {})
    assert key.derived("digests") != key.derived("signatures")
    assert key.derived("digests") != b"api-key"
