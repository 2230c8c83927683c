"""Every example stack validates; examples/ as a whole is several stacks, not one."""

from __future__ import annotations

import pytest

from reconciler.address import Address, Pattern
from reconciler.manifest import load_desired
from tests.examples import EXAMPLES, STACKS
from tests.manifest.cli import run_validate

SCHEMA_LINE = "# yaml-language-server: $schema=../../schemas/manifest.schema.json"


def test_one_example_per_pattern_and_a_mixed_one() -> None:
    assert {"dedicated", "shared-conversations", "identities", "mixed"} <= set(STACKS)


@pytest.mark.parametrize("name", STACKS)
def test_example_validates(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, output = run_validate([str(EXAMPLES / name)], capsys)
    assert code == 0, output
    assert output.startswith("OK: ")


@pytest.mark.parametrize("name", STACKS)
def test_example_uses_the_free_local_handles(name: str) -> None:
    state = load_desired([EXAMPLES / name])
    assert state.agents
    assert {(a.model, a.embedding) for a in state.agents} == {("letta/letta-free",) * 2}


@pytest.mark.parametrize("name", STACKS)
def test_example_files_point_editors_at_the_schema(name: str) -> None:
    for manifest in sorted((EXAMPLES / name).rglob("*.yaml")):
        assert manifest.read_text().splitlines()[0] == SCHEMA_LINE, manifest


def test_each_example_is_its_own_stack() -> None:
    names = [load_desired([EXAMPLES / name]).stack for name in STACKS]
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
