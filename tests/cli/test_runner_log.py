"""In GitHub Actions a printed line starting with `::` (or `##[`) would be a workflow command:
every such line start is escaped, whatever prints it and however the line is split into
writes; elsewhere output is unchanged."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.cli.runner_log import NoWorkflowCommands


def written(*writes: str, flush: bool = False) -> str:
    target = io.StringIO()
    stream = NoWorkflowCommands(target)
    for text in writes:
        stream.write(text)
    if flush:
        stream.flush()
    return target.getvalue()


def test_a_command_at_the_start_of_a_line_is_escaped() -> None:
    assert written("::set-output name=x::1\n") == "\\::set-output name=x::1\n"
    assert written("ok\n  ::add-mask::v\n##[error]x\n") == "ok\n  \\::add-mask::v\n\\##[error]x\n"


def test_a_command_split_across_writes_is_escaped() -> None:
    assert written("a\n:", ":stop-commands::t", "\n") == "a\n\\::stop-commands::t\n"
    assert written("  #", "#", "[warning]x\n") == "  \\##[warning]x\n"
    assert written(":", flush=True) + "" == "\\:"  # may still become one: escaped


def test_a_carriage_return_starts_a_line_as_the_runner_reads_it() -> None:
    """The runner reads lines as .NET does: a lone `\r` ends one too."""
    assert written("ok\r::add-mask::v\n") == "ok\r\\::add-mask::v\n"
    assert written("ok\r\n::error::x\n") == "ok\r\n\\::error::x\n"
    assert written("ok\r", ":", ":warning::x\n") == "ok\r\\::warning::x\n"


def test_other_lines_pass_unchanged() -> None:
    text = "Target: http://x · stack: a\n  + agent/desk: (x::y)\n:one colon\n\n"
    assert written(text) == text


def test_the_command_line_escapes_what_it_prints_in_github_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A manifest file named like a workflow command, quoted at the start of error lines."""
    name = "::set-env name=NODE_OPTIONS::--require=x"
    (tmp_path / name).mkdir()
    (tmp_path / name / "a.yaml").write_text("apiVersion: letta-apply/v1\nstack: [\n")
    (tmp_path / name / "b.yaml").write_text("apiVersion: letta-apply/v1\nstack: [\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    with pytest.raises(SystemExit):
        main(["validate", name])
    lines = capsys.readouterr().err.splitlines()
    assert any(line.startswith(f"\\{name}/") for line in lines), lines
    assert not any(line.lstrip().startswith("::") for line in lines)
