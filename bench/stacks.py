"""The stacks the benchmarks plan and apply, built as desired-state values (no manifests).

A dedicated stack has one agent per user (the seeds' dedicated pattern, two memory blocks each);
a mixed stack adds shared agents with a shared block, one conversation per shared-pattern user,
and one identity per identity-pattern user. Everything is derived from (stack, size), so a
separate process can rebuild the same desired state; `dedicated_manifests` writes a dedicated
stack as the manifests a user would keep, for benchmarks of the command itself.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

from reconciler.address import Address
from reconciler.desired import (
    AgentSpec,
    BlockSpec,
    ConversationSpec,
    DesiredState,
    IdentitySpec,
    Policy,
    SecretSpec,
    SharedBlockSpec,
    ToolSpec,
)
from reconciler.errors import Location
from reconciler.values import freeze

MODEL = "letta/letta-free"
SETTINGS = freeze({"model": MODEL, "embedding": MODEL})
PERSONA = BlockSpec("persona", "I am a personal assistant.", Policy.ENFORCE)
SHARED_AGENTS = ("support", "sales")
MIXED_SHARES = (("dedicated", 0.5), ("shared", 0.4), ("identity", 0.1))


@dataclass(frozen=True)
class StackShape:
    """What a benchmark stack holds: `kind` is `dedicated`, `mixed`, `tools` (dedicated
    agents with three tools each) or `shared` (shared users, and a tenth as many identity
    users besides), `size` counts users (shared users for `shared`)."""

    kind: str
    size: int

    def build(self, stack: str) -> DesiredState:
        if self.kind == "dedicated":
            return dedicated_stack(stack, self.size)
        if self.kind == "tools":
            return tools_stack(stack, self.size)
        if self.kind == "shared":
            return shared_stack(stack, self.size)
        return mixed_stack(stack, self.size)


def user_ids(stack: str, size: int) -> list[str]:
    """User ids unique to the stack, so lookups by `user:` tag find this stack's agents."""
    return [f"{stack}-{n:05d}" for n in range(size)]


def dedicated_agent(user_id: str, extra_tags: tuple[str, ...] = ()) -> AgentSpec:
    human = BlockSpec(
        "human",
        f"User ID: {user_id}\nName: User {user_id}\nPreferences: (to be learned)",
        Policy.SEED,
        limit=2000,
    )
    return AgentSpec(
        address=Address.dedicated_agent(user_id),
        name=f"assistant-{user_id}",
        settings=SETTINGS,
        tags=tuple(sorted({"tier:premium", f"user:{user_id}", *extra_tags})),
        user_tag=f"user:{user_id}",
        blocks=(human, PERSONA),
    )


def dedicated_stack(stack: str, size: int) -> DesiredState:
    agents = tuple(dedicated_agent(u) for u in user_ids(stack, size))
    return DesiredState(stack, tuple(sorted(agents, key=lambda a: a.address)))


TOOL_SOURCE = '''def {name}(order_id: str) -> str:
    """Look up an order.

    Args:
        order_id: The order id.

    Returns:
        str: What the shop knows of it.
    """
    return "order " + order_id
'''


BENCH_SECRETS = {"BENCH_ORDERS_TOKEN": "bench-orders-token", "BENCH_REGION": "eu-west"}
"""The variables the tools stack's secrets are read from (set for the run if unset)."""


def tools_stack(stack: str, size: int) -> DesiredState:
    """A dedicated stack whose agents each have three tools, two of the stack's own (made
    from source) and the server's built-in `web_search`, and two secrets."""
    for variable, value in BENCH_SECRETS.items():
        os.environ.setdefault(variable, value)
    secrets = tuple(
        SecretSpec(name, variable, Location("bench"))
        for name, variable in (("ORDERS_TOKEN", "BENCH_ORDERS_TOKEN"), ("REGION", "BENCH_REGION"))
    )
    suffix = stack.replace("-", "_").replace(".", "_")
    tools = tuple(
        ToolSpec(Address.tool(name), TOOL_SOURCE.format(name=name), return_char_limit=2000)
        for name in (f"lookup_{suffix}", f"track_{suffix}")
    )
    attached = (*(t.address for t in tools), Address.tool("web_search"))
    agents = tuple(
        replace(dedicated_agent(u), tools=attached, secrets=secrets) for u in user_ids(stack, size)
    )
    return DesiredState(stack, tuple(sorted(agents, key=lambda a: a.address)), tools=tools)


ASSISTANT_TEMPLATE = """\
templates:
  assistant:
    tags: [tier:premium]
    blocks:
      human:
        value: "User ID: ${{user.id}}\\nName: ${{user.name}}\\nPreferences: (to be learned)"
        limit: 2000
        policy: seed
      persona: {{value: {persona}, policy: enforce}}
"""
"""The dedicated users' template, with the persona (a YAML string) to format in."""

STACK_HEADER = """\
apiVersion: letta-apply/v1
stack: {stack}
defaults: {{model: {model}, embedding: {model}}}
"""

DEDICATED_MANIFEST = STACK_HEADER + ASSISTANT_TEMPLATE + "usersFrom: users.csv\n"


def dedicated_manifests(folder: Path, stack: str, size: int) -> Path:
    """Write manifests that declare `dedicated_stack(stack, size)`; return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    persona = json.dumps(PERSONA.value)  # JSON strings are YAML strings
    text = DEDICATED_MANIFEST.format(stack=stack, model=MODEL, persona=persona)
    (folder / "stack.yaml").write_text(text, encoding="utf-8")
    rows = "".join(f"{u},User {u},dedicated,assistant\n" for u in user_ids(stack, size))
    (folder / "users.csv").write_text("id,name,pattern,template\n" + rows, encoding="utf-8")
    return folder


def split_mixed(ids: list[str]) -> dict[str, list[str]]:
    """Users by pattern: half dedicated, 40% shared (conversations), 10% identities."""
    groups: dict[str, list[str]] = {}
    start = 0
    for pattern, share in MIXED_SHARES:
        count = round(len(ids) * share) if pattern != MIXED_SHARES[-1][0] else len(ids) - start
        groups[pattern] = ids[start : start + count]
        start += count
    return groups


def mixed_stack(stack: str, size: int) -> DesiredState:
    groups = split_mixed(user_ids(stack, size))
    return _with_shared_agents(
        stack,
        [dedicated_agent(u) for u in groups["dedicated"]],
        groups["shared"],
        groups["identity"],
    )


def shared_stack(stack: str, size: int) -> DesiredState:
    """`size` shared users on two shared agents, and `size // 10` identity users."""
    ids = user_ids(stack, size + size // 10)
    return _with_shared_agents(stack, [], ids[:size], ids[size:])


def _with_shared_agents(
    stack: str, agents: list[AgentSpec], shared: list[str], identity_users: list[str]
) -> DesiredState:
    agents = [*agents, *(_shared_agent(name) for name in SHARED_AGENTS)]
    conversations = [
        _conversation(u, SHARED_AGENTS[n % len(SHARED_AGENTS)]) for n, u in enumerate(shared)
    ]
    identities = [
        IdentitySpec(
            Address.identity(u),
            f"User {u}",
            freeze({"plan": "enterprise"}),
            (Address.agent(SHARED_AGENTS[0]),),
        )
        for u in identity_users
    ]
    company = SharedBlockSpec(
        Address.shared_block("company"), BlockSpec("company", "Acme Corp.", Policy.ENFORCE)
    )
    return DesiredState(
        stack,
        tuple(sorted(agents, key=lambda a: a.address)),
        (company,),
        tuple(sorted(conversations, key=lambda c: c.address)),
        tuple(sorted(identities, key=lambda i: i.address)),
    )


def _shared_agent(name: str) -> AgentSpec:
    persona = BlockSpec("persona", f"I am the {name} agent for Acme Corp.", Policy.ENFORCE)
    return AgentSpec(
        address=Address.agent(name),
        name=name,
        settings=SETTINGS,
        blocks=(persona,),
        shared_blocks=(Address.shared_block("company"),),
    )


def _conversation(user_id: str, agent: str) -> ConversationSpec:
    address = Address.conversation(Address.agent(agent), user_id)
    return ConversationSpec(address, f"Support chat for {user_id}")


def with_extra_tag(desired: DesiredState, user_ids_to_change: set[str], tag: str) -> DesiredState:
    """The same stack with `tag` added to the dedicated agents of the given users."""
    agents = tuple(
        replace(a, tags=tuple(sorted({*a.tags, tag}))) if a.user_id in user_ids_to_change else a
        for a in desired.agents
    )
    return replace(desired, agents=agents)
