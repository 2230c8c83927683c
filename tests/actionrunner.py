"""Runs `action.yml`'s steps as a GitHub runner does, for tests.

Each `run` step is written to a script and run with `bash --noprofile --norc -eo pipefail`
in its `working-directory`, with the runner's variables (`GITHUB_OUTPUT` a fresh file per
step, `GITHUB_STEP_SUMMARY`, `GITHUB_EVENT_PATH`, `RUNNER_TEMP`, ...) and the step's `env`,
whose `${{ }}` expressions are evaluated from the inputs (defaults applied), `github.*` and
earlier steps' outputs. A `uses` step is not run (it is another action); its `with` values are
evaluated and recorded. An expression or condition this runner does not know fails the test,
so the action cannot come to rely on something untested.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
ACTION = ROOT / "action.yml"
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@dataclass
class ActionRun:
    """What one run of the action left: its exit code, outputs, summary and `uses` steps."""

    code: int
    outputs: dict[str, str]
    steps: dict[str, dict[str, str]]
    summary: str
    log: str
    uses: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Runner:
    """A job's runner: its temporary folder (kept between runs, as within one job) and the
    GitHub API the token belongs to."""

    temp: Path
    api_url: str
    repository: str
    token: str

    def run(
        self,
        inputs: Mapping[str, str],
        *,
        event_name: str,
        event: Mapping[str, Any],
        sha: str,
        workspace: Path,
        env: Mapping[str, str] | None = None,
    ) -> ActionRun:
        action = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
        run_dir = Path(self._fresh("run"))
        run_dir.mkdir()
        event_path = run_dir / "event.json"
        event_path.write_text(json.dumps(event), encoding="utf-8")
        summary = run_dir / "summary.md"
        summary.touch()
        context = {
            "inputs": self._inputs(action, inputs),
            "github": {"action_path": str(ROOT), "token": self.token},
            "steps": {},
        }
        base_env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/root"),
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_EVENT_NAME": event_name,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_SHA": sha,
            "GITHUB_API_URL": self.api_url,
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_RUN_ID": "4242",
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_STEP_SUMMARY": str(summary),
            "RUNNER_TEMP": str(self.temp),
            **(env or {}),
        }
        log: list[str] = []
        uses: list[dict[str, Any]] = []
        failed = 0
        for index, step in enumerate(action["runs"]["steps"]):
            if not _condition(step.get("if"), context, failed=bool(failed)):
                continue
            if "uses" in step:
                with_ = {k: _evaluate(str(v), context) for k, v in step.get("with", {}).items()}
                uses.append({"uses": step["uses"], "with": with_})
                continue
            if failed:
                continue
            code, outputs, text = self._run_step(step, index, context, base_env, workspace)
            log.append(text)
            context["steps"][step.get("id", f"step{index}")] = {"outputs": outputs}
            failed = code
        outputs = {
            name: _evaluate(str(spec["value"]), context)
            for name, spec in action.get("outputs", {}).items()
        }
        steps = {k: v["outputs"] for k, v in context["steps"].items()}
        text = summary.read_text(encoding="utf-8")
        return ActionRun(failed, outputs, steps, text, "\n".join(log), uses)

    def _run_step(
        self,
        step: Mapping[str, Any],
        index: int,
        context: Mapping[str, Any],
        base_env: Mapping[str, str],
        workspace: Path,
    ) -> tuple[int, dict[str, str], str]:
        assert step.get("shell") == "bash", f"step {index} must name its shell"
        output = Path(self._fresh(f"output{index}"))
        output.touch()
        script = output.with_suffix(".sh")
        script.write_text(step["run"], encoding="utf-8")
        step_env = {k: _evaluate(str(v), context) for k, v in step.get("env", {}).items()}
        directory = workspace / _evaluate(str(step.get("working-directory", ".")), context)
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=directory,
            env={**base_env, **step_env, "GITHUB_OUTPUT": str(output)},
            capture_output=True,
            text=True,
            timeout=900,
            stdin=subprocess.DEVNULL,
        )
        text = proc.stdout + proc.stderr
        return proc.returncode, read_outputs(output.read_text(encoding="utf-8")), text

    def _inputs(self, action: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, str]:
        declared = action["inputs"]
        unknown = set(given) - set(declared)
        assert not unknown, f"inputs the action does not declare: {sorted(unknown)}"
        values: dict[str, str] = {}
        for name, spec in declared.items():
            if name in given:
                values[name] = given[name]
            else:
                assert not spec.get("required"), f"required input {name} not given"
                default = str(spec.get("default", ""))
                values[name] = _evaluate(default, {"github": {"token": self.token}})
        return values

    def _fresh(self, stem: str) -> str:
        folder = self.temp.parent / "runner-files"
        folder.mkdir(exist_ok=True)
        count = len(list(folder.iterdir()))
        return str(folder / f"{count:04d}-{stem}")


def read_outputs(text: str) -> dict[str, str]:
    """`name=value` lines and `name<<DELIMITER` blocks, as the runner reads `GITHUB_OUTPUT`."""
    outputs: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            value: list[str] = []
            for inner in lines:
                if inner == delimiter:
                    break
                value.append(inner)
            else:
                raise AssertionError(f"output {name} is not closed by {delimiter}")
            outputs[name] = "\n".join(value)
        elif line:
            name, value_text = line.split("=", 1)
            outputs[name] = value_text
    return outputs


def _evaluate(text: str, context: Mapping[str, Any]) -> str:
    return _EXPRESSION.sub(lambda m: _lookup(m.group(1), context), text)


def _lookup(expression: str, context: Mapping[str, Any]) -> str:
    if not re.fullmatch(r"[a-z_]+(\.[A-Za-z0-9_-]+)+", expression):
        raise AssertionError(f"expression this runner does not evaluate: {expression}")
    value: Any = context
    for part in expression.split("."):
        if not isinstance(value, Mapping) or part not in value:
            if expression.startswith("steps."):
                return ""  # an output a step did not set is empty, as on GitHub
            raise AssertionError(f"unknown expression: {expression}")
        value = value[part]
    return str(value)


def _condition(condition: str | None, context: Mapping[str, Any], *, failed: bool) -> bool:
    """`always()` and `a == 'b'` / `a != ''` terms joined by `&&`; no condition means
    `success()`."""
    if condition is None:
        return not failed
    result = True
    has_status_check = False
    for term in (t.strip() for t in condition.split("&&")):
        if term == "always()":
            has_status_check = True
            continue
        found = re.fullmatch(r"([a-z_.A-Z0-9-]+) (==|!=) '([^']*)'", term)
        if found is None:
            raise AssertionError(f"condition this runner does not evaluate: {term}")
        left = _lookup(found.group(1), context)
        equal = left == found.group(3)
        result = result and (equal if found.group(2) == "==" else not equal)
    return result and (has_status_check or not failed)
