"""Every renderer's exact output for the sample plans, against tests/golden/."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from reconciler.plan.model import Plan
from reconciler.render import render_json, render_markdown, render_text

from .golden import assert_golden
from .plans import SAMPLES

RENDERERS: dict[str, Callable[[Plan], str]] = {
    "txt": lambda plan: render_text(plan, color=False),
    "color.txt": lambda plan: render_text(plan, color=True),
    "md": render_markdown,
    "json": render_json,
}


@pytest.mark.parametrize("suffix", sorted(RENDERERS))
@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_matches_golden(sample: str, suffix: str) -> None:
    assert_golden(RENDERERS[suffix](SAMPLES[sample]()), f"{sample}.{suffix}")
