"""The server calls letta-apply builds on, against the real Letta server: agents with memory
blocks and tags, conversations, and identities (raw HTTP; the SDK has no identities resource).
Each write is read back, so a change in server behaviour shows up here first."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from letta_client import Letta, NotFoundError

pytestmark = pytest.mark.server

MODEL = {"model": "letta/letta-free", "embedding": "letta/letta-free"}


def _blocks_by_label(agent: Any) -> dict[str, Any]:
    return {block.label: block for block in agent.blocks}


def _delete_agent_and_blocks(sdk: Letta, agent_id: str) -> None:
    """Delete an agent and the blocks it owned (the server keeps them otherwise)."""
    try:
        agent = sdk.agents.retrieve(agent_id, include=["agent.blocks"])
    except NotFoundError:
        return
    sdk.agents.delete(agent_id)
    for block in agent.blocks:
        with contextlib.suppress(NotFoundError):
            sdk.blocks.delete(block.id)


@pytest.fixture
def agent(sdk: Letta, stack_name: str) -> Iterator[Any]:
    """A plain agent for conversation and identity tests, removed afterwards."""
    created = sdk.agents.create(name=f"{stack_name}-shared", tags=[f"stack:{stack_name}"], **MODEL)
    yield created
    _delete_agent_and_blocks(sdk, created.id)


def test_agent_with_blocks_and_tags_round_trips(sdk: Letta, stack_name: str) -> None:
    tags = [f"stack:{stack_name}", f"user:{stack_name}-alice"]
    created = sdk.agents.create(
        name=f"{stack_name}-alice",
        description="assistant for alice",
        tags=tags,
        memory_blocks=[
            {"label": "persona", "value": "I am a personal assistant.", "limit": 1000},
            {"label": "human", "value": "Name: Alice", "limit": 2000, "description": "the user"},
        ],
        **MODEL,
    )
    try:
        read = sdk.agents.retrieve(created.id, include=["agent.tags", "agent.blocks"])
        assert read.name == f"{stack_name}-alice"
        assert read.description == "assistant for alice"
        assert sorted(read.tags) == sorted(tags)
        blocks = _blocks_by_label(read)
        assert blocks["persona"].value == "I am a personal assistant."
        assert blocks["persona"].limit == 1000
        assert (blocks["human"].value, blocks["human"].limit) == ("Name: Alice", 2000)
        assert blocks["human"].description == "the user"

        found = sdk.agents.list(tags=[f"user:{stack_name}-alice"], include=["agent.tags"])
        assert [a.id for a in found] == [created.id]
    finally:
        _delete_agent_and_blocks(sdk, created.id)


def test_agent_update_replaces_tags_and_block_values(sdk: Letta, stack_name: str) -> None:
    created = sdk.agents.create(
        name=f"{stack_name}-bob",
        tags=["old", f"stack:{stack_name}"],
        memory_blocks=[
            {"label": "persona", "value": "p", "limit": 1000},
            {"label": "human", "value": "Name: Bob", "limit": 2000},
        ],
        **MODEL,
    )
    try:
        sdk.agents.update(created.id, tags=[f"stack:{stack_name}", "new"], description="moved")
        sdk.agents.blocks.update("human", agent_id=created.id, value="Name: Bob\nLikes: tea")
        sdk.agents.blocks.update("persona", agent_id=created.id, limit=3000)

        read = sdk.agents.retrieve(created.id, include=["agent.tags", "agent.blocks"])
        # The tag list is replaced as a whole, not merged.
        assert sorted(read.tags) == sorted([f"stack:{stack_name}", "new"])
        assert read.description == "moved"
        blocks = _blocks_by_label(read)
        assert blocks["human"].value == "Name: Bob\nLikes: tea"
        assert (blocks["persona"].value, blocks["persona"].limit) == ("p", 3000)
    finally:
        _delete_agent_and_blocks(sdk, created.id)


def test_deleting_an_agent_leaves_its_blocks_behind(sdk: Letta, stack_name: str) -> None:
    created = sdk.agents.create(
        name=f"{stack_name}-carl",
        memory_blocks=[{"label": "human", "value": "Name: Carl", "limit": 2000}],
        **MODEL,
    )
    block_id = _blocks_by_label(sdk.agents.retrieve(created.id, include=["agent.blocks"]))[
        "human"
    ].id
    sdk.agents.delete(created.id)

    with pytest.raises(NotFoundError):
        sdk.agents.retrieve(created.id)
    # letta-apply deletes owned blocks itself because of this.
    assert sdk.blocks.retrieve(block_id).value == "Name: Carl"
    sdk.blocks.delete(block_id)
    with pytest.raises(NotFoundError):
        sdk.blocks.retrieve(block_id)


def test_conversation_lifecycle(sdk: Letta, agent: Any, stack_name: str) -> None:
    summary = f"support chat [{stack_name}/bob]"
    created = sdk.conversations.create(agent_id=agent.id, summary=summary)

    read = sdk.conversations.retrieve(created.id)
    assert (read.agent_id, read.summary) == (agent.id, summary)
    assert created.id in [c.id for c in sdk.conversations.list(agent_id=agent.id)]

    sdk.conversations.update(created.id, summary=f"{summary} v2")
    assert sdk.conversations.retrieve(created.id).summary == f"{summary} v2"

    sdk.conversations.delete(created.id)
    assert created.id not in [c.id for c in sdk.conversations.list(agent_id=agent.id)]


def test_identity_lifecycle_through_raw_calls(sdk: Letta, agent: Any, stack_name: str) -> None:
    key = f"{stack_name}-carol"
    body = {
        "identifier_key": key,
        "name": "Carol",
        "identity_type": "user",
        "properties": [{"key": "email", "value": "carol@acme.com", "type": "string"}],
    }
    created: Any = sdk.post("/v1/identities/", cast_to=object, body=body)
    identity_id = created["id"]
    try:
        read: Any = sdk.get(f"/v1/identities/{identity_id}", cast_to=object)
        assert (read["identifier_key"], read["name"]) == (key, "Carol")
        assert read["properties"] == body["properties"]
        by_key: Any = sdk.get(
            "/v1/identities/", cast_to=object, options={"params": {"identifier_key": key}}
        )
        assert [i["id"] for i in by_key] == [identity_id]

        sdk.agents.identities.attach(identity_id, agent_id=agent.id)
        attached = sdk.agents.retrieve(agent.id, include=["agent.identities"])
        assert [i.id for i in attached.identities or []] == [identity_id]

        sdk.agents.identities.detach(identity_id, agent_id=agent.id)
        detached = sdk.agents.retrieve(agent.id, include=["agent.identities"])
        assert not detached.identities
    finally:
        sdk.delete(f"/v1/identities/{identity_id}", cast_to=object)
    with pytest.raises(NotFoundError):
        sdk.get(f"/v1/identities/{identity_id}", cast_to=object)
