"""The invalid corpus: every folder under invalid/ is a set of manifests that must fail.

Each folder holds its files and `expected.txt`, one `file:line:col: message` substring per
line; `args.txt`, if present, replaces the default argument `.` (the folder itself).
Inputs too big to commit are generated here instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.manifest.cli import run_validate

CORPUS = Path(__file__).parent / "invalid"
CASES = sorted(path.name for path in CORPUS.iterdir() if path.is_dir())
HEAD = "apiVersion: letta-apply/v1\nstack: demo\n"


@pytest.mark.parametrize("case", CASES)
def test_invalid_case(
    case: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = CORPUS / case
    monkeypatch.chdir(folder)
    args_file = folder / "args.txt"
    args = args_file.read_text().split() if args_file.exists() else ["."]
    code, output = run_validate(args, capsys)
    assert code == 1, output
    assert "Traceback" not in output
    for expected in (folder / "expected.txt").read_text().splitlines():
        assert expected in output, f"missing {expected!r} in:\n{output}"


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 45


def test_file_over_size_limit_refused_before_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    big = tmp_path / "big.yaml"
    filler = "# " + "x" * 98 + "\n"
    big.write_text(HEAD + filler * (10 * 1024 * 1024 // len(filler)))
    monkeypatch.chdir(tmp_path)
    code, output = run_validate(["big.yaml"], capsys)
    assert code == 1
    assert "big.yaml: file is 10.0 MiB, over the 5 MiB limit; refusing to parse" in output


def test_value_over_server_default_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "long.md").write_text("x" * 100_001)
    manifest = HEAD + (
        "defaults: {model: letta/letta-free, embedding: letta/letta-free}\n"
        "blocks:\n  handbook: {valueFrom: long.md}\n"
    )
    (tmp_path / "manifest.yaml").write_text(manifest)
    monkeypatch.chdir(tmp_path)
    code, output = run_validate(["."], capsys)
    assert code == 1
    expected = "long.md:1:1: shared block 'handbook': value is 100001 characters"
    assert f"{expected}, over the server's default limit of 100000" in output


def test_json_lines_nested_past_the_recursion_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    depth = 100_000
    row = '{"id": "eve", "pattern": "identity", "properties": ' + "[" * depth + "]" * depth + "}"
    (tmp_path / "users.jsonl").write_text(f"{row}\n")
    (tmp_path / "manifest.yaml").write_text(HEAD + "usersFrom: users.jsonl\n")
    monkeypatch.chdir(tmp_path)
    code, output = run_validate(["."], capsys)
    assert code == 1
    assert output == "Error: users.jsonl:1:1: invalid JSON: nested too deeply\n"
