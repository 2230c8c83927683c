"""The server's virtualenv cache: its key, and that only a verified install counts as ready."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from reconciler.devserver import ServerVenv
from reconciler.devserver.venv import CONSTRAINTS, MARKER, REQUIREMENTS, pins_key
from reconciler.errors import DevServerError

PINS = Path(__file__).resolve().parents[2] / "reconciler" / "devserver"


def _fake_venv(tmp_path: Path, base_python: str = "python3") -> ServerVenv:
    requirements = tmp_path / "requirements.txt"
    constraints = tmp_path / "constraints.txt"
    requirements.write_text("letta==0.16.8\n")
    constraints.write_text("")
    return ServerVenv(tmp_path / "server-test", requirements, constraints, base_python)


def _populate(venv: ServerVenv) -> None:
    """Lay out what an interrupted install can leave: executables but no marker."""
    bin_dir = venv.venv_dir / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "letta"):
        (bin_dir / name).write_text("")


def test_cache_key_hashes_requirements_then_constraints(tmp_path: Path) -> None:
    requirements = (PINS / REQUIREMENTS).read_bytes()
    constraints = (PINS / CONSTRAINTS).read_bytes()
    expected = hashlib.sha256(requirements + constraints).hexdigest()[:16]

    venv = ServerVenv.default(cache=tmp_path)

    assert venv.root == tmp_path / f"server-{expected}"
    assert venv.venv_dir == tmp_path / f"server-{expected}" / "venv"
    assert pins_key(requirements + b"x", constraints) != expected


def test_venv_without_marker_is_not_ready(tmp_path: Path) -> None:
    venv = _fake_venv(tmp_path)
    _populate(venv)

    assert not venv.is_ready()
    (venv.root / MARKER).write_text("{}")
    assert venv.is_ready()


def test_marker_without_executables_is_not_ready(tmp_path: Path) -> None:
    venv = _fake_venv(tmp_path)
    _populate(venv)
    (venv.root / MARKER).write_text("{}")

    (venv.venv_dir / "bin" / "letta").unlink()

    assert not venv.is_ready()


def test_failed_install_names_its_log_and_discards_the_partial_venv(tmp_path: Path) -> None:
    venv = _fake_venv(tmp_path, base_python=str(tmp_path / "no-such-python"))
    _populate(venv)
    progress: list[str] = []

    with pytest.raises(DevServerError, match="creating the virtualenv") as failure:
        venv.ensure(progress.append)

    assert str(venv.log_path) in str(failure.value)
    assert not (venv.venv_dir / "bin" / "letta").exists()
    assert not venv.marker.exists()
    assert not venv.is_ready()
    assert any("Installing the Letta" in line for line in progress)
