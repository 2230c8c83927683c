"""Reserved tags reach no agent, however a manifest spells them: rendered from a user's values,
or in the stack's own user tag format."""

from __future__ import annotations

from pathlib import Path

import pytest
from letta_client import Letta

from tests.integration.helpers import letta_apply, write_manifest

pytestmark = pytest.mark.server

RENDERED = """
apiVersion: letta-apply/v1
stack: {stack}
defaults: {{model: letta/letta-free, embedding: letta/letta-free, userTag: "{user_tag}"}}
templates:
  assistant:
    tags: ["${{user.properties.x}}"]
users:
  - {{id: "a-{stack}", pattern: dedicated, template: assistant, properties: {{x: "{first}"}}}}
  - {{id: "b-{stack}", pattern: dedicated, template: assistant, properties: {{x: "{second}"}}}}
"""


def test_a_reserved_tag_rendered_from_a_users_values_is_refused_before_any_write(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    victim, other = f"user:victim-{stack_name}", f"letta-apply:other-{stack_name}"
    text = RENDERED.format(stack=stack_name, user_tag="user:${user.id}", first=victim, second=other)
    path = write_manifest(tmp_path / "m", text)
    result = letta_apply(str(path), url=letta_url)
    assert result.code == 1, result.output
    assert f"stack.yaml:8:10: tag '{victim}' (rendered for user 'a-{stack_name}')" in result.stderr
    assert f"stack.yaml:9:10: tag '{other}' (rendered for user 'b-{stack_name}')" in result.stderr
    assert not sdk.agents.list(tags=[victim]).items
    assert not sdk.agents.list(tags=[f"letta-apply:{stack_name}"]).items


def test_the_stacks_own_user_tag_format_is_reserved(
    tmp_path: Path, letta_url: str, stack_name: str, sdk: Letta
) -> None:
    forged = f"acme-user:bob-{stack_name}"
    text = RENDERED.format(
        stack=stack_name, user_tag="acme-user:${user.id}", first=forged, second="plain"
    )
    path = write_manifest(tmp_path / "m", text)
    result = letta_apply(str(path), url=letta_url)
    assert result.code == 1, result.output
    assert f"tag '{forged}' (rendered for user 'a-{stack_name}')" in result.stderr
    assert not sdk.agents.list(tags=[forged]).items
