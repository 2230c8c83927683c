"""The machine rendering of a plan: the versioned `--format json` document.

Described in docs/plan-json.md and schemas/plan.schema.json; also the saved plan file format,
read back by `reconciler.plan.serialize.plan_from_json`.
"""

from __future__ import annotations

import json

from reconciler.plan.model import Plan
from reconciler.plan.serialize import plan_document


def render_json(plan: Plan) -> str:
    """The plan document, indented, keys in the documented order (no trailing newline)."""
    return json.dumps(plan_document(plan), indent=2, ensure_ascii=False)
