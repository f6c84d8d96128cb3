"""``reconciler drift``: records written outside reconciler since each enterprise's last apply.

Text names, per enterprise, each record with what the last apply left and what the store
holds now, field by field; JSON is the same as ``schemas/drift.schema.json`` describes.  Every
value is shown as a JSON literal through ``neutral``: a value someone wrote into the store by
hand is data, never terminal control.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from reconciler.plan.drift import Drift
from reconciler.render.neutral import json_lines, json_text, text
from reconciler.render.text import enterprise_label


def _value(value: object) -> str:
    return json_text(json.dumps(value, ensure_ascii=False))


def _fields(item: Drift) -> list[str]:
    applied: Mapping[str, object] = item.applied or {}
    found: Mapping[str, object] = item.found or {}
    if item.applied is None:
        return [f"    created outside reconciler: {_value(dict(found))}"]
    if item.found is None:
        return [f"    removed outside reconciler; the last apply left {_value(dict(applied))}"]
    return [
        f"    {text(name)}: {_value(applied.get(name))} -> {_value(found.get(name))}"
        for name in sorted(set(applied) | set(found))
        if applied.get(name) != found.get(name)
    ]


def render_drift(found: Mapping[str, tuple[Drift, ...]]) -> str:
    """Per enterprise that drifted, each record written outside reconciler; one line when none did."""
    drifted = {number: items for number, items in found.items() if items}
    if not drifted:
        return "No drift: every enterprise is as its last apply left it.\n"
    lines = []
    for number, items in sorted(drifted.items()):
        lines += ["", f"# enterprise {enterprise_label(number)}: {len(items)} records changed outside reconciler"]
        for item in items:
            lines += [f"  {text(item.address)}", *_fields(item)]
    lines += [
        "",
        "The next plan puts back what the declaration says of these records; apply records the others as adopted.",
    ]
    return "\n".join(lines[1:]) + "\n"


def drift_document(found: Mapping[str, tuple[Drift, ...]]) -> str:
    document = {
        "format_version": "1.0",
        "enterprises": [
            {
                "enterprise": number,
                "records": [{"address": d.address, "applied": d.applied, "found": d.found} for d in items],
            }
            for number, items in sorted(found.items())
            if items
        ],
    }
    return json_lines(json.dumps(document, indent=2, ensure_ascii=False))
