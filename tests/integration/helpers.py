"""Running the real command against the real server, and writing manifests for a test."""

from __future__ import annotations

import os
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

from tests.requestledger import command, environment


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def letta_apply(*args: str, url: str, timeout: float = 600, **env: str) -> Result:
    """Run `letta-apply ARGS` in a subprocess, as a CI job would (no terminal), its writes
    checked against its plan (`tests.requestledger`)."""
    environ = {
        **os.environ,
        **environment(),
        "LETTA_BASE_URL": url,
        "CI": "true",
        "NO_COLOR": "1",
        **env,
    }
    proc = subprocess.run(
        command(*args),
        capture_output=True,
        text=True,
        env=environ,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def write_manifest(directory: Path, text: str, name: str = "stack.yaml") -> Path:
    """Write a manifest (dedented) into `directory` and return the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return directory


DESK_STACK = """
apiVersion: letta-apply/v1
stack: {stack}
defaults: {{model: letta/letta-free, embedding: letta/letta-free}}
agents:
  desk:
    blocks:
      persona: {{value: "{persona}", policy: {policy}}}
users:
{users}
"""


def write_desk_stack(
    directory: Path,
    stack: str,
    user_ids: list[str],
    *,
    pattern: str = "shared",
    persona: str = "I help.",
    policy: str = "seed",
) -> Path:
    """A stack of one shared agent, `desk`, serving `user_ids` with `pattern` (`shared`:
    a conversation each, `identity`: an identity each)."""
    users = "\n".join(f"  - {{id: {user}, pattern: {pattern}, agent: desk}}" for user in user_ids)
    text = DESK_STACK.format(stack=stack, persona=persona, policy=policy, users=users)
    return write_manifest(directory, text)


FLEET_STACK = """\
apiVersion: letta-apply/v1
stack: {stack}
defaults: {{model: letta/letta-free, embedding: letta/letta-free}}
prune: {{enabled: true, maxDeletePercent: 50}}
templates:
  assistant:
    blocks:
      human: {{value: "Name: ${{user.name}}", policy: seed}}
agents:
  support-{region}:
    blocks:
      persona: {{value: "I am support for {region}.", policy: enforce}}
usersFrom:
  path: ../users.csv
  where: {{properties.region: {region}}}
"""

REGIONS = ("north", "south")
"""The regions of a fleet written by `write_fleet`: a stack each."""


def users_csv(suffix: str, south: set[str] = frozenset()) -> str:
    """Five users per region (two shared, two identity, one dedicated); the ids in `south`
    live in the south."""
    rows = ["id,name,pattern,template,agent,properties.region"]
    for region in REGIONS:
        for n, pattern in enumerate(("shared", "shared", "identity", "identity", "dedicated")):
            user = f"{region[0]}{n}-{suffix}"
            home = "south" if user in south else region
            template = "assistant" if pattern == "dedicated" else ""
            agent = "" if pattern == "dedicated" else f"support-{home}"
            rows.append(f"{user},User {user},{pattern},{template},{agent},{home}")
    return "\n".join(rows) + "\n"


def write_fleet(root: Path, stack_name: str, south: set[str] = frozenset()) -> dict[str, str]:
    """The fleet folder: one users file, a stack folder per region; region -> stack name."""
    stacks = {region: f"{stack_name}-{region}" for region in REGIONS}
    for region, stack in stacks.items():
        (root / region).mkdir(parents=True, exist_ok=True)
        text = FLEET_STACK.format(stack=stack, region=region)
        (root / region / "stack.yaml").write_text(text, encoding="utf-8")
    (root / "users.csv").write_text(users_csv(stack_name, south), encoding="utf-8")
    return stacks
