"""The action's declaration and the example workflows agree: every input an example passes
is declared, every output the action publishes is one the step writes, and each workflow
has the trigger and permissions its job needs (and no more)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.gitops.flows import Outcome
from tests.actionrunner import ACTION
from tests.examples import EXAMPLES

WORKFLOWS = sorted((EXAMPLES / "github-workflows").glob("*.yml"))
ACTION_SPEC: dict[str, Any] = yaml.safe_load(ACTION.read_text(encoding="utf-8"))


def _workflow(path: Path) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as True.
    data: dict[Any, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["on"] = data.pop(True)
    return data


def _action_steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        step
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if "/letta-apply@" in step.get("uses", "")
    ]


def test_one_example_per_command() -> None:
    commands = sorted(
        step["with"]["command"] for path in WORKFLOWS for step in _action_steps(_workflow(path))
    )
    assert commands == ["apply", "drift", "plan"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_examples_pass_declared_inputs_and_pin_the_action(path: Path) -> None:
    declared = ACTION_SPEC["inputs"]
    required = {name for name, spec in declared.items() if spec.get("required")}
    for step in _action_steps(_workflow(path)):
        given = set(step["with"])
        assert given <= set(declared), given - set(declared)
        assert required <= given
        assert re.fullmatch(r"[\w-]+/letta-apply@[0-9a-f]{40}", step["uses"])


def test_permissions_follow_each_job() -> None:
    by_command = {
        step["with"]["command"]: workflow
        for path in WORKFLOWS
        for workflow in [_workflow(path)]
        for step in _action_steps(workflow)
    }
    plan, apply, drift = by_command["plan"], by_command["apply"], by_command["drift"]
    assert set(plan["on"]) == {"pull_request"}  # never pull_request_target with secrets
    assert plan["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert apply["permissions"] == {"contents": "read", "pull-requests": "read"}
    assert apply["concurrency"]["cancel-in-progress"] is False
    assert all(job.get("environment") for job in apply["jobs"].values())
    assert drift["permissions"] == {"contents": "read", "issues": "write"}


def test_the_action_publishes_what_the_step_writes(tmp_path: Path) -> None:
    written = set(Outcome(0, 0, "", "").outputs(("name", tmp_path)))
    for name, spec in ACTION_SPEC["outputs"].items():
        found = re.fullmatch(r"\$\{\{ steps\.run\.outputs\.(\w+) \}\}", spec["value"])
        assert found and found.group(1) == name and name in written
    upload = ACTION_SPEC["runs"]["steps"][-1]
    assert "steps.run.outputs.artifact_dir" in upload["if"]
    assert {"artifact_name", "artifact_dir"} <= written


def test_every_run_step_names_its_shell_and_takes_inputs_through_env() -> None:
    for step in ACTION_SPEC["runs"]["steps"]:
        if "run" in step:
            assert step["shell"] == "bash"
            assert "${{" not in step["run"]  # expressions only in `env`, never in the script
