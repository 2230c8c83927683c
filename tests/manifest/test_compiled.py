"""The compiled schema check against jsonschema: the same verdict on every manifest of the
examples and the test corpora, on each of their users, and on thousands of variants of them
(each value replaced by one of another type or shape, each key removed)."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from reconciler.manifest import compiled, manifest_schema
from reconciler.manifest.compiled import NotCompiled, anchored, compile_schema, same
from reconciler.manifest.files import Root, read_manifest
from reconciler.manifest.marked import plain
from reconciler.manifest.problems import Problems
from reconciler.manifest.schema import validator
from reconciler.manifest.yaml_loader import load_documents

REPO = Path(__file__).parents[2]
FOLDERS = (
    REPO / "examples",
    REPO / "tests" / "manifest" / "valid",
    REPO / "tests" / "manifest" / "invalid",
)
REPLACEMENTS: list[Any] = [
    None,
    0,
    2.0,
    2.5,
    -1,
    True,
    False,
    "",
    "x",
    "a b",
    "a\n",
    [],
    ["x"],
    [1],
    {},
    {"x": 1},
]


def documents() -> list[Any]:
    """Every document of the corpora as the manifest loader reads it (which refuses alias
    bombs and the like), as plain values."""
    found: list[Any] = []
    for folder in FOLDERS:
        root = Root(folder.resolve())
        for path in sorted(folder.rglob("*.y*ml")):
            problems = Problems()
            file = read_manifest(path, root, problems)
            if file is not None:
                found.extend(plain(d.root) for d in load_documents(file, problems))
    return [d for d in found if isinstance(d, dict) and _small(d)]


def _small(document: Any) -> bool:
    try:
        return len(json.dumps(document)) < 20_000
    except (ValueError, RecursionError):
        return False


def validators() -> tuple[Any, Any]:
    """jsonschema's validators of the manifest and of a user, as `schema.check` explains with."""
    schema = manifest_schema()
    user = {key: schema[key] for key in ("$schema", "$id", "$defs")} | {"$ref": "#/$defs/user"}
    return validator(schema), validator(user)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from paths(item, (*prefix, index))


def variant(document: Any, path: tuple[Any, ...], replacement: Any) -> Any:
    changed = copy.deepcopy(document)
    node = changed
    for key in path[:-1]:
        node = node[key]
    if replacement is _REMOVE:
        del node[path[-1]]
    else:
        node[path[-1]] = copy.deepcopy(replacement)
    return changed


_REMOVE = object()


def test_the_corpus_is_found() -> None:
    assert len(documents()) >= 100


def test_every_manifest_and_user_is_judged_as_jsonschema_judges_it() -> None:
    checks = compile_schema(manifest_schema())
    whole, user = validators()
    for document in documents():
        assert checks[None](document) == whole.is_valid(document), json.dumps(document)[:300]
        for raw in document.get("users") or []:
            assert checks["user"](raw) == user.is_valid(raw), json.dumps(raw)


def test_variants_of_every_manifest_are_judged_as_jsonschema_judges_them() -> None:
    checks = compile_schema(manifest_schema())
    whole, _ = validators()
    chosen = random.Random(7)
    cases = [
        (document, path, replacement)
        for document in documents()
        for path in paths(document)
        for replacement in [*REPLACEMENTS, _REMOVE]
    ]
    sample = chosen.sample(cases, min(len(cases), 4000))
    verdicts = {True: 0, False: 0}
    for document, path, replacement in sample:
        changed = variant(document, path, replacement)
        expected = whole.is_valid(changed)
        verdicts[expected] += 1
        assert checks[None](changed) == expected, (path, replacement)
    assert min(verdicts.values()) >= 200  # both verdicts are well represented


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (1, 1.0, True),
        (1, True, False),
        (0, False, False),
        ([1, "a"], [1.0, "a"], True),
        ({"a": True}, {"a": 1}, False),
        ("1", 1, False),
    ],
)
def test_enum_and_const_equality_is_jsonschemas(a: Any, b: Any, equal: bool) -> None:
    assert same(a, b) is equal
    assert Draft202012Validator({"enum": [b]}).is_valid(a) is equal


def test_a_keyword_the_compiler_lacks_is_refused_rather_than_ignored() -> None:
    with pytest.raises(NotCompiled):
        compile_schema({"type": "array", "uniqueItems": True})


def test_the_generated_module_is_in_step_with_the_schema() -> None:
    path = Path(compiled.__file__).with_name(f"{compiled.GENERATED}.py")
    assert path.read_text("utf-8") == compiled.generated_module(manifest_schema()), (
        "run: python -m reconciler.manifest.compiled"
    )


def test_the_schema_runs_the_generated_module_and_another_is_compiled() -> None:
    """The package's schema runs the generated module's code (bytecode cached like any
    module's); a schema it was not generated from is compiled in the process."""
    package = compile_schema(manifest_schema())[None]
    assert package.__code__.co_filename.endswith(f"{compiled.GENERATED}.py")
    other = compile_schema({"type": "object", "required": ["a"]})[None]
    assert other.__code__.co_filename == "<manifest schema>"
    assert other({"a": 1}) and not other({})


@pytest.mark.parametrize(
    ("pattern", "python"),
    [
        ("^[a-z]+$", r"^[a-z]+\Z"),
        (r"^a\$b$", r"^a\$b\Z"),  # an escaped `$` is a dollar sign
        ("^[$a]+$", r"^[$a]+\Z"),  # and so is one in a class
        (r"^[\]$]$", r"^[\]$]\Z"),  # a class's escaped `]` does not end it
        ("^(a|b$)", r"^(a|b\Z)"),
    ],
)
def test_a_dollar_ends_the_text_as_in_the_schema(pattern: str, python: str) -> None:
    assert anchored(pattern) == python


def test_a_final_line_break_is_refused_where_the_schema_anchors_the_end() -> None:
    checks = compile_schema(manifest_schema())
    _, user = validators()
    for verdict in (checks["user"], user.is_valid):
        assert verdict({"id": "alice", "pattern": "dedicated"})
        assert not verdict({"id": "alice\n", "pattern": "dedicated"})
