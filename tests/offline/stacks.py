"""What the offline tests share: a served in-memory server with a client, stacks written as
manifests, and the public steps run against them (plan, apply, the command line)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconciler.apply.results import ApplyResult
from reconciler.cli import main
from reconciler.client import LettaApi
from reconciler.desired import DesiredState
from reconciler.manifest import load_desired
from reconciler.plan.model import Plan
from reconciler.planning import make_plan
from reconciler.workflow import ApplyOptions, Hooks, plan_and_apply
from tests.letta_memory import MemoryLetta

HEADER = """\
apiVersion: letta-apply/v1
stack: {stack}
defaults: {{model: letta/letta-free, embedding: letta/letta-free}}
"""


def stack(tmp_path: Path, body: str, *, name: str = "acme", folder: str = "stack") -> Path:
    """A folder holding one manifest of stack `name`: the header, then `body` (dedented)."""
    directory = tmp_path / folder
    directory.mkdir(parents=True, exist_ok=True)
    text = HEADER.format(stack=name) + textwrap.dedent(body).lstrip("\n")
    (directory / "stack.yaml").write_text(text, encoding="utf-8")
    return directory


def desired(tmp_path: Path, body: str, **how: str) -> DesiredState:
    return load_desired([stack(tmp_path, body, **how)])


@dataclass
class Server:
    """The in-memory server, where it is served, and letta-apply's client for it."""

    letta: MemoryLetta
    url: str
    api: LettaApi

    def plan(self, wanted: DesiredState, **how: Any) -> Plan:
        how.setdefault("prune", None)
        return make_plan(self.api, wanted, parallelism=4, **how)[0]

    def apply(self, wanted: DesiredState, **how: Any) -> list[ApplyResult]:
        options = ApplyOptions(allow_delete=True, parallelism=4)
        return plan_and_apply(self.api, wanted, options, Hooks(), **how)

    def named(self, name: str) -> dict[str, Any]:
        """The one agent of that name, as the server holds it."""
        [found] = [a for a in self.letta.agents.rows.values() if a["name"] == name]
        return found


@dataclass(frozen=True)
class Ran:
    """What a command did: its exit code and what it printed."""

    code: int
    out: str
    err: str


@dataclass
class Cli:
    """`letta-apply` run in this process against one server, as a CI job runs it."""

    url: str
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def __call__(self, *args: str) -> Ran:
        self.monkeypatch.setenv("LETTA_BASE_URL", self.url)
        self.monkeypatch.setenv("CI", "true")
        self.monkeypatch.setenv("NO_COLOR", "1")
        self.monkeypatch.delenv("LETTA_API_KEY", raising=False)
        self.capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main(list(args))
        printed = self.capsys.readouterr()
        return Ran(int(exited.value.code or 0), printed.out, printed.err)
