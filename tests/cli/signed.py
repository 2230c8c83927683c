"""Saved plans as `letta-apply plan --out` writes them: signed with the key the command run
in this environment finds (`reconciler.keys`)."""

from __future__ import annotations

import os

from reconciler.environ import EnvGrant
from reconciler.keys import OperatorKey
from reconciler.plan.model import Plan
from reconciler.plan.signing import sign_plan
from reconciler.render import render_json
from reconciler.secrets import SecretAccess


def saved_plan_text(plan: Plan) -> str:
    access = SecretAccess(EnvGrant(), OperatorKey(os.environ.get("LETTA_API_KEY") or None))
    return render_json(plan, sign_plan(plan, access)) + "\n"
