"""Sample plans for the renderer and saved-plan tests, every one made by the planner.

Each sample is a folder under samples/ holding `desired.yaml` and `live.json` (the format of
tests/plan/data.py), except `many_users_plan`, which writes its inputs for any number of users.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.manifest import load_desired
from reconciler.planner import build_plan
from tests.plan.data import live_from_json, plan_case

if TYPE_CHECKING:
    from reconciler.plan.model import Plan

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
TARGET = "http://localhost:8283"
HOSTILE_TARGET = "http://user:s3cret@evil.example:8283/<i>`"
"""A target URL with credentials and markup in it, as `--base-url` could give one."""

HOSTILE_LINE = "<script>alert(1)</script>"
"""One line of the hostile value the hostile sample carries in names, values and properties."""


def sample(name: str, *, target: str = TARGET) -> Plan:
    """The plan for samples/<name>, with prune as its manifest says."""
    return plan_case(SAMPLES_DIR / name, target=target)


def empty_plan() -> Plan:
    """A converged stack: nothing to do."""
    return sample("empty")


def mixed_plan() -> Plan:
    """Every action and every kind, a notice, and prune on: new dedicated, shared and
    identity users, a shared agent and an enforced shared block changed, shared blocks
    attached and detached, an undeclared user's agent and conversation deleted."""
    return sample("mixed")


def drift_plan() -> Plan:
    """Seeded blocks the agents rewrote, one long enough to be shortened; one limit change."""
    return sample("drift")


def notices_plan() -> Plan:
    """No changes, one notice of each kind but drift (a blocked identity among them)."""
    return sample("notices")


def hostile_plan() -> Plan:
    """Values that try to break out of code blocks, tables, HTML and the terminal, wherever a
    plan can carry them: manifest values (descriptions, block values, a user's name and
    properties), server values (a drifted block, an agent's name) and the target URL."""
    return sample("hostile", target=HOSTILE_TARGET)


def pattern_rows_plan() -> Plan:
    """One change or more for each pattern and for the stack's own shared resources."""
    return sample("pattern-rows")


_MANY_USERS_MANIFEST = """\
apiVersion: letta-apply/v1
stack: acme
defaults: {model: letta/letta-free, embedding: letta/letta-free}
templates:
  assistant:
    tags: [tier:premium, plan:pro]
    blocks:
      persona: {value: "I am a personal assistant.", policy: enforce}
usersFrom: users.csv
"""


def many_users_plan(count: int = 2000, *, id_suffix: str = "") -> Plan:
    """A large roll-out of `count` dedicated users: odd-numbered ones are new, the others
    exist and gain the `plan:pro` tag. `id_suffix` lengthens every user id."""
    users = [f"user{n:05d}{id_suffix}" for n in range(count)]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "desired.yaml").write_text(_MANY_USERS_MANIFEST, encoding="utf-8")
        rows = "".join(f"{user},dedicated\n" for user in users)
        (root / "users.csv").write_text("id,pattern\n" + rows, encoding="utf-8")
        desired = load_desired([root / "desired.yaml"])
    agents = [_existing_agent(n, user) for n, user in enumerate(users) if n % 2 == 0]
    return build_plan(desired, live_from_json("acme", {"agents": agents}), target=TARGET)


def _existing_agent(n: int, user: str) -> dict[str, Any]:
    address = f"agent/user:{user}"
    return {
        "id": f"agent-{n}",
        "name": f"assistant-{user}",
        "created_at": "2026-01-01T00:00:00",
        "model": "letta/letta-free",
        "embedding": "letta/letta-free",
        "tags": ["letta-apply:acme", "tier:premium", f"user:{user}"],
        "metadata": {"letta_apply": {"address": address, "stack": "acme"}},
        "blocks": [
            {
                "id": f"block-{n}",
                "label": "persona",
                "value": "I am a personal assistant.",
                "tags": ["letta-apply:acme"],
            }
        ],
    }


SAMPLES = {
    "empty": empty_plan,
    "mixed": mixed_plan,
    "drift": drift_plan,
    "notices": notices_plan,
}
"""The samples whose every rendering is kept under tests/golden/."""
