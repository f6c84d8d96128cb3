"""The plan as a pull-request comment: a summary table, then one collapsible section per enterprise.

Code hosts cap comments (GitHub at 65,536 characters), so when the full comment would pass
the limit a shortened one is produced instead: the summary table, the safety gates, and
where the full plan can be read.  The plan file itself always stays complete.

Declared values are data, never markup: outside code they pass through ``neutral.markdown``
(character references for what Markdown and HTML read, mentions and bare links broken),
user names sit in code spans and changes in a fence that no run of backticks can close.
"""

from __future__ import annotations

from collections import Counter
from itertools import groupby

from reconciler.declare.identifiers import format_enterprise_number
from reconciler.plan.plan import Plan
from reconciler.records.change import Action
from reconciler.render.neutral import code_span, fence, markdown
from reconciler.render.text import render_change, summary

DEFAULT_LIMIT = 60_000
_COLUMNS = (Action.CREATE, Action.UPDATE, Action.DELETE)


def _summary_table(plan: Plan, max_rows: int | None = None) -> list[str]:
    counts: Counter = Counter((c.address.enterprise, c.address.quality, c.action) for c in plan.changes)
    rows = sorted({(number, quality) for number, quality, _ in counts})
    lines = ["| enterprise | quality | create | update | remove |", "|---|---|---:|---:|---:|"]
    shown = rows if max_rows is None else rows[:max_rows]
    for number, quality in shown:
        cells = " | ".join(str(counts[(number, quality, action)]) for action in _COLUMNS)
        lines.append(f"| {_number(number)} | {markdown(quality) if quality else '(enterprise)'} | {cells} |")
    if len(shown) < len(rows):
        lines.append(f"| … | {len(rows) - len(shown)} more rows | | | |")
    return lines


def _number(number: str) -> str:
    return markdown(format_enterprise_number(number))


def _gates(plan: Plan) -> list[str]:
    if not plan.refusals:
        return []
    lines = ["", "> [!WARNING]", "> **Safety gates**: apply will refuse this plan unless each gate is lifted:"]
    lines += [f"> - `{r.gate}` {_number(r.enterprise)} {markdown(r.message)} (`{r.override}`)" for r in plan.refusals]
    return lines


def _sections(plan: Plan) -> list[str]:
    lines: list[str] = []
    versions = dict(plan.versions)
    for number, grouped in groupby(plan.changes, key=lambda change: change.address.enterprise):
        changes = list(grouped)
        counts = Counter(c.action for c in changes)
        state = "new" if versions.get(number) is None else f"stored version {versions[number]}"
        lines += [
            "",
            f"<details><summary><b>{_number(number)}</b> ({state}): "
            f"{counts[Action.CREATE]} to create, {counts[Action.UPDATE]} to update, "
            f"{counts[Action.DELETE]} to remove</summary>",
            "",
        ]
        # render_change escapes control characters; the fence outlasts any backticks in values.
        body = [line[2:] if line.startswith("  ") else line for change in changes for line in render_change(change)]
        lines += [*fence(body, "diff"), "", "</details>"]
    return lines


def _waiting(plan: Plan, listed: bool = True) -> list[str]:
    """Accounts of the enterprises read that nobody has activated yet."""
    if not plan.waiting_counts:
        return []
    counts: dict[str, dict[str, int]] = {}
    for number, status, count in plan.waiting_counts:
        counts.setdefault(number, {})[status] = count
    lines = [
        "",
        "<details><summary>Accounts not activated yet</summary>",
        "",
        "| enterprise | awaiting codes | pending | expired |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {_number(n)} | {c.get('awaiting codes', 0)} | {c.get('pending', 0)} | {c.get('expired', 0)} |"
        for n, c in counts.items()
    ]
    if listed and plan.waiting:
        lines += ["", "First by deadline (`reconciler show NUMBER` lists every one):", ""]
        lines += [
            f"- {_number(w.enterprise)} {code_span(w.username)} {markdown(w.name)}: {markdown(w.status)}"
            + (f" (deadline {markdown(w.deadline[:10])})" if w.deadline else "")
            for w in plan.waiting
        ]
    return [*lines, "", "</details>"]


def render_plan_markdown(plan: Plan, limit: int = DEFAULT_LIMIT, full_plan_at: str | None = None) -> str:
    """The comment; never longer than ``limit`` characters."""
    title = "### reconciler plan"
    if plan.is_empty:
        return "\n".join([title, "", "No changes. The stored state matches the declaration.", *_waiting(plan)]) + "\n"
    head = [title, "", f"**{summary(plan)}**", ""]
    full = "\n".join(head + _summary_table(plan) + _gates(plan) + _sections(plan) + _waiting(plan)) + "\n"
    if len(full) <= limit:
        return full
    where = full_plan_at or "the plan job's log (`reconciler plan` in text format)"
    note = ["", f"The full plan ({len(full):,} characters) is longer than a comment can hold; read it in {where}."]
    rows = None
    while True:
        short = "\n".join(head + _summary_table(plan, rows) + _gates(plan) + _waiting(plan, listed=False) + note) + "\n"
        if len(short) <= limit:
            return short
        if rows == 0:
            return short[: limit - 2] + "…\n"
        total = len({(c.address.enterprise, c.address.quality) for c in plan.changes})
        rows = (rows if rows is not None else total) // 2
