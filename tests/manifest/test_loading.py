"""Details of reading manifests that the corpora do not show on their own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.errors import ManifestError
from reconciler.manifest import load_desired
from reconciler.manifest.files import TextFile
from reconciler.manifest.problems import Problems
from reconciler.manifest.users_from import _decoded
from reconciler.manifest.yaml_loader import MAX_ALIASES, load_documents
from tests.manifest.cli import run_validate

HEAD = "apiVersion: letta-apply/v1\nstack: demo\n"


def load(text: str) -> tuple[list[dict[str, object]], list[str]]:
    problems = Problems()
    documents = load_documents(TextFile(Path("m.yaml"), "m.yaml", text), problems)
    return [dict(d.root) for d in documents], [str(p) for p in problems.items]


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_bytes(b"\xef\xbb\xbf" + HEAD.encode())
    assert load_desired([tmp_path]).stack == "demo"


def test_non_utf8_after_a_byte_order_mark_is_located(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_bytes(b"\xef\xbb\xbf" + HEAD.encode() + b"# \xff\n")
    with pytest.raises(ManifestError) as caught:
        load_desired([tmp_path])
    assert str(caught.value.problems[0]).endswith(
        "m.yaml:3:3: not valid UTF-8: byte 0xff at offset 44"
    )


def test_too_many_aliases_are_refused() -> None:
    text = "a: &a x\nb: [" + ", ".join(["*a"] * (MAX_ALIASES + 1)) + "]\n"
    documents, problems = load(text)
    assert documents == []
    assert problems == [
        f"m.yaml:2:{5 + 4 * MAX_ALIASES}: more than {MAX_ALIASES} YAML aliases in one file"
    ]


def test_dates_stay_text_and_keys_are_read_as_written() -> None:
    documents, problems = load("on: 2024-01-01\n1: yes\n")
    assert problems == []
    assert documents == [{"on": "2024-01-01", "1": True}]


def test_merge_keys_do_not_count_as_duplicates() -> None:
    documents, problems = load("base: &b {k: 1, m: 2}\nx: &x {<<: *b, k: 3}\ny: *x\n")
    assert problems == []
    assert documents[0]["y"] == {"m": 2, "k": 3}


def test_every_document_of_a_file_is_read() -> None:
    documents, problems = load("a: 1\n---\n---\n# only a comment\n---\nb: 2\n")
    assert problems == []
    assert documents == [{"a": 1}, {"b": 2}]


def test_deep_nesting_is_a_problem_not_a_crash() -> None:
    documents, problems = load("a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert documents == []
    assert problems == ["m.yaml: YAML nesting is too deep"]


def test_validate_summarizes_the_stack(capsys: pytest.CaptureFixture[str]) -> None:
    examples = Path(__file__).parents[2] / "examples"
    code, output = run_validate([str(examples / "mixed")], capsys)
    assert code == 0
    expected = "OK: example-mixed: 9 users, 5 agents, 1 shared block, 3 conversations, 2 identities"
    assert output.strip() == expected


def test_validate_needs_a_path(capsys: pytest.CaptureFixture[str]) -> None:
    code, output = run_validate([], capsys)
    assert code != 0
    assert "Missing argument 'PATHS...'" in output


@pytest.mark.parametrize(
    "line",
    [
        '{"id": "a", "pattern": "shared"}',
        '{"id": "a"}  \r',
        '  {"id": "a"}',
        '{"id": "a"} {"id": "b"}',
        '{"id": "a"} x',
        '{"id": "a",}',
        '{"id": "a"',
        '{"id": NaN}',
        '{"n": 1' + "0" * 5000 + "}",
        "\ufeff" + '{"id": "a"}',
        '["a"]',
        "{" * 100_000,
    ],
)
def test_a_json_line_reads_as_json_loads_reads_it(line: str) -> None:
    """Lines of JSON Lines users files are scanned directly when they hold one object: the
    value, or the error and where it is, are json.loads's."""
    try:
        expected: object = json.loads(line)
    except (ValueError, RecursionError) as exc:
        with pytest.raises(type(exc)) as caught:
            _decoded(line)
        assert str(caught.value) == str(exc)
    else:
        assert _decoded(line) == expected
