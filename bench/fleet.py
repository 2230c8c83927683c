"""The large-fleet stack as manifests a user would keep: the shape the multi-user guidance
advises beyond 10,000 users (90% on four shared agents with a conversation each, 5% identities
on the support agent, 5% with agents of their own and two memory blocks each), its users in a
CSV file. `bench.memory` plans it with the real command; `bench.replay` serves it.
"""

from __future__ import annotations

from pathlib import Path

from bench.stacks import ASSISTANT_TEMPLATE, MODEL, STACK_HEADER

STACK = "mem"
SHARED_AGENTS = ("support", "sales", "billing", "onboarding")
IDENTITY_AGENT = SHARED_AGENTS[0]
SHAPES = {
    "fleet": (("shared", 0.90), ("identity", 0.05), ("dedicated", 0.05)),
    "dedicated": (("shared", 0.0), ("identity", 0.0), ("dedicated", 1.0)),
}
"""Shares of the users by pattern: the large fleet the guidance advises, and every user with
an agent of their own (the heaviest per user)."""
MANIFEST = STACK_HEADER + ASSISTANT_TEMPLATE + "agents:\n{agents}\nusersFrom: users.csv\n"
PERSONA = '"I am a personal assistant."'

AGENT = (
    '  {name}:\n    blocks:\n      persona: {{value: "I am the {name} agent.", policy: enforce}}\n'
)


def user_id(n: int) -> str:
    """Fixed width, so no user's id is part of another's (the replay substitutes them)."""
    return f"{STACK}-{n:07d}"


def pattern_of(n: int, size: int, shape: str = "fleet") -> str:
    """Users in order: the shared ones first, then identities, then dedicated."""
    shares = SHAPES[shape]
    shared = int(size * shares[0][1])
    identity = int(size * shares[1][1])
    if n < shared:
        return "shared"
    return "identity" if n < shared + identity else "dedicated"


def shared_agent_of(n: int) -> str:
    return SHARED_AGENTS[n % len(SHARED_AGENTS)]


def write_manifests(folder: Path, size: int, shape: str = "fleet") -> Path:
    """The stack of `size` users in `folder` (stack.yaml and users.csv); returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    agents = "".join(AGENT.format(name=name) for name in SHARED_AGENTS)
    text = MANIFEST.format(stack=STACK, model=MODEL, persona=PERSONA, agents=agents.rstrip("\n"))
    (folder / "stack.yaml").write_text(text, encoding="utf-8")
    rows = ["id,name,pattern,template,agent,properties.plan\n"]
    for n in range(size):
        user, pattern = user_id(n), pattern_of(n, size, shape)
        if pattern == "shared":
            rows.append(f"{user},,shared,,{shared_agent_of(n)},\n")
        elif pattern == "identity":
            rows.append(f"{user},User {user},identity,,{IDENTITY_AGENT},pro\n")
        else:
            rows.append(f"{user},User {user},dedicated,assistant,,\n")
    (folder / "users.csv").write_text("".join(rows), encoding="utf-8")
    return folder
