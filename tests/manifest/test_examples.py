"""Every example stack validates; examples/ as a whole is several stacks, not one, and the
stacks of the fleet example split its one users file between them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.address import Address, Pattern
from reconciler.devserver import embeddings
from reconciler.manifest import load_desired
from tests.examples import EXAMPLES, FLEET_STACKS, STACKS, root
from tests.manifest.cli import run_validate

SCHEMA = EXAMPLES.parent / "schemas" / "manifest.schema.json"


def test_one_example_per_pattern_and_a_mixed_one() -> None:
    assert {"dedicated", "shared-conversations", "identities", "mixed"} <= set(STACKS)


@pytest.mark.parametrize("name", STACKS)
def test_example_validates(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, output = run_validate([str(EXAMPLES / name), "--root", str(root(name))], capsys)
    assert code == 0, output
    assert output.startswith("OK: ")


@pytest.mark.parametrize("name", STACKS)
def test_example_uses_the_free_local_handles(name: str) -> None:
    state = load_desired([EXAMPLES / name], root(name))
    assert state.agents
    assert {a.model for a in state.agents} == {"letta/letta-free"}
    # A stack with folders or archives embeds with the dev server's local model.
    local = embeddings.HANDLE if state.folders or state.archives else "letta/letta-free"
    assert {a.embedding for a in state.agents} == {local}


@pytest.mark.parametrize("name", STACKS)
def test_example_files_point_editors_at_the_schema(name: str) -> None:
    for manifest in sorted((EXAMPLES / name).rglob("*.yaml")):
        relative = Path(os.path.relpath(SCHEMA, manifest.parent)).as_posix()
        expected = f"# yaml-language-server: $schema={relative}"
        assert manifest.read_text().splitlines()[0] == expected, manifest


def test_each_example_is_its_own_stack() -> None:
    names = [load_desired([EXAMPLES / name], root(name)).stack for name in STACKS]
    assert len(set(names)) == len(names)


def test_examples_directory_is_not_one_stack(capsys: pytest.CaptureFixture[str]) -> None:
    code, output = run_validate([str(EXAMPLES)], capsys)
    assert code == 1
    assert "all manifests of one run must belong to one stack" in output


def test_mixed_example_combines_the_three_patterns() -> None:
    state = load_desired([EXAMPLES / "mixed"])
    assert {agent.address.pattern for agent in state.agents} == {None, Pattern.DEDICATED}
    assert state.conversations and state.identities
    assert [block.address.name for block in state.blocks] == ["company"]
    assert all(agent.shared_blocks == (Address.shared_block("company"),) for agent in state.agents)


def test_fleet_stacks_split_one_users_file() -> None:
    """Each user of the fleet's file is in exactly one stack, on that stack's own agent."""
    states = [load_desired([EXAMPLES / name], root(name)) for name in FLEET_STACKS]
    assert len(states) == 3
    rows = (EXAMPLES / "fleet" / "users.csv").read_text(encoding="utf-8").splitlines()[1:]
    every = sorted(row.split(",", 1)[0] for row in rows if row)
    taken = sorted(user for state in states for user in state.patterns())
    assert taken == every
    for state in states:
        agents = {agent.address for agent in state.agents}
        assert {c.agent for c in state.conversations} <= agents
        assert {a for i in state.identities for a in i.agents} <= agents


def test_a_fleet_stack_needs_the_fleet_folder_as_root(capsys: pytest.CaptureFixture[str]) -> None:
    code, output = run_validate([str(EXAMPLES / FLEET_STACKS[0])], capsys)
    assert code == 1
    assert "usersFrom: ../users.csv is outside the stack's root" in output
