"""The example stacks: the folders under examples/ that hold manifests (the others hold
workflows and policies that go with them), and the stacks inside a fleet folder
(examples/fleet/), which share the files kept beside them and so take the fleet folder as
their root. A stack is named by its path under examples/ (`mixed`, `fleet/eu`)."""

from __future__ import annotations

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _is_stack(folder: Path) -> bool:
    return any(
        "apiVersion: letta-apply/" in manifest.read_text(encoding="utf-8")
        for manifest in folder.glob("*.yaml")
    )


def _stacks() -> list[str]:
    found: list[str] = []
    for folder in sorted(path for path in EXAMPLES.iterdir() if path.is_dir()):
        if _is_stack(folder):
            found.append(folder.name)
        else:
            found += [
                f"{folder.name}/{sub.name}"
                for sub in sorted(folder.iterdir())
                if sub.is_dir() and _is_stack(sub)
            ]
    return found


STACKS = _stacks()
FLEET_STACKS = [name for name in STACKS if "/" in name]


def root(name: str) -> Path:
    """The folder a stack's manifests may read files from (`--root`): its own folder, or the
    fleet folder holding it."""
    return EXAMPLES / name.split("/", 1)[0]
