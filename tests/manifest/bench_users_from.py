"""Measure expanding a large `usersFrom` CSV (a script, not a test: timings vary by machine).

.venv/bin/python -m tests.manifest.bench_users_from [USERS]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from reconciler.manifest import load_desired

MANIFEST = """\
apiVersion: letta-apply/v1
stack: bench
defaults: {model: letta/letta-free, embedding: letta/letta-free, tags: [app:bench]}
blocks:
  company: {value: Acme Corp., policy: enforce}
templates:
  assistant:
    sharedBlocks: [company]
    blocks:
      persona: {value: I am a personal assistant., policy: enforce}
      human: {value: "User ID: ${user.id}\\nName: ${user.name}\\nPlan: ${user.properties.plan}"}
agents:
  support:
    sharedBlocks: [company]
usersFrom: users.csv
"""
PATTERNS = ("dedicated", "shared", "identity")


def users_csv(count: int) -> str:
    """A CSV of `count` users spread over the three patterns."""
    lines = ["id,name,pattern,template,agent,tags,properties.plan,properties.email"]
    for index in range(count):
        pattern = PATTERNS[index % 3]
        dedicated = pattern == "dedicated"
        template, agent = ("assistant", "") if dedicated else ("", "support")
        tags = "beta;pro" if dedicated else ""
        email = f"u{index}@example.com"
        lines.append(f"user-{index},User {index},{pattern},{template},{agent},{tags},pro,{email}")
    return "\n".join(lines) + "\n"


def main(count: int) -> None:
    """Print the time to load and expand `count` users, best of three runs."""
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "manifest.yaml").write_text(MANIFEST)
        (root / "users.csv").write_text(users_csv(count))
        timings = []
        for _ in range(3):
            start = time.perf_counter()
            state = load_desired([root])
            timings.append(time.perf_counter() - start)
    best = min(timings)
    resources = len(state.agents) + len(state.conversations) + len(state.identities)
    print(f"{count} users -> {resources} resources in {best:.3f} s")
    print(f"{best / count * 1000:.3f} s per 1,000 users")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
