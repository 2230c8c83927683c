"""A saved plan is applied without the manifests: the tools it names (the server's among them)
are looked up by name because the tool kind reads them from the plan's changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reconciler.kinds import tool
from reconciler.kinds.read import read_live
from tests.plan.data import plan_case

TOOLS = Path(__file__).parents[1] / "plan" / "cases" / "35-tools-defined-attached-and-blocked"
NAMED = ["fetch_webpage", "hand_made", "lookup_order", "old_helper", "track", "web_search"]
"""What the case's plan creates, updates, attaches, detaches, and links an agent it creates to."""


class Server:
    """Answers every listing with nothing; keeps the tool listings' parameters."""

    def __init__(self) -> None:
        self.tool_params: list[Any] = []

    def paginate(
        self, path: str, params: Any = None, _page_size: int = 200, **_options: object
    ) -> Iterator[Any]:
        if path == tool.ROUTE:
            self.tool_params.append(params)
        return iter(())

    def get(self, _path: str, *_args: object, **_kwargs: object) -> Any:
        return []


def test_the_tools_a_plan_names_are_those_of_its_changes_and_its_creates_links() -> None:
    plan = plan_case(TOOLS)
    assert sorted(tool.planned(plan.changes)) == NAMED
    assert tool.planned(()) == set()


def test_a_saved_plans_tools_are_looked_up_by_name_when_it_is_applied() -> None:
    plan = plan_case(TOOLS)
    server = Server()
    read_live(server, plan.stack, changes=plan.changes)  # type: ignore[arg-type]
    assert {"names": NAMED} in server.tool_params
    server = Server()
    read_live(server, plan.stack)  # type: ignore[arg-type]
    assert not [params for params in server.tool_params if "names" in params]
