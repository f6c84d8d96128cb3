"""The plan as a JSON document, described by ``schemas/plan.schema.json``."""

from __future__ import annotations

import json

from reconciler import __version__
from reconciler.plan import Change, Plan

FORMAT_VERSION = "1.0"


def fields_document(fields: tuple | None) -> dict | None:
    if fields is None:
        return None
    return {name: list(value) if isinstance(value, tuple) else value for name, value in fields}


def change_document(change: Change) -> dict:
    address = change.address
    return {
        "action": change.action.value,
        "address": str(address),
        "enterprise": address.enterprise,
        "kind": address.kind.value,
        "quality": address.quality or None,
        "key": address.key or None,
        "before": fields_document(change.before),
        "after": fields_document(change.after),
        "changed_fields": [f.name for f in change.field_changes],
    }


def plan_document(plan: Plan) -> dict:
    counts = plan.counts()
    return {
        "format_version": FORMAT_VERSION,
        "reconciler_version": __version__,
        "summary": {action.value: count for action, count in counts.items()},
        "actor": plan.actor,
        "versions": {number: version for number, version in plan.versions},
        "refusals": [{"gate": r.gate, "enterprise": r.enterprise, "message": r.message, "override": r.override}
                     for r in plan.refusals],
        "changes": [change_document(change) for change in plan.changes],
        "skipped": list(plan.skipped),
        "sync": [{"enterprise": number, "version": version, "digest": digest, "files": dict(files)}
                 for number, version, digest, files in plan.sync],
        "waiting_accounts": {
            "counts": [{"enterprise": e, "status": status, "count": n} for e, status, n in plan.waiting_counts],
            "first": [{"enterprise": w.enterprise, "username": w.username, "name": w.name, "status": w.status,
                       "deadline": w.deadline} for w in plan.waiting],
        },
    }


def render_plan_json(plan: Plan) -> str:
    return json.dumps(plan_document(plan), indent=2, ensure_ascii=False) + "\n"
