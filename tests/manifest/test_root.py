"""The stack's root: every file a manifest names, and every manifest found, must resolve
inside it (symlinks followed) and be a regular file; `--root` widens it explicitly.

Symlinks, named pipes and folders outside the stack are made here, in a temporary folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.manifest.files import Unreadable, read_file
from tests.manifest.cli import run_validate

HEAD = """\
apiVersion: letta-apply/v1
stack: demo
defaults: {model: letta/letta-free, embedding: letta/letta-free}
"""
SECRET = "SECRET-7f3a9c"


def support(block: str = "", users_from: str = "") -> str:
    """A manifest with a shared agent, its `knowledge` block and a users file, as given."""
    text = HEAD + "agents:\n  support:\n    blocks:\n      persona: {value: I am support.}\n"
    if block:
        text += f"      knowledge: {{valueFrom: {block}}}\n"
    if users_from:
        text += f"usersFrom: {users_from}\n"
    return text


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`tmp_path/stack` (the stack's folder) and `tmp_path/outside` (a secret beside it);
    the current folder is `tmp_path`."""
    (tmp_path / "stack").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text(f"{SECRET}\n")
    (outside / "users.csv").write_text(f"{SECRET},pattern\nbob,shared\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def validate(
    place: Path, manifest: str, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    (place / "stack" / "manifest.yaml").write_text(manifest)
    return run_validate([*args, "stack"], capsys)


def refused(code: int, output: str) -> str:
    assert code == 1, output
    assert "Traceback" not in output
    assert SECRET not in output
    return output


def test_a_symlink_out_of_the_root_is_refused(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (place / "stack" / "kb.md").symlink_to(place / "outside" / "secret.md")
    output = refused(*validate(place, support(block="kb.md"), capsys))
    root = (place / "stack").resolve().as_posix()
    assert f"manifest.yaml:8:30: valueFrom: kb.md is outside the stack's root {root}" in output


def test_a_symlinked_parent_folder_out_of_the_root_is_refused(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (place / "stack" / "docs").symlink_to(place / "outside", target_is_directory=True)
    output = refused(*validate(place, support(block="docs/secret.md"), capsys))
    assert "valueFrom: docs/secret.md is outside the stack's root" in output


def test_a_users_file_symlinked_out_is_refused_without_quoting_it(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (place / "stack" / "users.csv").symlink_to(place / "outside" / "users.csv")
    output = refused(*validate(place, support(users_from="users.csv"), capsys))
    assert "manifest.yaml:8:12: usersFrom: users.csv is outside the stack's root" in output


@pytest.mark.parametrize("named", [".git/config", "kb.md"])
def test_nothing_is_read_from_the_repositorys_git_folder(
    place: Path, capsys: pytest.CaptureFixture[str], named: str
) -> None:
    """A checkout keeps its token in `.git/config`: no manifest reads it, linked or not."""
    (place / "stack" / ".git").mkdir()
    (place / "stack" / ".git" / "config").write_text(f"extraheader = basic {SECRET}\n")
    (place / "stack" / "kb.md").symlink_to(Path(".git") / "config")
    output = refused(*validate(place, support(block=named), capsys))
    assert f"valueFrom: {named} is outside the stack's root" in output


def test_a_symlink_inside_the_root_is_followed(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (place / "stack" / "docs").mkdir()
    (place / "stack" / "docs" / "kb.md").write_text("Facts.\n")
    (place / "stack" / "kb.md").symlink_to(Path("docs") / "kb.md")
    code, output = validate(place, support(block="kb.md"), capsys)
    assert code == 0, output


def test_root_widens_what_may_be_read(place: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = support(block="../outside/secret.md")
    refused(*validate(place, manifest, capsys))
    code, output = validate(place, manifest, capsys, "--root", ".")
    assert code == 0, output


def test_paths_outside_an_explicit_root_are_refused(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = refused(*validate(place, support(), capsys, "--root", "outside"))
    assert "stack: this folder is outside the stack's root" in output


def test_the_root_of_several_paths_is_their_common_folder(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (place / "stack" / "manifest.yaml").write_text(support(block="../outside/secret.md"))
    code, output = run_validate(["stack/manifest.yaml", "outside"], capsys)
    assert code == 0, output


@pytest.fixture
def fifo(place: Path) -> Path:
    """A named pipe in the stack's folder, with no writer: opening it to read blocks unless
    done without waiting, so it is read by a separate process with a deadline."""
    path = place / "stack" / "pipe.md"
    os.mkfifo(path)
    return path


def validate_apart(place: Path, *args: str) -> tuple[int, str]:
    """`letta-apply validate ARGS` in its own process, given a minute at most."""
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", *args],
        cwd=place,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stdout + done.stderr


def test_a_named_pipe_is_not_read(place: Path, fifo: Path) -> None:
    (place / "stack" / "manifest.yaml").write_text(support(block=fifo.name))
    output = refused(*validate_apart(place, "stack"))
    assert "valueFrom: pipe.md: not a regular file (a named pipe); refusing to read it" in output


def test_a_device_is_not_read_even_inside_an_explicit_root(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = refused(*validate(place, support(block="/dev/zero"), capsys, "--root", "/"))
    assert "valueFrom: /dev/zero: not a regular file (a character device)" in output


def test_a_manifest_that_is_a_named_pipe_is_refused(place: Path, fifo: Path) -> None:
    fifo.rename(place / "stack" / "pipe.yaml")
    (place / "stack" / "manifest.yaml").write_text(support())
    output = refused(*validate_apart(place, "stack"))
    assert "stack/pipe.yaml: not a regular file (a named pipe); refusing to read it" in output


def test_a_manifest_symlinked_out_of_the_root_is_refused(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (place / "outside" / "other.yaml").write_text(support())
    (place / "stack" / "other.yaml").symlink_to(place / "outside" / "other.yaml")
    output = refused(*validate(place, support(), capsys))
    assert "stack/other.yaml: this manifest is outside the stack's root" in output


def test_a_manifest_given_as_a_symlink_out_of_its_folder_is_refused(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (place / "outside" / "other.yaml").write_text(support())
    (place / "stack" / "link.yaml").symlink_to(place / "outside" / "other.yaml")
    output = refused(*run_validate(["stack/link.yaml"], capsys))
    assert "stack/link.yaml: this manifest is outside the stack's root" in output


def test_a_folder_that_leads_out_of_the_current_folder_needs_root(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The checkout decides where its symlinks lead: `stack` -> `/` must not make `/` the root."""
    (place / "outside" / "manifest.yaml").write_text(support(block="/proc/self/environ"))
    work = place / "work"
    work.mkdir()
    (work / "stack").symlink_to(place / "outside", target_is_directory=True)
    os.chdir(work)
    output = refused(*run_validate(["stack"], capsys))
    assert f"stack: this folder leads to {(place / 'outside').resolve().as_posix()}" in output
    assert "valueFrom" not in output  # nothing was read
    output = refused(*run_validate(["--root", str(place / "outside"), "stack"], capsys))
    assert "valueFrom: /proc/self/environ is outside the stack's root" in output


def test_a_symlink_loop_is_a_problem(place: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (place / "stack" / "a.md").symlink_to("b.md")
    (place / "stack" / "b.md").symlink_to("a.md")
    output = refused(*validate(place, support(block="a.md"), capsys))
    assert "manifest.yaml:8:30: valueFrom: a.md: cannot read file: symlink loop" in output


def test_the_size_cap_holds_for_files_that_report_size_zero() -> None:
    environ = Path("/proc/self/environ")
    assert environ.stat().st_size == 0
    with pytest.raises(Unreadable, match="file is over the 8 bytes limit"):
        read_file(environ, 8)


def test_a_regular_file_within_the_cap_is_read(tmp_path: Path) -> None:
    path = tmp_path / "eight.md"
    path.write_bytes(b"12345678")
    assert read_file(path, 8) == b"12345678"
    with pytest.raises(Unreadable, match=r"file is 0\.0 MiB, over the 7 bytes limit"):
        read_file(path, 7)
