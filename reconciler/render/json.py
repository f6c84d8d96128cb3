"""The plan as a JSON document, described by ``schemas/plan.schema.json``."""

from __future__ import annotations

import json

from reconciler.plan.document import plan_document
from reconciler.plan.plan import Plan
from reconciler.render.neutral import json_lines


def render_plan_json(plan: Plan) -> str:
    """Readable UTF-8 JSON, with control and format characters (bidi overrides, ...) written as escapes."""
    return json_lines(json.dumps(plan_document(plan), indent=2, ensure_ascii=False)) + "\n"
