"""The pre-commit hook runs `letta-apply validate` on the stack named in its args."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_the_hook_validates_a_stack_offline() -> None:
    [hook] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "letta-apply-validate" and hook["pass_filenames"] is False
    program, *args = shlex.split(hook["entry"])
    assert program == "letta-apply"
    ok = subprocess.run(
        [sys.executable, "-m", "reconciler", *args, str(ROOT / "examples" / "dedicated")],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "LETTA_BASE_URL": "http://127.0.0.1:9"},
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("OK: example-dedicated")
