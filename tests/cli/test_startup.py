"""Start-up fit for pre-commit and CI: `--help` and `validate` import no network code, and
a command that connects imports httpx but not the Letta SDK (whose typed models it never uses).

Each command runs in a fresh interpreter that writes the names of every module it loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.recorder import Recorder

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "mixed")
NETWORK = ("letta_client", "httpx", "httpcore")
TRANSPORT = {"httpx", "httpcore"}

PROBE = """
import atexit, json, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
from reconciler.cli import main
main(sys.argv[1:])
"""


def loaded(tmp_path: Path, *args: str) -> tuple[int, set[str]]:
    """Run `letta-apply ARGS`; its exit code and the top-level packages it imported."""
    code, modules = loaded_modules(tmp_path, *args)
    return code, {name.partition(".")[0] for name in modules}


def loaded_modules(tmp_path: Path, *args: str) -> tuple[int, set[str]]:
    """Run `letta-apply ARGS`; its exit code and every module it imported."""
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), *args], capture_output=True, timeout=120
    )
    return done.returncode, set(json.loads(out.read_text()))


@pytest.mark.parametrize(
    "args",
    [["--help"], ["validate", EXAMPLE], ["plan", "--help"]],
    ids=["help", "validate", "plan-help"],
)
def test_offline_commands_import_no_network_code(tmp_path: Path, args: list[str]) -> None:
    code, packages = loaded(tmp_path, *args)
    assert code == 0
    assert not packages & set(NETWORK)


def test_help_imports_no_manifest_validation(tmp_path: Path) -> None:
    code, packages = loaded(tmp_path, "--help")
    assert code == 0
    assert "jsonschema" not in packages


def test_valid_manifests_are_checked_without_jsonschema(tmp_path: Path) -> None:
    """The compiled schema check accepts them; jsonschema only explains invalid ones."""
    code, packages = loaded(tmp_path, "validate", EXAMPLE)
    assert code == 0
    assert "jsonschema" not in packages


def test_invalid_manifests_are_explained_by_jsonschema(tmp_path: Path) -> None:
    (tmp_path / "stack.yaml").write_text("apiVersion: letta-apply/v1\nstack: demo\nagentz: {}\n")
    code, packages = loaded(tmp_path, "validate", str(tmp_path))
    assert code == 1
    assert "jsonschema" in packages


def test_a_command_that_connects_imports_httpx_but_not_the_sdk(
    tmp_path: Path, recorder: Recorder
) -> None:
    """The probe sees the transport when it is loaded: the tests above can fail."""
    code, packages = loaded(tmp_path, "plan", "--base-url", recorder.url, EXAMPLE)
    assert code == 1 and recorder.requests
    assert packages >= TRANSPORT
    assert "letta_client" not in packages
    assert "pydantic" not in packages


def test_a_plan_imports_no_apply_code(tmp_path: Path, recorder: Recorder) -> None:
    code, modules = loaded_modules(tmp_path, "plan", "--base-url", recorder.url, EXAMPLE)
    assert code == 1 and recorder.requests
    assert "reconciler.planning" in modules
    assert not {m for m in modules if m.startswith("reconciler.apply")}
    assert "reconciler.workflow" not in modules
