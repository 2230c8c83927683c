"""Step outputs as the runner reads them: no value can end its block early and set another."""

from __future__ import annotations

from pathlib import Path

from reconciler.gitops.report import write_outputs, write_summary
from tests.actionrunner import read_outputs


def test_outputs_hold_any_value(tmp_path: Path) -> None:
    path = tmp_path / "output"
    hostile = "line one\nEOF\nexitcode=0\nsummary<<X"
    write_outputs(path, {"summary": hostile, "exitcode": "2"})
    write_outputs(path, {"plan_json": "/tmp/plan.json"})
    assert read_outputs(path.read_text()) == {
        "summary": hostile,
        "exitcode": "2",
        "plan_json": "/tmp/plan.json",
    }


def test_nothing_is_written_outside_a_runner(tmp_path: Path) -> None:
    write_outputs(None, {"exitcode": "0"})
    write_summary(None, "text")
    summary = tmp_path / "summary.md"
    write_summary(summary, "## one\n\n")
    write_summary(summary, "## two")
    assert summary.read_text() == "## one\n## two\n"
