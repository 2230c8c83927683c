"""A folder's or an archive's globs list files inside the root only: no `..` after a
wildcard (it would list folders outside the root), and never through a linked folder (`**`
through two links to their own folder would never end)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import ManifestError
from reconciler.manifest import load_desired

MANIFEST = """\
apiVersion: letta-apply/v1
stack: docs
defaults: {{model: letta/letta-free, embedding: letta/letta-free}}
folders:
  docs:
    files: ["{pattern}"]
"""


def stack(tmp_path: Path, pattern: str) -> Path:
    folder = tmp_path / "stack"
    (folder / "docs").mkdir(parents=True)
    (folder / "docs" / "a.md").write_text("hello\n", encoding="utf-8")
    (folder / "stack.yaml").write_text(MANIFEST.format(pattern=pattern), encoding="utf-8")
    return folder


@pytest.mark.parametrize("pattern", ["docs/*/../../../*", "**/../../*", "docs/**/../../*.md"])
def test_a_parent_after_a_wildcard_is_refused_without_listing_outside(
    tmp_path: Path, pattern: str
) -> None:
    (tmp_path / "outside-secret.md").write_text("no\n", encoding="utf-8")
    folder = stack(tmp_path, pattern)
    with pytest.raises(ManifestError) as caught:
        load_desired([folder])
    assert "'..' may come only before the first wildcard" in str(caught.value)
    assert "outside-secret" not in str(caught.value)


def test_linked_folders_are_not_followed(tmp_path: Path) -> None:
    folder = stack(tmp_path, "docs/**/*.md")
    (folder / "docs" / "one").symlink_to(".")
    (folder / "docs" / "two").symlink_to(".")
    [docs] = load_desired([folder]).folders
    assert [f.name for f in docs.files] == ["a.md"]
