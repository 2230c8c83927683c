"""Creates whose answers are lost: the server made the resource, the client saw an error.
Each kind (agents, conversations, identities, shared blocks) is read back, not sent again."""

from __future__ import annotations

from pathlib import Path

import pytest
from letta_client import Letta

from tests import faultproxy
from tests.faultproxy import Rule
from tests.faults.fleet import assert_converged, assert_outputs_match, converges, write_fleet
from tests.integration.helpers import letta_apply

pytestmark = pytest.mark.server

# (collection path, how many creates the fleet below makes there); identities include the lock.
KINDS = {
    "agents": ("/v1/agents/", 4),
    "conversations": ("/v1/conversations/", 2),
    "identities": ("/v1/identities/", 3),
    "shared blocks": ("/v1/blocks/", 1),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_lost_create_is_read_back_not_repeated(
    kind: str, tmp_path: Path, letta_url: str, stack: str, sdk: Letta
) -> None:
    path, creates = KINDS[kind]
    fleet = write_fleet(tmp_path / "m", stack, dedicated=3, shared=2, identity=2)
    lose_all = Rule("lose", "POST", rf"^{path}?(\?|$)")
    with faultproxy.running(letta_url, [lose_all]) as proxy:
        applied = letta_apply(str(fleet.path), url=proxy.url)
    assert applied.code == 0, applied.output
    assert proxy.injected["lose"] == creates
    assert proxy.forwarded[f"POST {path}"] == creates
    assert_converged(sdk, fleet)
    assert_outputs_match(sdk, fleet, letta_url)
    converges(fleet, letta_url)
