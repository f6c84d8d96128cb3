"""Terraform-style text: ``+`` create, ``~`` update, ``-`` remove, then a summary line.

Values are shown as JSON literals, and every value the plan did not write (addresses, names,
user names, messages naming them) goes through ``neutral``: a stored name holding ESC or a
bidirectional override prints as ``\x1b`` or ``\u202e``, never as itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby

import click
import orjson

from reconciler.declare.identifiers import format_enterprise_number
from reconciler.plan.plan import Plan
from reconciler.records.change import Action, Change
from reconciler.records.state import Kind, Value
from reconciler.render.neutral import json_text, text
from reconciler.store.port import ACTIVATION_DAYS

SYMBOL = {Action.CREATE: "+", Action.UPDATE: "~", Action.DELETE: "-"}


def show_value(value: Value) -> str:
    """A value as a JSON literal: control characters escaped by JSON, format characters by ``neutral``."""
    if isinstance(value, tuple):
        return json_text((b"[" + b", ".join([orjson.dumps(item) for item in value]) + b"]").decode())
    return json_text(orjson.dumps(value).decode())


def local_address(change: Change) -> str:
    """The address without its enterprise part, which the section header already names; its keys escaped."""
    return text(str(change.address).split(".", 1)[1]) if change.address.kind is not Kind.ENTERPRISE else "enterprise"


def enterprise_label(number: str) -> str:
    """The dotted enterprise number, escaped: a stored number is ten characters of anything."""
    return text(format_enterprise_number(number))


NEW_ACCOUNT = f"        (new account: access codes are sent after apply and expire {ACTIVATION_DAYS} days later)"
REMOVED_ACCOUNT = "        (account deactivated: its codes, password and sessions stop working)"


def render_change(change: Change) -> list[str]:
    symbol = SYMBOL[change.action]
    lines = [f"  {symbol} {local_address(change)}"]
    if change.action is Action.UPDATE:
        field_changes = change.field_changes
        width = max((len(f.name) for f in field_changes), default=0)
        lines += [
            f"      ~ {f.name.ljust(width)} = {show_value(f.before)} -> {show_value(f.after)}" for f in field_changes
        ]
        return lines
    # A new or removed record: show what is set.
    record = change.after or change.before
    assert record is not None  # a creation has fields after, a deletion before
    shown = [(name, value) for name, value in record if value is not None and value is not False]
    width = max((len(name) for name, _ in shown), default=0)
    lines += [f"      {symbol} {name.ljust(width)} = {show_value(value)}" for name, value in shown]
    if change.address.kind is Kind.PERSON:
        lines.append(NEW_ACCOUNT if change.action is Action.CREATE else REMOVED_ACCOUNT)
    return lines


COLORS = {"+": "green", "~": "yellow", "-": "red"}


def paint(line: str) -> str:
    """Color a plan line by its symbol (+ green, ~ yellow, - red), as terminals show diffs."""
    symbol = line.lstrip()[:1]
    return click.style(line, fg=COLORS[symbol]) if symbol in COLORS and line.lstrip()[1:2] == " " else line


def render_plan(plan: Plan, color: bool = False) -> str:
    """The plan for people; ``color`` only for terminals (see ``cli.common.use_color``)."""
    return "".join(plan_chunks(plan, color))


def plan_chunks(plan: Plan, color: bool = False) -> Iterator[str]:
    """The plan's text one enterprise at a time: printed as it is made, never held whole.

    A first apply of a million users has millions of lines; building them into one string
    would double the memory the plan itself needs.
    """

    def joined(lines: list[str]) -> str:
        return "".join((paint(line) if color else line) + "\n" for line in lines)

    if plan.is_empty:
        yield joined(["No changes. The stored state matches the declaration."]) + _skipped(plan)
        yield joined(waiting_lines(plan))
        return
    yield joined(["reconciler will perform the following actions:"])
    versions = dict(plan.versions)
    for number, changes in groupby(plan.changes, key=lambda change: change.address.enterprise):
        version = versions.get(number)
        lines = [
            "",
            f"# enterprise {enterprise_label(number)} ({'new' if version is None else f'stored version {version}'})",
        ]
        for change in changes:
            lines += ["", *render_change(change)]
        yield joined(lines)
    yield joined(["", summary(plan), *refusal_lines(plan), *waiting_lines(plan)]) + _skipped(plan)


def _skipped(plan: Plan) -> str:
    count = len(plan.skipped)
    if not count:
        return ""
    return (
        f"{count} enterprise{'s' if count != 1 else ''} unchanged since {'their' if count != 1 else 'its'} "
        f"last apply (same files, same stored version) {'were' if count != 1 else 'was'} not read again.\n"
    )


def waiting_lines(plan: Plan) -> list[str]:
    """Accounts of the planned enterprises that nobody has activated yet: counts, then the first few."""
    if not plan.waiting_counts:
        return []
    lines = ["", "Accounts not activated yet (`reconciler show NUMBER` lists every one):"]
    by_enterprise: dict[str, list[str]] = {}
    for number, status, count in plan.waiting_counts:
        by_enterprise.setdefault(number, []).append(f"{count} {status}")
    for number, counts in by_enterprise.items():
        lines.append(f"  {enterprise_label(number)}: {text(', '.join(counts))}")
        for waiting in (w for w in plan.waiting if w.enterprise == number):
            until = f" (deadline {text(waiting.deadline[:10])})" if waiting.deadline else ""
            lines.append(f"    {text(waiting.username)}  {text(waiting.name)}  {text(waiting.status)}{until}")
    return lines


def refusal_lines(plan: Plan) -> list[str]:
    if not plan.refusals:
        return []
    lines = ["", "Safety gates: apply will refuse this plan unless each gate is lifted explicitly:"]
    for refusal in plan.refusals:
        lines.append(
            f"  {refusal.gate} enterprise {enterprise_label(refusal.enterprise)} "
            f"{text(refusal.message)} (lift with {refusal.override})"
        )
    return lines


def summary(plan: Plan) -> str:
    counts = plan.counts()
    accounts = sum(1 for c in plan.changes if c.action is Action.CREATE and c.address.kind is Kind.PERSON)
    line = (
        f"Plan: {counts[Action.CREATE]} to create, {counts[Action.UPDATE]} to update, "
        f"{counts[Action.DELETE]} to remove."
    )
    if accounts:
        line += f" {accounts} new account{'s' if accounts != 1 else ''} pending activation."
    return line
