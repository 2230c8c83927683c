"""The stacks of `make bench-scale`, written as the manifests a team would keep.

A stack is shaped as the seeds advise past 10,000 users: a few shared agents, a conversation
on one of them for most users, and an identity attached to one of them for some (5% by
default). Users come from a CSV file (`usersFrom`), as a fleet that size would list them.
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path

from bench.stacks import MODEL, STACK_HEADER

MANIFEST = STACK_HEADER + "agents:\n{agents}\nusersFrom: users.csv\n"

AGENT = """\
  {name}:
    conversationSummary: "Support chat for ${{user.name}}"
    blocks:
      persona: {{value: "I am the support agent {name} for Acme Corp.", policy: enforce}}
"""


@dataclass(frozen=True)
class ScaleStack:
    """One stack: its name, a short label its agent names and user ids start with, how many
    users, how many shared agents, and every how many-th user is an identity user."""

    stack: str
    label: str
    users: int
    agents: int = 4
    identity_every: int = 20

    def agent_names(self) -> list[str]:
        return [f"{self.label}-support-{n}" for n in range(self.agents)]

    def user_rows(self, start: int = 0, count: int | None = None) -> list[dict[str, str]]:
        """Users `start` to `start + count` (all by default) as CSV rows."""
        names = self.agent_names()
        end = self.users if count is None else start + count
        return [self._row(n, names) for n in range(start, end)]

    def _row(self, n: int, names: list[str]) -> dict[str, str]:
        pattern = "identity" if n % self.identity_every == self.identity_every - 1 else "shared"
        return {
            "id": f"{self.label}-{n:06d}",
            "name": f"User {n}",
            "pattern": pattern,
            "agent": names[n % len(names)],
            "properties.plan": "enterprise" if pattern == "identity" else "",
        }


COLUMNS = ("id", "name", "pattern", "agent", "properties.plan")


def write_stack(folder: Path, spec: ScaleStack, rows: list[dict[str, str]] | None = None) -> Path:
    """Write the stack's manifest and users file into `folder` (replaced); return it."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    agents = "".join(AGENT.format(name=name) for name in spec.agent_names())
    text = MANIFEST.format(stack=spec.stack, model=MODEL, agents=agents.rstrip("\n"))
    (folder / "stack.yaml").write_text(text, encoding="utf-8")
    write_users(folder / "users.csv", spec.user_rows() if rows is None else rows)
    return folder


def write_users(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def renamed(rows: list[dict[str, str]], every: int) -> list[dict[str, str]]:
    """The same users with every `every`-th one renamed: a change to that user's conversation
    summary (or identity name)."""
    return [
        {**row, "name": f"{row['name']} (renamed)"} if n % every == 0 else row
        for n, row in enumerate(rows)
    ]
