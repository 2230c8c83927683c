"""The registry drives everything generic about a kind: a kind added to `KINDS` (here a fake
one, defined in this file only) is read with the others, fingerprinted, counted,
owned-checked and resolved, adopted, brings what it needs into a scoped run, and a saved plan
keeps how it was read and has it read the same way again, without any other module naming
it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pytest

from reconciler.address import Address, Kind
from reconciler.apply.checks import check_owned
from reconciler.desired import AgentSpec, DesiredState
from reconciler.errors import LettaApplyError, UnexpectedAnswer, UnsafePlanError
from reconciler.kinds import agent, registry
from reconciler.kinds.common import Adoption, Reading
from reconciler.kinds.read import read_live
from reconciler.kinds.registry import fingerprint, kept_ids, owned_count, owned_ids
from reconciler.live.state import LiveState, Part, Resource
from reconciler.plan.builder import Builder
from reconciler.plan.model import Adopt, Delete, Detach, Plan, Update
from reconciler.plan.serialize import plan_document, plan_from_json
from reconciler.planner import build_plan
from reconciler.scope import Scope, cut
from reconciler.values import Frozen

FAKE = Kind.LOCK
"""A kind no registered module handles: the fake kind stands in for a new one."""


@dataclass(frozen=True)
class Widget:
    id: str
    name: str
    value: str
    created_at: str = ""


@dataclass(frozen=True)
class Widgets:
    found: tuple[Widget, ...] = ()
    only: tuple[str, ...] | None = None
    """The names looked up (None: every widget listed), as a saved plan records it."""


class WidgetKind:
    """A kind as a module would define it: its part, what it owns and what a plan checks."""

    KIND = FAKE
    LIVE = Part(FAKE, Widgets())

    @staticmethod
    def owned(live: LiveState) -> Mapping[Address, Sequence[Resource]]:
        groups: dict[Address, list[Resource]] = {}
        for widget in live.part(WidgetKind.LIVE).found:
            groups.setdefault(Address.lock(widget.name), []).append(widget)
        return groups

    @staticmethod
    def read(reading: Reading) -> Widgets:
        # A kind may wait for another's part (as conversations wait for their agents).
        assert reading.part(agent.LIVE).listed == ()
        record = (reading.records or {}).get(FAKE)
        only = None if record is None else tuple(record["only"])
        listed = reading.api.paginate("/v1/widgets/", None, reading.page_size)
        found = (Widget(w["id"], w["name"], w["value"]) for w in listed)
        return Widgets(tuple(w for w in found if only is None or w.name in only), only)

    @staticmethod
    def read_record(live: LiveState) -> Frozen | None:
        only = live.part(WidgetKind.LIVE).only
        return None if only is None else Frozen({"only": only})

    @staticmethod
    def plan(_desired: DesiredState, _live: LiveState, _out: Builder) -> None:
        return None

    @staticmethod
    def adopting(_desired: DesiredState, live: LiveState, found: Adoption) -> LiveState:
        for widget in live.part(WidgetKind.LIVE).found:
            if widget.value == "unmarked":
                found.take(Address.lock(widget.name), widget.id)
        return live

    @staticmethod
    def deleted_with(_live: LiveState) -> Mapping[str, frozenset[str]]:
        return {}

    @staticmethod
    def named_ids(_live: LiveState) -> Mapping[Address, str]:
        return {}

    @staticmethod
    def fingerprinted(live: LiveState) -> Iterable[object]:
        return live.part(WidgetKind.LIVE).found

    @staticmethod
    def declared(desired: DesiredState) -> Iterable[Address]:
        return (Address.lock(desired.stack),)

    @staticmethod
    def needs(desired: DesiredState) -> Iterable[tuple[Address, Iterable[Address]]]:
        # The stack's widget needs its desk agent (as a file needs its folder).
        return ((Address.lock(desired.stack), (Address.agent("desk"),)),)


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "KINDS", (*registry.KINDS, WidgetKind))


def _live(*widgets: Widget, only: tuple[str, ...] | None = None) -> LiveState:
    return LiveState("acme", {FAKE: Widgets(widgets, only)})


@pytest.mark.usefixtures("registered")
def test_a_registered_kind_is_fingerprinted() -> None:
    before = _live(Widget("w-1", "one", "a"))
    assert fingerprint(before) == fingerprint(_live(Widget("w-1", "one", "a")))
    assert fingerprint(before) != fingerprint(_live(Widget("w-1", "one", "b")))


def test_an_unregistered_kind_is_not() -> None:
    assert fingerprint(_live(Widget("w-1", "one", "a"))) == fingerprint(_live())


@pytest.mark.usefixtures("registered")
def test_a_registered_kind_is_owned_counted_and_resolved() -> None:
    older, copy = Widget("w-1", "one", "a", "2026-01"), Widget("w-2", "one", "a", "2026-02")
    live = _live(older, copy)
    assert owned_ids(live) == {"w-1": Address.lock("one"), "w-2": Address.lock("one")}
    assert owned_count(live) == 2
    assert kept_ids(live)[Address.lock("one")] == "w-1"


@pytest.mark.usefixtures("registered")
def test_a_plan_naming_a_registered_kinds_resource_elsewhere_is_refused() -> None:
    live = _live(Widget("w-1", "one", "a"), Widget("w-2", "two", "a"))
    update = Update(Address.lock("one"), "w-1", ())
    plan = Plan("acme", "http://letta.test", changes=(update,))
    check_owned(plan, live)
    forged = replace(plan, changes=(update, Delete(Address.lock("one"), "w-2", "forged")))
    with pytest.raises(UnsafePlanError, match="w-2"):
        check_owned(forged, live)


class WidgetLinker:
    """A linkable kind as a module would declare it: whether a detach is claimed on the agent
    (attach and detach are never sent here)."""

    def __init__(self, claimed_on_agent: bool) -> None:
        self.DETACH_CLAIMED_ON_AGENT = claimed_on_agent


@pytest.mark.usefixtures("registered")
@pytest.mark.parametrize("claimed_on_agent", [False, True])
def test_a_linkable_kind_says_where_its_detach_is_claimed(
    monkeypatch: pytest.MonkeyPatch, claimed_on_agent: bool
) -> None:
    linkers = {**registry.LINKERS, FAKE: WidgetLinker(claimed_on_agent)}
    monkeypatch.setattr(registry, "LINKERS", linkers)
    live = _live(Widget("w-1", "one", "a"))
    elsewhere = Detach(Address.lock("one"), Address.agent("desk"), "w-other")
    plan = Plan("acme", "http://letta.test", changes=(elsewhere,))
    expected = r"agent/desk \(detaching lock/one\)" if claimed_on_agent else r"lock/one \(w-other\)"
    with pytest.raises(UnsafePlanError, match=expected):
        check_owned(plan, live)


class Server:
    """Answers every listing with nothing, except the widgets."""

    def __init__(self, widgets: list[dict[str, str]]) -> None:
        self.widgets = widgets
        self.answers: dict[str, list[dict[str, str]]] = {}
        self.listed: list[str] = []

    def paginate(
        self, path: str, _params: object = None, _page_size: int = 200, **_options: object
    ) -> Iterator[Any]:
        self.listed.append(path)
        return iter(self.widgets if path == "/v1/widgets/" else self.answers.get(path, []))

    def get(self, path: str, *_args: object, **_kwargs: object) -> Any:
        self.listed.append(path)
        return []


@pytest.mark.usefixtures("registered")
def test_a_registered_kind_is_read_with_the_others() -> None:
    server = Server([{"id": "w-1", "name": "one", "value": "a"}])
    live = read_live(server, "acme")  # type: ignore[arg-type]
    assert live.part(WidgetKind.LIVE) == Widgets((Widget("w-1", "one", "a"),))
    assert {"/v1/widgets/", "/v1/agents/", "/v1/blocks/"} <= set(server.listed)
    server.widgets[0]["value"] = "b"
    assert fingerprint(read_live(server, "acme")) != fingerprint(live)  # type: ignore[arg-type]


def test_an_unregistered_kind_is_not_read() -> None:
    server = Server([{"id": "w-1", "name": "one", "value": "a"}])
    assert read_live(server, "acme").part(WidgetKind.LIVE) == Widgets()  # type: ignore[arg-type]
    assert "/v1/widgets/" not in server.listed


def test_a_record_without_a_field_a_kind_reads_is_an_unexpected_answer() -> None:
    server = Server([])
    server.answers["/v1/agents/"] = [{"name": "renamed-id", "agent_id": "a-1", "tags": []}]
    with pytest.raises(
        UnexpectedAnswer, match=r"^GET /v1/agents/: the server's answer has no `id`"
    ):
        read_live(server, "acme")  # type: ignore[arg-type]


@pytest.mark.usefixtures("registered")
def test_a_kind_reading_a_record_without_its_parse_point_still_fails_in_one_line() -> None:
    server = Server([{"name": "one", "value": "a"}])
    with pytest.raises(UnexpectedAnswer, match=r"reading lock records.*KeyError: 'id'"):
        read_live(server, "acme")  # type: ignore[arg-type]


@pytest.mark.usefixtures("registered")
def test_how_a_registered_kind_was_read_is_saved_with_the_plan_and_read_again() -> None:
    live = _live(Widget("w-1", "one", "a"), only=("one",))
    plan = build_plan(DesiredState("acme"), live, target="http://letta.test")
    saved = plan_document(plan)
    assert saved["reads"] == {
        "identity": {"listed": True, "looked_up": []},
        FAKE.value: {"only": ["one"]},
    }
    again = plan_from_json(json.dumps(saved))
    server = Server([{"id": "w-1", "name": "one", "value": "a"}])
    server.widgets.append({"id": "w-2", "name": "two", "value": "b"})
    read = read_live(server, "acme", records=dict(again.reads))  # type: ignore[arg-type]
    assert read.part(WidgetKind.LIVE) == Widgets((Widget("w-1", "one", "a"),), ("one",))
    assert fingerprint(read) == fingerprint(live)


@pytest.mark.usefixtures("registered")
def test_a_kind_read_as_always_records_nothing() -> None:
    plan = build_plan(DesiredState("acme"), _live(Widget("w-1", "one", "a")), target="t")
    assert [kind for kind, _ in plan.reads] == [Kind.IDENTITY]


AGENTS = (AgentSpec(Address.agent("desk"), "desk"), AgentSpec(Address.agent("other"), "other"))


@pytest.mark.usefixtures("registered")
def test_a_scope_selecting_a_registered_kinds_resource_brings_what_it_needs() -> None:
    scoped = cut(DesiredState("acme", agents=AGENTS), Scope(targets=("lock/*",)))
    assert scoped.selected == {Address.lock("acme")}
    assert scoped.needed == {Address.lock("acme"), Address.agent("desk")}
    assert [spec.address for spec in scoped.desired.agents] == [Address.agent("desk")]


def test_an_unregistered_kind_is_never_selected() -> None:
    with pytest.raises(LettaApplyError, match="selects nothing declared"):
        cut(DesiredState("acme", agents=AGENTS), Scope(targets=("lock/*",)))


@pytest.mark.usefixtures("registered")
def test_a_registered_kind_is_asked_what_it_adopts() -> None:
    live = _live(Widget("w-1", "one", "unmarked"), Widget("w-2", "two", "a"))
    plan = build_plan(DesiredState("acme"), live, target="t", adopt=True)
    assert plan.changes == (Adopt(Address.lock("one"), "w-1"),)
