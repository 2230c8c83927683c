"""Running the real command against the real server, and writing manifests for a test."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def letta_apply(*args: str, url: str, timeout: float = 600, **env: str) -> Result:
    """Run `letta-apply ARGS` in a subprocess, as a CI job would (no terminal)."""
    environ = {**os.environ, "LETTA_BASE_URL": url, "CI": "true", "NO_COLOR": "1", **env}
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
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
