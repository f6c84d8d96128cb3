"""The plan as a JSON document (``schemas/plan.schema.json``), and back.

``plan --format json`` prints it, saved plans wrap it with a checksum, and
``plan_from_document`` reads it back, so a saved plan applies exactly what was shown.
"""

from __future__ import annotations

from reconciler import __version__
from reconciler.plan.drift import Drift
from reconciler.plan.ending import Ending
from reconciler.plan.gates import Refusal
from reconciler.plan.plan import Plan, Waiting
from reconciler.records.change import Action, Change
from reconciler.records.changes import Changes
from reconciler.records.state import FIELDS, Address, Fields, Kind

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
        "versions": dict(plan.versions),
        "refusals": [
            {"gate": r.gate, "enterprise": r.enterprise, "message": r.message, "override": r.override}
            for r in plan.refusals
        ],
        "changes": [change_document(change) for change in plan.changes],
        "skipped": list(plan.skipped),
        "undeclared": list(plan.undeclared),
        "ending": [item.document() for item in plan.ending],
        "profiles": [
            {"enterprise": enterprise, "name": name, "services": list(services)}
            for enterprise, name, services in plan.bundles
        ],
        "drift": [
            {"enterprise": d.enterprise, "address": d.address, "applied": d.applied, "found": d.found}
            for d in plan.drift
        ],
        "sync": [
            {"enterprise": number, "version": version, "digest": digest, "files": dict(files), "next_expiry": expiry}
            for number, version, digest, files, expiry in plan.sync
        ],
        "waiting_accounts": {
            "counts": [{"enterprise": e, "status": status, "count": n} for e, status, n in plan.waiting_counts],
            "first": [
                {
                    "enterprise": w.enterprise,
                    "username": w.username,
                    "name": w.name,
                    "status": w.status,
                    "deadline": w.deadline,
                }
                for w in plan.waiting
            ],
        },
    }


def _fields(address: Address, values: dict | None) -> Fields | None:
    """A record's fields from JSON: exactly the fields of its kind, lists back to tuples."""
    if values is None:
        return None
    names = FIELDS[address.kind]
    if set(values) != set(names):
        raise ValueError(f"fields of {address} are not those of a {address.kind.value}")
    return tuple((name, tuple(values[name]) if isinstance(values[name], list) else values[name]) for name in names)


def plan_from_document(document: dict) -> Plan:
    """The inverse of ``plan_document``."""
    changes = []
    for item in document["changes"]:
        kind = Kind(item["kind"])
        address = Address(item["enterprise"], kind, item["quality"] or "", item["key"] or "")
        before, after = (_fields(address, item[side]) for side in ("before", "after"))
        changes.append(Change(Action(item["action"]), address, before, after))
    refusals = tuple(Refusal(r["gate"], r["enterprise"], r["message"], r["override"]) for r in document["refusals"])
    versions = tuple((number, version) for number, version in document["versions"].items())
    sync = tuple(
        (
            item["enterprise"],
            item["version"],
            item["digest"],
            tuple(sorted(item["files"].items())),
            item.get("next_expiry"),
        )
        for item in document["sync"]
    )
    waiting = tuple(
        Waiting(w["enterprise"], w["username"], w["name"], w["status"], w["deadline"])
        for w in document.get("waiting_accounts", {}).get("first", [])
    )
    counts = tuple(
        (c["enterprise"], c["status"], c["count"]) for c in document.get("waiting_accounts", {}).get("counts", [])
    )
    drift = tuple(Drift(d["enterprise"], d["address"], d["applied"], d["found"]) for d in document.get("drift", []))
    return Plan(
        Changes.of(changes),
        versions,
        refusals,
        document["actor"],
        sync,
        tuple(document["skipped"]),
        waiting,
        counts,
        drift,
        tuple(document.get("undeclared", [])),
        tuple(Ending.from_document(item) for item in document.get("ending", [])),
        tuple((p["enterprise"], p["name"], tuple(p["services"])) for p in document.get("profiles", [])),
    )
