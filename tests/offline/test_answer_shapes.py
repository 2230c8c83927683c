"""A server answering in another shape (a field the Letta API renamed, or of another type):
each kind stops at its parse point with one line naming the route and the field, and the
command exits as for any error (1; 3 for an apply whose changes failed), never with a
traceback and never planning from a record read half."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import UnexpectedAnswer
from reconciler.export.defaults import read_defaults
from reconciler.kinds import folder as folders
from tests.letta_memory import Request
from tests.offline.stacks import Cli, Server
from tests.offline.test_apply import MIXED, mixed
from tests.offline.test_data_sources import BODY, DOCS, write_docs

SUPPORTED = "; is this the Letta version letta-apply supports?"
Change = Callable[[Any], None]


def answering(server: Server, monkeypatch: pytest.MonkeyPatch, method: str, path: str) -> Any:
    """Decorates a change made to the server's answers to `method` requests whose path
    matches `path` (after the server acted: only the answer differs)."""

    def install(change: Change) -> Change:
        route = server.letta._route

        def changed(request: Request) -> Any:
            answer = route(request)
            if request.method == method and re.fullmatch(path, request.path):
                change(answer)
            return answer

        monkeypatch.setattr(server.letta, "_route", changed)
        return change

    return install


def renamed(old: str, new: str) -> Change:
    """Each record of an answer (one, or a list) with field `old` called `new`."""

    def change(answer: Any) -> None:
        for record in answer if isinstance(answer, list) else [answer]:
            record[new] = record.pop(old)

    return change


def applied(server: Server, tmp_path: Path, body: str = MIXED) -> str:
    server.apply(mixed(tmp_path, body))
    return str(tmp_path / "stack")


def one_error(cli: Cli, *args: str, code: int = 1) -> str:
    ran = cli(*args)
    assert ran.code == code, ran
    assert "Traceback" not in ran.err
    return ran.err


LISTINGS = [
    pytest.param("/v1/agents/", "metadata", id="agent"),
    pytest.param("/v1/blocks/", "label", id="block"),
    pytest.param("/v1/conversations/", "summary", id="conversation"),
    pytest.param("/v1/tools/", "metadata_", id="tool"),
]


@pytest.mark.parametrize(("route", "field"), LISTINGS)
def test_a_renamed_field_of_a_listed_record_is_one_line_naming_route_and_field(
    server: Server,
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    route: str,
    field: str,
) -> None:
    folder = applied(server, tmp_path)
    answering(server, monkeypatch, "GET", route)(renamed(field, f"{field}_v2"))
    err = one_error(cli, "plan", folder)
    assert err == f"Error: GET {route}: the server's answer has no `{field}`{SUPPORTED}\n"


def test_a_renamed_field_of_an_agents_block_names_where_it_is(
    server: Server, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = applied(server, tmp_path)

    def change(agents: Any) -> None:
        for agent in agents:
            for block in agent["blocks"]:
                block["name"] = block.pop("label")

    answering(server, monkeypatch, "GET", "/v1/agents/")(change)
    err = one_error(cli, "plan", folder)
    assert (
        err == f"Error: GET /v1/agents/: the server's answer has no `blocks[0].label`{SUPPORTED}\n"
    )


def test_an_identity_attached_to_an_agent_is_read_through_the_identity_record(
    server: Server, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = applied(server, tmp_path)

    def change(agents: Any) -> None:
        for agent in agents:
            for identity in agent["identities"]:
                identity["key"] = identity.pop("identifier_key")

    answering(server, monkeypatch, "GET", "/v1/agents/")(change)
    err = one_error(cli, "plan", folder)
    assert err == (
        "Error: GET /v1/agents/ (agent.identities): the server's answer has no "
        f"`identifier_key`{SUPPORTED}\n"
    )


def test_a_listed_identity_of_another_shape_is_one_line(
    server: Server, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A declared identity attached to no agent is looked up in the identity listing."""
    folder = applied(server, tmp_path)
    server.named("support")["identity_ids"].clear()
    answering(server, monkeypatch, "GET", "/v1/identities/")(renamed("properties", "props"))
    err = one_error(cli, "plan", folder)
    assert (
        err == f"Error: GET /v1/identities/: the server's answer has no `properties`{SUPPORTED}\n"
    )


def test_an_mcp_server_of_another_shape_is_one_line(
    server: Server, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = applied(server, tmp_path)
    server.letta.mcp_server("orders", command="python", args=["-m", "orders_mcp"])
    answering(server, monkeypatch, "GET", "/v1/mcp-servers/")(renamed("server_name", "name"))
    err = one_error(cli, "plan", folder)
    assert (
        err == f"Error: GET /v1/mcp-servers/: the server's answer has no `server_name`{SUPPORTED}\n"
    )


def test_a_field_of_another_type_is_named_with_both_types(
    server: Server, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = applied(server, tmp_path)

    def change(agents: Any) -> None:
        for agent in agents:
            agent["tags"] = ",".join(agent["tags"])

    answering(server, monkeypatch, "GET", "/v1/agents/")(change)
    err = one_error(cli, "plan", folder)
    assert err == (
        "Error: GET /v1/agents/: `tags` in the server's answer is a string, not a list"
        f"{SUPPORTED}\n"
    )


def test_a_lock_record_of_another_shape_stops_the_apply_before_any_change(
    server: Server, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = str(mixed(tmp_path) and tmp_path / "stack")
    answering(server, monkeypatch, "POST", "/v1/identities/")(renamed("identifier_key", "key"))
    err = one_error(cli, "run", folder, "--auto-approve")
    assert err.endswith(
        "Error: lock/acme: POST /v1/identities/: the server's answer has no "
        f"`identifier_key`{SUPPORTED}\n"
    )
    assert not server.letta.agents.rows


def test_a_create_answered_without_an_id_fails_that_change_only(
    server: Server, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = str(mixed(tmp_path) and tmp_path / "stack")
    answering(server, monkeypatch, "POST", "/v1/conversations/")(renamed("id", "conversation_id"))
    err = one_error(cli, "run", folder, "--auto-approve", code=3)
    assert (
        "  conversation/support/bob: POST /v1/conversations/: the server's answer has no "
        f"`id`{SUPPORTED}\n"
    ) in err
    assert server.named("assistant-alice")


def test_a_full_page_whose_last_item_has_no_id_is_refused(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The id of a page's last item is where the next page starts."""
    for n in range(2):
        server.letta.block(label="page", value=str(n), tags=["p"])
    answering(server, monkeypatch, "GET", "/v1/blocks/")(renamed("id", "block_id"))
    with pytest.raises(
        UnexpectedAnswer, match=r"^GET /v1/blocks/: an item of the listing has no `id`"
    ):
        list(server.api.paginate("/v1/blocks/", {"tags": ["p"]}, page_size=2))


def test_a_folder_of_another_shape_is_one_line(
    server: Server, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = applied(server, tmp_path, MIXED + "folders:\n  docs: {description: Docs}\n")
    answering(server, monkeypatch, "GET", "/v1/folders/")(renamed("metadata", "meta"))
    err = one_error(cli, "plan", folder)
    assert err == f"Error: GET /v1/folders/: the server's answer has no `metadata`{SUPPORTED}\n"


def test_a_listing_of_ids_pages_after_its_last_id(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server lists a folder's agents by id only: the next page starts after the last."""
    first = [f"agent-{n:03d}" for n in range(100)]
    pages = {None: first, "agent-099": ["agent-100"]}
    asked: list[object] = []

    def get(path: str, params: dict[str, object], **_how: object) -> list[str]:
        asked.append(params.get("after"))
        return list(pages[params.get("after")])  # type: ignore[index]

    monkeypatch.setattr(server.api, "get", get)
    assert folders.agent_ids(server.api, "source-1") == (*first, "agent-100")
    assert asked == [None, "agent-099"]


def test_an_id_of_another_type_in_a_listing_of_ids_is_one_line(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server.api, "get", lambda *_args, **_how: [{"id": "agent-1"}])
    with pytest.raises(UnexpectedAnswer, match=r"^GET /v1/folders/source-1/agents: the server's"):
        folders.agent_ids(server.api, "source-1")


SOURCES = [
    pytest.param(
        "GET", r"/v1/archives/", renamed("description", "about"), "description", id="archive"
    ),
    pytest.param(
        "GET", r"/v1/folders/[^/]+/files", renamed("file_name", "name"), "file_name", id="file"
    ),
    pytest.param(
        "POST",
        r"/v1/passages/search",
        lambda found: [item["passage"].pop("metadata") for item in found],
        "passage.metadata",
        id="passage",
    ),
]


@pytest.mark.parametrize(("method", "route", "change", "field"), SOURCES)
def test_a_data_source_of_another_shape_is_one_line(
    server: Server,
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    route: str,
    change: Change,
    field: str,
) -> None:
    write_docs(tmp_path, DOCS)
    folder = applied(server, tmp_path, BODY.format())
    answering(server, monkeypatch, method, route)(change)
    err = one_error(cli, "plan", folder)
    assert re.fullmatch(
        rf"Error: (archive \S+: )?{method} {route}: the server's answer has no "
        rf"`{re.escape(field)}`"
        rf"{re.escape(SUPPORTED)}\n",
        err,
    ), err


def test_a_model_list_of_another_shape_is_one_line(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export reads the server's defaults from its model list."""
    monkeypatch.setattr(server.api, "get", lambda *_args, **_how: {"models": []})
    refused = r"^GET /v1/models/: the server's answer is an object, not a list"
    with pytest.raises(UnexpectedAnswer, match=refused):
        read_defaults(server.api)
