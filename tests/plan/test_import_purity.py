"""The planner and the renderers are pure: importing them loads no network code."""

from __future__ import annotations

import json
import subprocess
import sys

NETWORK_MODULES = ("letta_client", "httpx")
PURE_MODULES = (
    "reconciler.plan",
    "reconciler.planner",
    "reconciler.plan.serialize",
    "reconciler.render",
    "reconciler.live",
    "reconciler.kinds",
    "reconciler.manifest",
    "reconciler.inactive",
)


def test_planner_and_renderers_import_no_network_code() -> None:
    script = (
        "import importlib, json, sys\n"
        f"for name in {PURE_MODULES!r}: importlib.import_module(name)\n"
        f"print(json.dumps([m for m in {NETWORK_MODULES!r} if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == []


def test_the_check_sees_network_code_when_it_is_imported() -> None:
    script = (
        "import json, sys\nimport reconciler.kinds.read\n"
        f"print(json.dumps([m for m in {NETWORK_MODULES!r} if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == ["httpx"]  # the transport; the SDK is never imported
