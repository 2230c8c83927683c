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


def _action_jobs(workflow: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(job, step) for every step running the action."""
    return [
        (job, step)
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if "/letta-apply@" in step.get("uses", "")
    ]


def _action_steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for _job, step in _action_jobs(workflow)]


def test_one_example_per_command_and_a_fleet() -> None:
    by_file = {
        path.stem: sorted(step["with"]["command"] for step in _action_steps(_workflow(path)))
        for path in WORKFLOWS
    }
    assert by_file == {
        "letta-apply": ["apply"],
        "letta-drift": ["drift"],
        "letta-fleet": ["apply", "plan"],
        "letta-plan": ["plan"],
    }


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_examples_pass_declared_inputs_and_pin_the_action(path: Path) -> None:
    declared = ACTION_SPEC["inputs"]
    required = {name for name, spec in declared.items() if spec.get("required")}
    for step in _action_steps(_workflow(path)):
        given = set(step["with"])
        assert given <= set(declared), given - set(declared)
        assert required <= given
        assert re.fullmatch(r"[\w-]+/letta-apply@[0-9a-f]{40}", step["uses"])


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_permissions_follow_each_job(path: Path) -> None:
    """A job's own permissions, else the workflow's: exactly what its command needs."""
    workflow = _workflow(path)
    assert "pull_request_target" not in workflow["on"]  # never with secrets on others' code
    needs = {
        "plan": {"contents": "read", "pull-requests": "write"},
        "apply": {"contents": "read", "pull-requests": "read"},
        "drift": {"contents": "read", "issues": "write"},
    }
    for job, step in _action_jobs(workflow):
        command = step["with"]["command"]
        assert job.get("permissions", workflow.get("permissions")) == needs[command]
        if command == "apply":
            concurrency = job.get("concurrency", workflow.get("concurrency"))
            assert concurrency["cancel-in-progress"] is False
            assert job.get("environment")


def test_a_workflow_planning_on_other_events_gates_each_job() -> None:
    """The fleet workflow runs on pull requests and on pushes: each job on its own event."""
    workflow = _workflow(EXAMPLES / "github-workflows" / "letta-fleet.yml")
    assert set(workflow["on"]) == {"pull_request", "push"}
    for job, step in _action_jobs(workflow):
        event = "pull_request" if step["with"]["command"] == "plan" else "push"
        assert job["if"] == f"github.event_name == '{event}'"
        assert step["with"]["path"] == "${{ matrix.stack }}"


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
