"""The plan as a pull-request comment: a summary table, then one collapsible section per enterprise.

Code hosts cap comments (GitHub at 65,536 characters), so when the full comment would pass
the limit a shortened one is produced instead, made of whole pieces only (never text cut
mid-word): as many whole enterprise sections as fit, in plan order; then every enterprise
left out, counted and listed by number; then the safety gates, always; then where the full
plan can be read.  When the numbers or the gates' messages leave no room, they are written
more compactly (the gates by id with the enterprises they refuse, then by id with a count),
so that the comment still says what apply will refuse.  The plan file itself always stays
complete.

Declared values are data, never markup: outside code they pass through ``neutral.markdown``
(character references for what Markdown and HTML read, mentions and bare links broken),
user names sit in code spans and changes in a fence that no run of backticks can close,
escaped by ``neutral.text`` as the text plan is.  The persons a change concerns, shown as
``name (SSIN)`` in the fence too, pass through ``neutral.markdown``: a name holding
``</details>`` reads as ``&#60;/details&#62;`` there, never as markup anywhere.
"""

from __future__ import annotations

from collections import Counter
from itertools import groupby

from reconciler.declare.identifiers import format_enterprise_number
from reconciler.plan.plan import Plan
from reconciler.records.change import Action
from reconciler.render.neutral import code_span, fence, markdown
from reconciler.render.text import (
    drift_lines,
    drift_mark,
    ending_lines,
    names_of,
    profile_note,
    render_change,
    summary,
    undeclared_lines,
    waiting_by_enterprise,
)

DEFAULT_LIMIT = 60_000
_COLUMNS = (Action.CREATE, Action.UPDATE, Action.DELETE)


def _summary_table(plan: Plan) -> list[str]:
    counts = plan.places()
    rows = sorted({(number, quality) for number, quality, _ in counts})
    lines = ["| enterprise | quality | create | update | remove |", "|---|---|---:|---:|---:|"]
    for number, quality in rows:
        cells = " | ".join(str(counts[(number, quality, action)]) for action in _COLUMNS)
        lines.append(f"| {_number(number)} | {markdown(quality) if quality else '(enterprise)'} | {cells} |")
    return lines


def _number(number: str) -> str:
    return markdown(format_enterprise_number(number))


_WARNING = ["", "> [!WARNING]", "> **Safety gates**: apply will refuse this plan unless each gate is lifted:"]


def _gates(plan: Plan) -> list[str]:
    if not plan.refusals:
        return []
    return _WARNING + [
        f"> - `{r.gate}` {_number(r.enterprise)} {markdown(r.message)} (`{r.override}`)" for r in plan.refusals
    ]


def _refused(plan: Plan) -> dict[tuple[str, str], list[str]]:
    """(gate, flag) -> the enterprises it refuses, in plan order, each once."""
    found: dict[tuple[str, str], dict[str, None]] = {}
    for refusal in plan.refusals:
        found.setdefault((refusal.gate, refusal.override), {})[refusal.enterprise] = None
    return {key: list(numbers) for key, numbers in found.items()}


def _gates_listed(plan: Plan) -> list[str]:
    """The gates without their messages: each with the enterprises it refuses."""
    if not plan.refusals:
        return []
    return _WARNING + [
        f"> - `{gate}` (`{flag}`): {_numbers(numbers)}" for (gate, flag), numbers in _refused(plan).items()
    ]


def _gates_counted(plan: Plan) -> list[str]:
    """The gates by id alone, with how many enterprises each refuses: a handful of lines at most."""
    if not plan.refusals:
        return []
    return _WARNING + [
        f"> - `{gate}` (`{flag}`): {_enterprises(len(numbers))}" for (gate, flag), numbers in _refused(plan).items()
    ]


def _enterprises(count: int) -> str:
    return f"{count:,} enterprise{'s' if count != 1 else ''}"


def _numbers(numbers: list[str]) -> str:
    """Enterprise numbers in their compact form: ten digits, no dots, separated by spaces."""
    return " ".join(markdown(number) for number in numbers)


def _sections(plan: Plan) -> list[tuple[str, list[str]]]:
    """Each enterprise's collapsible section, with its number."""
    sections = []
    versions = dict(plan.versions)
    drifted = {item.address for item in plan.drift}
    for number, grouped in groupby(plan.changes, key=lambda change: change.address.enterprise):
        changes = list(grouped)
        names = names_of(changes, markdown)
        bundles = {
            name: set(services) for enterprise, name, services in plan.bundles if enterprise == number
        }  # names outside the JSON values: inert as in the rest of the comment
        counts = Counter(c.action for c in changes)
        state = "new" if versions.get(number) is None else f"stored version {versions[number]}"
        lines = [
            "",
            f"<details><summary><b>{_number(number)}</b> ({state}): "
            f"{counts[Action.CREATE]} to create, {counts[Action.UPDATE]} to update, "
            f"{counts[Action.DELETE]} to remove</summary>",
            "",
        ]
        # render_change escapes control characters; the fence outlasts any backticks in values.
        body = [
            line[2:] if line.startswith("  ") else line
            for c in changes
            for line in [*render_change(c, names), *profile_note(c, bundles), *drift_mark(c, drifted)]
        ]
        sections.append((number, [*lines, *fence(body, "diff"), "", "</details>"]))
    return sections


def _notices(plan: Plan) -> list[str]:
    """Drift and enterprises no longer declared, as the text plan says them, in a plain block."""
    lines = [*drift_lines(plan), *undeclared_lines(plan), *ending_lines(plan)]
    return ["", *fence([line for line in lines if line], "text")] if lines else []


def _waiting(plan: Plan) -> list[str]:
    """Accounts of the enterprises changed that nobody has activated yet."""
    if not plan.waiting_counts:
        return []
    by_enterprise = waiting_by_enterprise(plan)
    lines = [
        "",
        "<details><summary>Accounts not activated yet</summary>",
        "",
        "| enterprise | awaiting codes | pending | expired |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {_number(n)} | {c.get('awaiting codes', 0)} | {c.get('pending', 0)} | {c.get('expired', 0)} |"
        for n, c, _, _ in by_enterprise
    ]
    if plan.waiting:
        lines += ["", "First by deadline (`reconciler show NUMBER` lists every one):", ""]
        for number, _, listed, more in by_enterprise:
            lines += [
                f"- {_number(w.enterprise)} {code_span(w.username)} {markdown(w.name)}: {markdown(w.status)}"
                + (f" (deadline {markdown(w.deadline[:10])})" if w.deadline else "")
                for w in listed
            ]
            if more:
                lines.append(f"- {_number(number)}: and {more:,} more")
    return [*lines, "", "</details>"]


def _size(lines: list[str]) -> int:
    """Characters ``lines`` take in the comment, each ended by a line break."""
    return sum(len(line) + 1 for line in lines)


def _left_out_title(count: int) -> str:
    return f"**{_enterprises(count)} not shown here**, whose changes are in the full plan:"


def _left_out(numbers: list[str], room: int | None = None) -> list[str]:
    """The enterprises whose sections were left out: counted, and every number listed, or as many
    as ``room`` characters hold, counted again ("and 12 more")."""
    if not numbers:
        return []
    line = _left_out_title(len(numbers))
    if room is None:
        return ["", f"{line} {_numbers(numbers)}"]
    size, shown = _size(["", line]), 0
    for number in numbers:
        item = len(markdown(number)) + 1
        if size + item + len(f" and {len(numbers) - shown - 1:,} more") > room:
            break
        size, shown = size + item, shown + 1
    if not shown:
        return ["", f"{line} too many to list here."]
    return ["", f"{line} {_numbers(numbers[:shown])} and {len(numbers) - shown:,} more"]


def _shortened(plan: Plan, sections: list[tuple[str, list[str]]], limit: int, note: list[str]) -> list[str]:
    """Whole sections, in plan order, each one that fits; then the enterprises left out, the gates
    and the note."""
    head = ["### reconciler plan", "", f"**{summary(plan)}**"]
    numbers = [number for number, _ in sections]
    for gates in (_gates(plan), _gates_listed(plan), _gates_counted(plan)):
        fixed = _size(head) + _size(gates) + _size(note)
        if fixed + _size(_left_out(numbers)) <= limit:
            break
    else:  # not even every number fits beside the counted gates: as many numbers as fit
        return [*head, *_left_out(numbers, limit - fixed), *gates, *note]
    # The list of those left out shrinks as sections are kept: its size, kept up to date, is
    # the title's, then each number's and the space before it.
    listed = {number: len(markdown(number)) + 1 for number in numbers}
    chars, out = sum(listed.values()), len(numbers)
    kept: list[str] = []
    left: list[str] = []
    used = fixed
    for number, lines in sections:
        rest = _size(["", _left_out_title(out - 1)]) + chars - listed[number] if out > 1 else 0
        if used + _size(lines) + rest <= limit:
            kept += lines
            used += _size(lines)
            chars, out = chars - listed[number], out - 1
        else:
            left.append(number)
    return [*head, *kept, *_left_out(left), *gates, *note]


def render_plan_markdown(plan: Plan, limit: int = DEFAULT_LIMIT, full_plan_at: str | None = None) -> str:
    """The comment; never longer than ``limit`` characters (the CLI asks for 1,000 at least)."""
    title = "### reconciler plan"
    notices = _notices(plan)
    if plan.is_empty:
        lines = [title, "", "No changes. The stored state matches the declaration.", *notices, *_waiting(plan)]
        return "\n".join(lines) + "\n"
    sections = _sections(plan)
    every = [line for _, lines in sections for line in lines]
    head = [title, "", f"**{summary(plan)}**", ""]
    full = "\n".join(head + _summary_table(plan) + _gates(plan) + every + notices + _waiting(plan)) + "\n"
    if len(full) <= limit:
        return full
    where = full_plan_at or "the plan job's log (`reconciler plan` in text format)"
    note = [
        *notices,
        "",
        f"The full plan ({len(full):,} characters) is longer than a comment can hold; read it in {where}.",
    ]
    short = "\n".join(_shortened(plan, sections, limit, note)) + "\n"
    if len(short) <= limit:
        return short
    # Only for a limit below what a title, the gates by id and a count need, or a very long path
    # in ``where``: whole words up to the limit, marked as cut.
    return short[: max(short.rfind(" ", 0, limit - 2), 0)] + "…\n"
