"""Asking an apply to stop: no change starts after that, and the tally says what was done and
what was not. Ctrl-C at the command line is that request the first time, and stops the
waiting the second time. (The real server, with a signal to the process, is in
tests/faults/test_ctrl_c.py.)"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from reconciler.apply import apply_plan
from reconciler.cli.interrupts import graceful_stop
from reconciler.client import LettaApi, Target
from reconciler.errors import Interrupted
from tests.cli.answering import Answer, answering
from tests.cli.invoke import EXAMPLE, run
from tests.plan.data import load_case, plan_case

EVERYTHING = Path(__file__).parents[1] / "plan" / "cases" / "01-empty-server-creates-everything"


def test_an_apply_asked_to_stop_starts_nothing_more() -> None:
    _desired, live = load_case(EVERYTHING)
    plan = plan_case(EVERYTHING)
    with (
        answering(lambda _method, _path: Answer.json(None)) as server,
        LettaApi(Target(server.url)) as api,
        pytest.raises(Interrupted) as stopped,
    ):
        apply_plan(api, plan, live, stop=lambda: True)
    assert server.requests == []
    assert (stopped.value.done, stopped.value.in_flight) == (0, 0)
    assert stopped.value.not_started == len(plan.changes)
    assert stopped.value.lines() == (
        f"Interrupted: 0 change(s) done, {len(plan.changes)} not started. "
        "Run the same command again to converge.",
    )


def test_the_tally_names_failures_and_changes_abandoned_in_flight() -> None:
    stopped = Interrupted(3, [], 2, 5).advising("Make a new plan and apply it to converge.")
    assert stopped.lines() == (
        "Interrupted: 3 change(s) done, 2 interrupted in flight (they may have been applied), "
        "5 not started. Make a new plan and apply it to converge.",
    )


def test_the_first_ctrl_c_asks_to_stop_and_the_second_interrupts() -> None:
    before = signal.getsignal(signal.SIGINT)
    with graceful_stop() as stop_requested:
        assert not stop_requested()
        os.kill(os.getpid(), signal.SIGINT)
        assert stop_requested()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


def test_asked_twice_it_stops_waiting_and_counts_the_changes_in_flight() -> None:
    _desired, live = load_case(EVERYTHING)
    plan = plan_case(EVERYTHING)
    release = threading.Event()

    def slow(method: str, _path: str) -> Answer:
        if method != "GET":
            release.wait(timeout=30)  # a create that takes long: still in flight when asked
        return Answer.json([])

    def second_ctrl_c(_message: str) -> None:
        raise KeyboardInterrupt

    with answering(slow) as server, LettaApi(Target(server.url)) as api:
        requests = lambda: len(server.requests)  # noqa: E731
        with pytest.raises(Interrupted) as stopped:
            apply_plan(
                api, plan, live, parallelism=2, stop=lambda: requests() > 0, notify=second_ctrl_c
            )
        release.set()
    assert stopped.value.in_flight >= 1
    assert stopped.value.done == 0
    total = stopped.value.done + stopped.value.in_flight + stopped.value.not_started
    assert total == len(plan.changes)
    assert "interrupted in flight (they may have been applied)" in stopped.value.lines()[0]


def test_ctrl_c_before_any_change_is_exit_code_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import reconciler.manifest

    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(reconciler.manifest, "load_desired", interrupted)
    assert run([EXAMPLE, "--base-url", "http://127.0.0.1:9"]) == 130
    assert capsys.readouterr().err.strip() == "Interrupted."
