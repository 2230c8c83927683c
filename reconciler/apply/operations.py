"""One function per kind of change: the REST calls that carry it out, with safe read-backs.

Creates go through `LettaApi.create`, which is never blindly retried: after an ambiguous
failure, the `find_*` read-back looks for the resource by its ownership marks first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, assert_never

from reconciler import ownership
from reconciler.client import LettaApi
from reconciler.errors import LettaApplyError
from reconciler.plan.model import Action, Change, Kind

JSON = Any
Resolve = Callable[[str], str]
"""Address -> server id of a resource that exists or was created earlier in the run."""


def execute(api: LettaApi, stack: str, change: Change, resolve: Resolve) -> str | None:
    """Carry out one change; return the id of the resource it created or changed."""
    match change.action:
        case Action.CREATE:
            return _create(api, stack, change, resolve)
        case Action.UPDATE:
            _update(api, change)
        case Action.ATTACH | Action.DETACH:
            _link(api, change, resolve)
        case Action.DELETE:
            _delete(api, change)
        case _:
            assert_never(change.action)
    return change.resource_id


def _create(api: LettaApi, stack: str, change: Change, resolve: Resolve) -> str:
    match change.kind:
        case Kind.AGENT:
            return _create_agent(api, stack, change, resolve)
        case Kind.BLOCK:
            return _create_block(api, stack, change, resolve)
        case Kind.CONVERSATION:
            return _create_conversation(api, change, resolve)
        case Kind.IDENTITY:
            return _create_identity(api, stack, change)
        case _:
            assert_never(change.kind)


def _create_agent(api: LettaApi, stack: str, change: Change, resolve: Resolve) -> str:
    block_ids = [
        resolve(ref) for role, ref in sorted(change.refs.items()) if role.startswith("block:")
    ]
    body = {**change.body, **({"block_ids": block_ids} if block_ids else {})}

    def find() -> JSON | None:
        params = {"tags": [ownership.stack_tag(stack)], "name": body["name"], "limit": 50}
        found = api.get("/v1/agents/", params, address=change.address)
        return _first_owned(found, stack, change.address)

    created = api.create("/v1/agents/", body, address=change.address, find_existing=find)
    return str(created["id"])


def _create_block(api: LettaApi, stack: str, change: Change, resolve: Resolve) -> str:
    """A shared block, or a block added to an existing agent (created, then attached)."""
    record = {"stack": stack, "address": change.address}
    metadata = change.body.get("metadata") or {ownership.METADATA_KEY: record}
    body = {**change.body, "tags": [ownership.stack_tag(stack)], "metadata": metadata}

    def find() -> JSON | None:
        params = {"tags": [ownership.stack_tag(stack)], "label": body["label"], "limit": 50}
        found = api.get("/v1/blocks/", params, address=change.address)
        return _first_owned(found, stack, change.address)

    block = api.create("/v1/blocks/", body, address=change.address, find_existing=find)
    block_id = str(block["id"])
    agent = change.refs.get("agent")
    if agent is not None:
        path = f"/v1/agents/{resolve(agent)}/core-memory/blocks/attach/{block_id}"
        api.patch(path, address=change.address)
    return block_id


def _create_conversation(api: LettaApi, change: Change, resolve: Resolve) -> str:
    agent_id = resolve(change.refs["agent"])
    summary = str(change.body["summary"])
    parsed = ownership.parse_conversation_summary(summary)
    marker = summary[len(parsed[0]) :].strip() if parsed else summary

    def find() -> JSON | None:
        params = {"agent_id": agent_id, "summary_search": marker, "limit": 10}
        found = api.get("/v1/conversations/", params, address=change.address)
        return next((c for c in found if str(c.get("summary", "")).endswith(marker)), None)

    created = api.create(
        "/v1/conversations/",
        change.body,
        params={"agent_id": agent_id},
        address=change.address,
        find_existing=find,
    )
    return str(created["id"])


def _create_identity(api: LettaApi, stack: str, change: Change) -> str:
    key = str(change.body["identifier_key"])

    def find() -> JSON | None:
        found = api.get("/v1/identities/", {"identifier_key": key}, address=change.address)
        return next((i for i in found if _identity_stack(i) == stack), None)

    created = api.create("/v1/identities/", change.body, address=change.address, find_existing=find)
    return str(created["id"])


def _update(api: LettaApi, change: Change) -> None:
    match change.kind:
        case Kind.AGENT:
            path = f"/v1/agents/{change.resource_id}"
        case Kind.BLOCK:
            path = f"/v1/blocks/{change.resource_id}"
        case Kind.CONVERSATION:
            path = f"/v1/conversations/{change.resource_id}"
        case Kind.IDENTITY:
            path = f"/v1/identities/{change.resource_id}"
        case _:
            assert_never(change.kind)
    api.patch(path, change.body, address=change.address)


def _link(api: LettaApi, change: Change, resolve: Resolve) -> None:
    agent_id = resolve(change.refs["agent"])
    verb = "attach" if change.action is Action.ATTACH else "detach"
    if change.kind is Kind.BLOCK:
        other = change.resource_id or resolve(change.refs["block"])
        path = f"/v1/agents/{agent_id}/core-memory/blocks/{verb}/{other}"
    else:
        other = change.resource_id or resolve(change.refs["identity"])
        path = f"/v1/agents/{agent_id}/identities/{verb}/{other}"
    api.patch(path, address=change.address)


def _delete(api: LettaApi, change: Change) -> None:
    """Delete a resource; an agent's own blocks go with it (the server leaves them behind)."""
    match change.kind:
        case Kind.AGENT:
            api.delete(f"/v1/agents/{change.resource_id}", address=change.address)
            for block_id in change.body.get("block_ids", []):
                _delete_if_present(api, f"/v1/blocks/{block_id}", change.address)
        case Kind.BLOCK:
            api.delete(f"/v1/blocks/{change.resource_id}", address=change.address)
        case Kind.CONVERSATION:
            api.delete(f"/v1/conversations/{change.resource_id}", address=change.address)
        case Kind.IDENTITY:
            api.delete(f"/v1/identities/{change.resource_id}", address=change.address)
        case _:
            assert_never(change.kind)


def _delete_if_present(api: LettaApi, path: str, address: str) -> None:
    try:
        api.delete(path, address=address)
    except LettaApplyError as exc:
        if getattr(exc, "status", None) != 404:
            raise


def _first_owned(found: list[JSON], stack: str, address: str) -> JSON | None:
    return next(
        (r for r in found if ownership.metadata_address(r.get("metadata"), stack) == address),
        None,
    )


def _identity_stack(identity: Mapping[str, JSON]) -> JSON:
    properties = {p["key"]: p["value"] for p in identity.get("properties") or ()}
    return properties.get(ownership.IDENTITY_MARKER_KEY)
