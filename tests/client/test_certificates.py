"""Which certificates the client checks the server's against: the default store for a server
reached over TLS, and none at all for one reached over plain http (the store takes tens of
milliseconds to load, and such a server never presents a certificate)."""

from __future__ import annotations

import ssl

import pytest

from reconciler.client import _base_url, _certificates


def test_a_server_over_https_is_checked_against_the_default_store() -> None:
    assert _certificates(_base_url("https://letta.example.com")) is True


def test_a_server_over_plain_http_loads_no_store_and_would_refuse_any_certificate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    context = _certificates(_base_url("http://127.0.0.1:8283"))
    assert isinstance(context, ssl.SSLContext)
    assert context.cert_store_stats()["x509_ca"] == 0
    # Were a TLS connection ever made with it, it would fail, never go unchecked.
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "ALL_PROXY", "http_proxy"])
def test_a_server_over_http_behind_a_proxy_keeps_the_default_store(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    """The proxy itself may be reached over TLS."""
    monkeypatch.setenv(variable, "https://proxy.example.com:3128")
    assert _certificates(_base_url("http://letta.internal:8283")) is True
