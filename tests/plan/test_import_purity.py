"""The planner and the renderers are pure (importing them loads no network code), and reading
manifests loads neither the kinds' server code nor the planner."""

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


LOADING_MODULES = ("reconciler.manifest", "reconciler.manifest.expand", "reconciler.cli.validate")
NOT_FOR_LOADING = (
    "reconciler.kinds.registry",
    "reconciler.kinds.agent",
    "reconciler.kinds.block",
    "reconciler.kinds.folder",
    "reconciler.kinds.archive",
    "reconciler.live.state",
    "reconciler.plan.model",
    "reconciler.planner",
    "concurrent.futures",
    *NETWORK_MODULES,
)


def _loaded_by(modules: tuple[str, ...], watched: tuple[str, ...]) -> list[str]:
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(json.dumps([m for m in {watched!r} if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def test_planner_and_renderers_import_no_network_code() -> None:
    assert _loaded_by(PURE_MODULES, NETWORK_MODULES) == []


def test_the_check_sees_network_code_when_it_is_imported() -> None:
    # the transport; the SDK is never imported
    assert _loaded_by(("reconciler.kinds.read",), NETWORK_MODULES) == ["httpx"]


def test_reading_manifests_loads_no_kind_reading_planning_or_network_code() -> None:
    """`validate` starts as quickly as the manifests can be read: the kinds' server code, the
    live state and the planner are loaded only by the commands that read the server."""
    assert _loaded_by(LOADING_MODULES, NOT_FOR_LOADING) == []


def test_the_loading_check_sees_a_kind_when_it_is_imported() -> None:
    loaded = _loaded_by(("reconciler.kinds.registry",), NOT_FOR_LOADING)
    assert {"reconciler.kinds.agent", "reconciler.live.state", "reconciler.plan.model"} <= set(
        loaded
    )
