"""A server's error message is printed without the API key or a secret's value in it: a
server, or a proxy before it, may quote what it was sent."""

from __future__ import annotations

import traceback

import pytest

from reconciler.address import Address
from reconciler.client import LettaApi, Target
from reconciler.environ import EnvGrant
from reconciler.errors import LettaApplyError, ServerError
from reconciler.keys import OperatorKey
from reconciler.secrets import SecretAccess
from tests.cli.answering import Answer, answering

KEY = "sk-letta-0123456789abcdef"
VALUE = "pin-4821-" + "x" * 600  # longer than the part of a message kept


def quotes_what_it_got(_method: str, _path: str) -> Answer:
    detail = f"refused: header Bearer {KEY}, body {{'secrets': {{'PIN': '{VALUE}'}}}}"
    return Answer.json({"detail": detail}, 400)


def test_neither_the_key_nor_a_secret_sent_is_in_the_error() -> None:
    environ = {"SHOP_PIN": VALUE, "LETTA_APPLY_KEY": "k" * 32}
    access = SecretAccess(EnvGrant(("SHOP_*",), environ), OperatorKey(KEY, environ))
    with (
        answering(quotes_what_it_got) as server,
        LettaApi(Target(server.url, api_key=KEY), secrets=access) as api,
    ):
        values = api.secrets.reveal({"PIN": {"env": "SHOP_PIN"}}, Address.agent("desk"))
        with pytest.raises(ServerError) as caught:
            api.patch("/v1/agents/agent-1", {"secrets": values}, address="agent/desk")
    message = str(caught.value)
    assert message.startswith(
        "agent/desk: refused: header Bearer ***, body {'secrets': {'PIN': '***'}}"
    )
    assert KEY not in message and "pin-4821" not in message


def test_an_api_key_no_header_can_carry_is_not_quoted() -> None:
    """A key pasted with its newline cannot be sent; the error says so without the key."""
    with (
        answering(quotes_what_it_got) as server,
        LettaApi(Target(server.url, api_key=KEY + "\n")) as api,
    ):
        with pytest.raises(LettaApplyError) as caught:
            api.get("/v1/health/")
        assert server.requests == []
    message = str(caught.value)
    assert "a header is not valid" in message and "LETTA_API_KEY" in message
    assert KEY not in message
    shown = "".join(traceback.format_exception(caught.value))  # what --debug prints
    assert KEY not in shown


def test_a_secret_quoted_inside_a_validation_error_list_is_not_printed() -> None:
    """FastAPI answers a 422 with a list of errors, shown as Python writes it, escapes and all."""
    value = "line\\one\nline'two"
    environ = {"SHOP_PIN": value, "LETTA_APPLY_KEY": "k" * 32}
    access = SecretAccess(EnvGrant(("SHOP_*",), environ), OperatorKey(None, environ))

    def validation(_method: str, _path: str) -> Answer:
        return Answer.json({"detail": [{"loc": ["body", "secrets"], "input": {"PIN": value}}]}, 422)

    with answering(validation) as server, LettaApi(Target(server.url), secrets=access) as api:
        values = api.secrets.reveal({"PIN": {"env": "SHOP_PIN"}}, Address.agent("desk"))
        with pytest.raises(ServerError) as caught:
            api.patch("/v1/agents/agent-1", {"secrets": values}, address="agent/desk")
    message = str(caught.value)
    assert """'input': {'PIN': "***"}""" in message, message
    assert "line" not in message
