"""The example stacks: the folders under examples/ that hold manifests (the others hold
workflows and policies that go with them)."""

from __future__ import annotations

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _is_stack(folder: Path) -> bool:
    return any(
        "apiVersion: letta-apply/" in manifest.read_text(encoding="utf-8")
        for manifest in folder.glob("*.yaml")
    )


STACKS = sorted(path.name for path in EXAMPLES.iterdir() if path.is_dir() and _is_stack(path))
