"""Adoption as planned changes (`--adopt`): existing resources that hold a declared resource's
key are taken over by the stack, each as an `Adopt` change, instead of being reported as in
the way.

A candidate is a resource no stack has marked that holds exactly one declared resource's key;
what that key is, and what comes with a candidate, each kind says in its `adopting`, asked in
`KINDS` order (so a kind sees what the kinds before it adopted: a conversation the agent it
is on, a folder's files their folder). A resource another stack marked is never a candidate,
and where several hold one key none is adopted: the plan keeps reporting them, as without
`--adopt`.

`adopting` returns the live state as if the marks were written, so the kinds plan the rest as
usual and the plan shows, beside each adoption, whatever else differs from the manifests.
"""

from __future__ import annotations

from reconciler.desired import DesiredState
from reconciler.kinds import registry
from reconciler.kinds.common import Adoption
from reconciler.live.state import LiveState
from reconciler.plan.model import Adopt


def adopting(desired: DesiredState, live: LiveState) -> tuple[LiveState, list[Adopt]]:
    """The live state with every candidate marked as the stack's, and the adoptions."""
    found = Adoption(desired.stack)
    for entry in registry.KINDS:
        live = entry.adopting(desired, live, found)
    return live, found.changes
