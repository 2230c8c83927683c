"""The invalid corpus: every folder under invalid/ is a set of manifests that must fail.

Each folder holds its files and `expected.txt`, one `file:line:col: message` substring per
line; `args.txt`, if present, replaces the default argument `.` (the folder itself).
Inputs too big to commit are generated here instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.manifest.schema import manifest_schema
from reconciler.manifest.users_from import REQUIRED_COLUMNS
from tests.manifest.cli import run_validate

CORPUS = Path(__file__).parent / "invalid"
CASES = sorted(path.name for path in CORPUS.iterdir() if path.is_dir())
HEAD = "apiVersion: letta-apply/v1\nstack: demo\n"
Captured = pytest.CaptureFixture[str]


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


TEMPLATE = (
    "defaults: {model: letta/letta-free, embedding: letta/letta-free}\n"
    "templates:\n"
    "  assistant:\n"
    "    blocks:\n"
    '      human: {value: "Tier: ${user.properties.teir}"}\n'
    "usersFrom: users.csv\n"
)


def _rows(header: str, row: str, count: int = 2000) -> str:
    return header + "\n" + "".join(row.format(n=n) + "\n" for n in range(count))


def _validate(
    folder: Path, files: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: Captured
) -> list[str]:
    """The lines `validate` prints for a stack of these files, which must be refused."""
    for name, text in files.items():
        (folder / name).write_text(text)
    monkeypatch.chdir(folder)
    code, output = run_validate(["."], capsys)
    assert code == 1
    return output.splitlines()


def test_a_column_every_row_needs_is_reported_once_at_the_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Captured
) -> None:
    users = _rows("id,name,template", "u{n},User {n},assistant")
    files = {"users.csv": users, "manifest.yaml": HEAD + TEMPLATE}
    assert _validate(tmp_path, files, monkeypatch, capsys) == [
        "Error: users.csv:1:1: the CSV header has no 'pattern' column "
        "(every user needs one: dedicated, shared or identity)"
    ]
    assert set(REQUIRED_COLUMNS) == set(manifest_schema()["$defs"]["user"]["required"])


def test_a_property_no_user_has_is_reported_once_where_the_template_uses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Captured
) -> None:
    users = _rows("id,pattern,template,properties.tier", "u{n},dedicated,assistant,pro")
    files = {"users.csv": users, "manifest.yaml": HEAD + TEMPLATE}
    assert _validate(tmp_path, files, monkeypatch, capsys) == [
        "Error: manifest.yaml:7:22: template 'assistant': no user of it (2,000 users) has "
        "property 'teir'; did you mean 'tier'?"
    ]


def test_alike_problems_are_listed_a_few_times_then_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Captured
) -> None:
    row = '{{"id": "u{n}", "template": "assistant"}}'
    users = _rows("id,pattern,template,properties.teir", "v{n},dedicated,assistant,")
    both = "usersFrom: [users.csv, users.jsonl]"
    files = {
        "users.jsonl": _rows(row.format(n=""), row),
        "users.csv": users.replace("v0,dedicated,assistant,", "v0,dedicated,assistant,pro"),
        "manifest.yaml": HEAD + TEMPLATE.replace("usersFrom: users.csv", both),
    }
    assert _validate(tmp_path, files, monkeypatch, capsys) == [
        "Error: users.csv:3:1: user 'v1' has no property 'teir' (used by template 'assistant')",
        "users.csv:4:1: user 'v2' has no property 'teir' (used by template 'assistant')",
        "users.csv:5:1: user 'v3' has no property 'teir' (used by template 'assistant')",
        "users.csv:6:1: … and 1,996 more: users without property 'teir' (used by template "
        "'assistant')",
        "users.jsonl:1:1: user: missing required key 'pattern'",
        "users.jsonl:2:1: user: missing required key 'pattern'",
        "users.jsonl:3:1: user: missing required key 'pattern'",
        "users.jsonl:4:1: … and 1,998 more: user: missing required key 'pattern'",
    ]


def test_many_users_naming_an_unknown_template_are_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Captured
) -> None:
    users = _rows("id,pattern,template", "u{n},dedicated,asistant")
    manifest = HEAD + TEMPLATE.replace("teir", "id")
    lines = _validate(
        tmp_path, {"users.csv": users, "manifest.yaml": manifest}, monkeypatch, capsys
    )
    assert lines == [
        "Error: users.csv:2:14: user 'u0': unknown template 'asistant'; did you mean 'assistant'?",
        "users.csv:3:14: user 'u1': unknown template 'asistant'; did you mean 'assistant'?",
        "users.csv:4:14: user 'u2': unknown template 'asistant'; did you mean 'assistant'?",
        "users.csv:5:14: … and 1,997 more: users of unknown template 'asistant'",
    ]


@pytest.mark.parametrize(
    "source",
    ["x = " + "-" * 200_000 + "1", "x = " + "a." * 200_000 + "b"],
    ids=["memory", "recursion"],
)
def test_a_tool_source_nested_too_deeply_is_reported_at_the_file(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "deep.py").write_text(source)
    manifest = HEAD + (
        "defaults: {model: letta/letta-free, embedding: letta/letta-free}\n"
        "tools:\n  deep: {source: deep.py}\n"
    )
    (tmp_path / "manifest.yaml").write_text(manifest)
    monkeypatch.chdir(tmp_path)
    code, output = run_validate(["."], capsys)
    assert code == 1
    assert "deep.py:1:1: tool 'deep': the source is nested too deeply" in output
    assert "unexpected" not in output
