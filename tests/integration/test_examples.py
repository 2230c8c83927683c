"""Every example stack applied to the real server: the apps' lookups from the seeds work and
a second plan finds nothing to do."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from letta_client import Letta

from reconciler.desired import DesiredState
from reconciler.devserver import embeddings
from reconciler.manifest import load_desired
from tests.examples import EXAMPLES, STACKS, root
from tests.integration.helpers import letta_apply

pytestmark = pytest.mark.server

SECRETS = {
    "ORDERS_API_TOKEN": "example-token",
    "LETTA_APPLY_ALLOW_ENV": "ORDERS_API_TOKEN",
    "LETTA_APPLY_KEY": "the examples' key",
}
"""The environment the examples' secrets are read from."""


def isolated_copy(name: str, stack: str, tmp_path: Path) -> Path:
    """The example with its stack renamed, user ids and tool names suffixed, so runs on one
    server do not meet (identity keys and tool names are unique on a server). The copy is of
    the stack's root (a fleet's stack comes with the fleet's files); returns the root."""
    target = tmp_path / root(name).name
    shutil.copytree(root(name), target)
    sources = {
        name
        for manifest in target.rglob("*.y*ml")
        for section in ("folders", "archives")
        for name in (yaml.safe_load(manifest.read_text("utf-8")) or {}).get(section) or {}
    }
    for manifest in target.rglob("*.y*ml"):
        text = re.sub(r"(?m)^stack: .*$", f"stack: {stack}", manifest.read_text("utf-8"))
        text = re.sub(r"\bid: ([\w.@-]+)", rf"id: \1-{stack}", text)
        for name in sources:
            # Folder names are unique on a server: each run gets its own.
            text = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", f"{stack}-{name}", text)
        manifest.write_text(text, encoding="utf-8")
    suffix = stack.replace("-", "_")
    for source in target.rglob("*.py"):
        # Tool names are unique on a server: each run gets its own.
        text = source.read_text("utf-8")
        for name in re.findall(r"(?m)^def (\w+)\(", text):
            source.write_text(re.sub(rf"\b{name}\b", f"{name}_{suffix}", text), "utf-8")
            for manifest in target.rglob("*.y*ml"):
                renamed = re.sub(
                    rf"\b{name}\b(?!\.py)", f"{name}_{suffix}", manifest.read_text("utf-8")
                )
                manifest.write_text(renamed, encoding="utf-8")
    for users in target.rglob("*.csv"):
        header, *rows = users.read_text("utf-8").splitlines()
        rows = [re.sub(r"^([^,]+)", rf"\1-{stack}", row) if row.strip() else row for row in rows]
        users.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return target


def check_dedicated(sdk: Letta, desired: DesiredState) -> None:
    tag = f"letta-apply:{desired.stack}"
    for spec in (a for a in desired.agents if a.user_id is not None):
        found = sdk.agents.list(
            tags=[f"user:{spec.user_id}"], include=["agent.tags", "agent.blocks"]
        )
        owned = [a for a in found if tag in a.tags]
        assert len(owned) == 1, spec.address
        labels = {b.label for b in owned[0].blocks}
        assert {b.label for b in spec.blocks} <= labels


def check_apps_ids(sdk: Letta, desired: DesiredState, outputs: dict[str, dict[str, str]]) -> None:
    for conversation in desired.conversations:
        row = outputs[conversation.user_id]
        listed = {c.id for c in sdk.conversations.list(agent_id=row["agent_id"], limit=1000)}
        assert row["conversation_id"] in listed, conversation.address
    for identity in desired.identities:
        row = outputs[identity.identifier_key]
        agent = sdk.agents.retrieve(row["agent_id"], include=["agent.identities"])
        assert row["identity_id"] in {i.id for i in agent.identities}, identity.address


@pytest.mark.parametrize("name", STACKS)
def test_example_applies_and_converges(
    name: str, tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    copied = isolated_copy(name, stack_name, tmp_path)
    path = copied.parent / name
    where = [str(path), "--root", str(copied)]
    desired = load_desired([path], copied)
    if not embeds(sdk, desired):
        pytest.skip(f"the server has no {embeddings.HANDLE} (started by an older letta-apply)")
    applied = letta_apply(*where, url=letta_url, **SECRETS)
    assert applied.code == 0, applied.output

    check_dedicated(sdk, desired)
    outputs = json.loads(letta_apply("outputs", *where, url=letta_url).stdout)["users"]
    check_apps_ids(sdk, desired, outputs)

    again = letta_apply("plan", *where, "--detailed-exitcode", url=letta_url, **SECRETS)
    assert again.code == 0, again.output


def test_the_examples_together_leave_every_seed_lookup_unambiguous(
    letta_url: str, sdk: Letta
) -> None:
    """What `make demo` does: every example applied as written, side by side on one server.
    Then the seeds' lookup of each dedicated user's agent finds exactly one agent."""
    # A server started before the dev server had its embedding model cannot take the
    # knowledge base: the others are still checked side by side.
    loaded = {name: load_desired([EXAMPLES / name], root(name)) for name in STACKS}
    names = [name for name, state in loaded.items() if embeds(sdk, state)]
    states = [loaded[name] for name in names]
    stacks = {f"letta-apply:{state.stack}" for state in states}
    users = [a.user_tag for state in states for a in state.agents if a.user_tag]
    taken = [
        a.id
        for a in sdk.agents.list(tags=users, include=["agent.tags"], limit=1000)
        if not stacks & set(a.tags)
    ]
    if taken:
        pytest.skip(f"{len(taken)} agent(s) on this server already carry the examples' user tags")
    try:
        for name in names:
            where = [str(EXAMPLES / name), "--root", str(root(name))]
            applied = letta_apply(*where, url=letta_url, **SECRETS)
            assert applied.code == 0, applied.output
        for state in states:
            for spec in (a for a in state.agents if a.user_id is not None):
                found = sdk.agents.list(tags=[spec.user_tag or ""], include=["agent.tags"])
                assert [a.name for a in found] == [spec.name], spec.address
    finally:
        for state in states:
            remove_stack(sdk, state)


def embeds(sdk: Letta, state: DesiredState) -> bool:
    """Whether the server offers every embedding handle the stack's agents use."""
    used = {agent.embedding for agent in state.agents}
    return used <= {model.handle for model in sdk.models.embeddings.list()}


def remove_stack(sdk: Letta, state: DesiredState) -> None:
    """Delete what an example stack made: its agents and blocks, its identities, its folders
    and archives (the server deletes their files and passages with them)."""
    tag = f"letta-apply:{state.stack}"
    for folder in state.folders:
        for found in list(sdk.folders.list(name=folder.name)):
            if found.name == folder.name:
                sdk.folders.delete(found.id)
    for archive in state.archives:
        for kept in list(sdk.archives.list(name=archive.name)):
            if kept.name == archive.name and tag in (kept.description or ""):
                sdk.archives.delete(kept.id)
    for agent in sdk.agents.list(tags=[tag], include=["agent.tags"], limit=1000):
        sdk.agents.delete(agent.id)
    for block in sdk.blocks.list(tags=[tag], limit=1000):
        sdk.blocks.delete(block.id)
    for tool in sdk.tools.list(tool_types=["custom"], limit=1000):
        if tag in (tool.tags or ()):
            sdk.tools.delete(tool.id)
    for identity in state.identities:
        params = {"identifier_key": identity.identifier_key}
        for found in sdk.get(
            "/v1/identities/", cast_to=list[dict[str, object]], options={"params": params}
        ):
            sdk.delete(f"/v1/identities/{found['id']}", cast_to=object)
