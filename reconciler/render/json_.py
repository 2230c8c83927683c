"""The machine rendering of a plan: the versioned `--format json` document.

Described in docs/plan-json.md and schemas/plan.schema.json; also the saved plan file format,
read back by `reconciler.plan.serialize.plan_from_json`.
"""

from __future__ import annotations

import json

from reconciler.plan.model import Plan
from reconciler.plan.serialize import plan_document
from reconciler.text import json_text


def render_json(plan: Plan, signature: str | None = None) -> str:
    """The plan document, indented, keys in the documented order (no trailing newline); a
    saved plan's with its `signature`.

    Text stays readable UTF-8, but control, bidi and separator characters and lone surrogates
    are `\\uNNNN` escapes: the same values, nothing that acts on a terminal showing the file.
    """
    return json_text(json.dumps(plan_document(plan, signature), indent=2, ensure_ascii=False))
