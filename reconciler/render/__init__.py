"""Renderers: pure functions from a `Plan` to text for a terminal, a PR comment or a machine.

None of them prints, prompts or reads anything but the plan; each returns a string without a
trailing newline and the caller decides where it goes.
"""

from reconciler.render.json_ import render_json
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text

__all__ = ["render_json", "render_markdown", "render_text"]
