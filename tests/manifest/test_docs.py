"""docs/manifest.md carries reference tables generated from the schema: they must match."""

from __future__ import annotations

from pathlib import Path

from reconciler.manifest.docs import BEGIN, END, reference, splice
from reconciler.manifest.schema import manifest_schema

DOC = Path(__file__).parents[2] / "docs" / "manifest.md"


def test_reference_tables_are_in_step_with_the_schema() -> None:
    text = DOC.read_text()
    assert BEGIN in text and END in text
    assert splice(text, reference(manifest_schema())) == text, (
        "run: python -m reconciler.manifest.docs docs/manifest.md"
    )


def test_every_key_of_the_schema_is_documented() -> None:
    text = DOC.read_text()
    schema = manifest_schema()
    nodes = [schema, *schema["$defs"].values()]
    keys = {key for node in nodes for key in node.get("properties", {})}
    missing = sorted(key for key in keys if f"`{key}`" not in text)
    assert not missing
