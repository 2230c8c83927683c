"""The client closes its connections when the `with` block that opened it ends."""

from __future__ import annotations

import pytest

from reconciler.client import LettaApi, Target


def test_leaving_the_block_closes_the_client() -> None:
    with LettaApi(Target(base_url="http://127.0.0.1:9")) as api:
        assert not api.http.is_closed
    assert api.http.is_closed


def test_an_error_in_the_block_closes_it_too() -> None:
    with pytest.raises(RuntimeError), LettaApi(Target(base_url="http://127.0.0.1:9")) as api:
        raise RuntimeError("boom")
    assert api.http.is_closed
