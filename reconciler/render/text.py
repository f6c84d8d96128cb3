"""Terraform-style text: ``+`` create, ``~`` update, ``-`` remove, then a summary line.

A plan is read by people who know their colleagues by name, not by national register
number: wherever a change concerns a person (a role, a person record, the main access
manager or a quality's access manager) the person is shown as ``name (SSIN)``, the name
taken from the person records the plan itself changes in that enterprise (the plan carries
no other names; the SSIN alone when it holds none).  A list changed in an update shows what
was added and removed (``services: +drs -dmfa``), not both whole lists.

Other values are shown as JSON literals, and every value the plan did not write (addresses,
names, user names, messages naming them) goes through ``neutral``: a stored name holding ESC
or a bidirectional override prints as ``\x1b`` or ``\u202e``, never as itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import groupby

import click
import orjson

from reconciler.declare.identifiers import format_enterprise_number
from reconciler.plan.ending import Ending
from reconciler.plan.plan import Plan, Waiting
from reconciler.records.change import Action, Change
from reconciler.records.state import Kind, Value, as_codes
from reconciler.render.neutral import json_text, text
from reconciler.store.port import ACTIVATION_DAYS

SYMBOL = {Action.CREATE: "+", Action.UPDATE: "~", Action.DELETE: "-"}


def show_value(value: Value) -> str:
    """A value as a JSON literal: control characters escaped by JSON, format characters by ``neutral``."""
    if isinstance(value, tuple):
        return json_text((b"[" + b", ".join([orjson.dumps(item) for item in value]) + b"]").decode())
    return json_text(orjson.dumps(value).decode())


# Records keyed by a person's SSIN, and fields holding one.
PERSON_KINDS = frozenset({Kind.PERSON, Kind.USER, Kind.CO_ACCESS_MANAGER, Kind.CO_MAIN_ACCESS_MANAGER})
PERSON_FIELDS = frozenset({"main_access_manager", "access_manager"})


def names_of(changes: Iterable[Change], escape: Callable[[object], str] = text) -> dict[str, str]:
    """SSIN -> ``name (SSIN)``, escaped for where it lands (``neutral.text`` or ``neutral.markdown``),
    from the person records among ``changes`` (one enterprise's): after the change when there is
    an after, else before.  Names belong to an enterprise's records, so a person is never named
    from another enterprise's."""
    names: dict[str, str] = {}
    for change in changes:
        if change.address.kind is Kind.PERSON:
            name = dict(change.after or change.before or ())["name"]
            if isinstance(name, str) and name:
                names[change.address.key] = f"{escape(name)} ({escape(change.address.key)})"
    return names


def person(ssin: Value, names: Mapping[str, str]) -> str:
    """The person as ``names`` shows them, or their SSIN alone, escaped; ``null`` for no one."""
    if not isinstance(ssin, str):
        return show_value(ssin)
    return names.get(ssin) or text(ssin)


def local_address(change: Change, names: Mapping[str, str]) -> str:
    """The address without its enterprise part, which the section header already names; its keys
    escaped, a person's key shown as the person."""
    address = change.address
    if address.kind is Kind.ENTERPRISE:
        return "enterprise"
    if address.kind in PERSON_KINDS:
        inside = f"quality[{text(address.quality)}]." if address.quality else ""
        return f"{inside}{address.kind.value}[{person(address.key, names)}]"
    return text(str(address).split(".", 1)[1])


def field_value(name: str, value: Value, names: Mapping[str, str]) -> str:
    return person(value, names) if name in PERSON_FIELDS else show_value(value)


def element_changes(before: Value, after: Value) -> str:
    """What an update adds to and removes from a list (``+drs -dmfa``); lists are stored as sorted sets."""
    old, new = set(before or ()), set(after or ())  # type: ignore[arg-type]  # a list field holds a tuple
    return " ".join([f"+{text(item)}" for item in sorted(new - old)] + [f"-{text(item)}" for item in sorted(old - new)])


def enterprise_label(number: str) -> str:
    """The dotted enterprise number, escaped: a stored number is ten characters of anything."""
    return text(format_enterprise_number(number))


NEW_ACCOUNT = f"        (new account: access codes are sent after apply and expire {ACTIVATION_DAYS} days later)"
REMOVED_ACCOUNT = "        (account deactivated: its codes, password and sessions stop working)"


def render_change(change: Change, names: Mapping[str, str]) -> list[str]:
    """One change's lines; ``names`` (``names_of`` the enterprise's changes) names the persons it concerns."""
    symbol = SYMBOL[change.action]
    lines = [f"  {symbol} {local_address(change, names)}"]
    if change.action is Action.UPDATE:
        field_changes = change.field_changes
        width = max((len(f.name) for f in field_changes), default=0)
        lines += [
            f"      ~ {f.name}: {element_changes(f.before, f.after)}"
            if isinstance(f.after, tuple)
            else f"      ~ {f.name.ljust(width)} = {field_value(f.name, f.before, names)} -> "
            f"{field_value(f.name, f.after, names)}"
            for f in field_changes
        ]
        return lines
    # A new or removed record: show what is set.
    record = change.after or change.before
    assert record is not None  # a creation has fields after, a deletion before
    # What is set: no unset field, no false flag, no empty list but the services (always shown).
    shown: list[tuple[str, Value]] = [
        (name, value) for name, value in record if name == "services" or value not in (None, False, ())
    ]
    width = max((len(name) for name, _ in shown), default=0)
    lines += [f"      {symbol} {name.ljust(width)} = {field_value(name, value, names)}" for name, value in shown]
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
        yield joined([*drift_lines(plan), *undeclared_lines(plan), *ending_lines(plan), *waiting_lines(plan)])
        return
    yield joined(["reconciler will perform the following actions:"])
    versions = dict(plan.versions)
    drifted = {item.address for item in plan.drift}
    for number, grouped in groupby(plan.changes, key=lambda change: change.address.enterprise):
        version = versions.get(number)
        lines = [
            "",
            f"# enterprise {enterprise_label(number)} ({'new' if version is None else f'stored version {version}'})",
        ]
        changes = list(grouped)
        names = names_of(changes)
        bundles = {name: set(services) for enterprise, name, services in plan.bundles if enterprise == number}
        for change in changes:
            lines += ["", *render_change(change, names), *profile_note(change, bundles), *drift_mark(change, drifted)]
        yield joined(lines)
    yield joined(
        [
            "",
            summary(plan),
            *refusal_lines(plan),
            *drift_lines(plan),
            *undeclared_lines(plan),
            *ending_lines(plan),
            *waiting_lines(plan),
        ]
    ) + _skipped(plan)


def summary_chunks(plan: Plan) -> Iterator[str]:
    """The plan in a few lines: changes counted per enterprise and quality, then what plan_chunks ends with.

    For plans too long to read (a first apply of a whole registry); the full text stays one
    command away (``reconciler show PLAN_FILE``, or the plan without ``--summary``).
    """
    if plan.is_empty:
        yield from plan_chunks(plan)
        return
    counts = plan.places()
    places = {
        (enterprise, quality): f"{enterprise_label(enterprise)}  {text(quality) or '(enterprise)'}"
        for enterprise, quality, _ in counts
    }  # in the order first met, as the changes are ordered
    width = max(len(place) for place in places.values())
    lines = ["reconciler will perform these changes (counts; the full plan lists each one):", ""]
    for (enterprise, quality), place in places.items():
        create, update, delete = (counts[(enterprise, quality, action)] for action in Action)
        lines.append(f"  {place:<{width}}  +{create} ~{update} -{delete}")
    tail = [
        *refusal_lines(plan),
        *drift_lines(plan),
        *undeclared_lines(plan),
        *ending_lines(plan),
        *waiting_lines(plan),
    ]
    yield "".join(line + "\n" for line in [*lines, "", summary(plan), *tail])
    yield _skipped(plan)


def _skipped(plan: Plan) -> str:
    count = len(plan.skipped)
    if not count:
        return ""
    return (
        f"{count} enterprise{'s' if count != 1 else ''} unchanged since {'their' if count != 1 else 'its'} "
        f"last apply (same files, same stored version) {'were' if count != 1 else 'was'} not read again.\n"
    )


def waiting_by_enterprise(plan: Plan) -> list[tuple[str, dict[str, int], list[Waiting], int]]:
    """Per enterprise with waiting accounts: the count per status, the accounts the plan lists (the
    first few by deadline), and how many more it counts without listing them."""
    counts: dict[str, dict[str, int]] = {}
    for number, status, count in plan.waiting_counts:
        counts.setdefault(number, {})[status] = count
    listed: dict[str, list[Waiting]] = {}
    for waiting in plan.waiting:
        listed.setdefault(waiting.enterprise, []).append(waiting)
    return [
        (number, found, listed.get(number, []), sum(found.values()) - len(listed.get(number, [])))
        for number, found in counts.items()
    ]


def waiting_lines(plan: Plan) -> list[str]:
    """Accounts of the changed enterprises that nobody has activated yet: counts, the first few, how many more."""
    if not plan.waiting_counts:
        return []
    lines = ["", "Accounts not activated yet (`reconciler show NUMBER` lists every one):"]
    for number, counts, listed, more in waiting_by_enterprise(plan):
        lines.append(f"  {enterprise_label(number)}: {text(', '.join(f'{n} {s}' for s, n in counts.items()))}")
        for waiting in listed:
            until = f" (deadline {text(waiting.deadline[:10])})" if waiting.deadline else ""
            lines.append(f"    {text(waiting.username)}  {text(waiting.name)}  {text(waiting.status)}{until}")
        if more:
            lines.append(f"    and {more} more")
    return lines


DRIFT_MARK = "        (changed outside reconciler since the last apply: this puts it back as declared)"
SHOWN_NUMBERS = 20  # enterprise numbers listed in one line of a notice; the rest are counted


def profile_note(change: Change, bundles: Mapping[str, set[str]]) -> list[str]:
    """Which profile brought which of a user's services (the rest are the user's own)."""
    if not bundles or change.address.kind is not Kind.USER or change.after is None:
        return []
    after = dict(change.after)
    services = set(as_codes(after["services"]))
    brought = [
        f"{text(name)}: {text(', '.join(sorted(bundles.get(name, set()) & services)))}"
        for name in as_codes(after.get("profiles") or ())
    ]
    return [f"        (from profiles {'; '.join(brought)})"] if brought else []


def drift_mark(change: Change, drifted: set[str]) -> list[str]:
    """The line that marks a change undoing a write made outside reconciler."""
    return [DRIFT_MARK] if drifted and str(change.address) in drifted else []


def drift_lines(plan: Plan) -> list[str]:
    """Per enterprise, how many records were written outside reconciler since its last apply."""
    if not plan.drift:
        return []
    changed = {str(change.address) for change in plan.changes}
    counts: dict[str, list[int]] = {}
    for item in plan.drift:
        counted = counts.setdefault(item.enterprise, [0, 0])
        counted[item.address not in changed] += 1
    lines = ["", "Changed outside reconciler since the last apply (`reconciler drift` shows each record):"]
    for number, (undone, kept) in counts.items():
        parts = [f"{undone} put back as declared (marked above)"] if undone else []
        parts += [f"{kept} already as declared, recorded as adopted at apply"] if kept else []
        lines.append(f"  {enterprise_label(number)}: {undone + kept} records; {', '.join(parts)}")
    return lines


def undeclared_lines(plan: Plan) -> list[str]:
    """Stored enterprises that the folders planned no longer declare: left alone, but named."""
    if not plan.undeclared:
        return []
    shown = ", ".join(enterprise_label(n) for n in plan.undeclared[:SHOWN_NUMBERS])
    more = len(plan.undeclared) - SHOWN_NUMBERS
    return [
        "",
        f"Stored but no longer declared ({len(plan.undeclared)}; left as they are, to remove one declare it with "
        "offboard: true):",
        f"  {shown}{f' and {more} more' if more > 0 else ''}",
    ]


SHOWN_ENDING = 50  # grants listed before the rest are counted


def ending_lines(plan: Plan) -> list[str]:
    """Grants of the planned enterprises that end soon: extend them in time, or let them go."""
    return ending_notice(plan.ending)


def ending_notice(ending: tuple[Ending, ...] | list[Ending]) -> list[str]:
    """The grants that end within the window, soonest first, at most ``SHOWN_ENDING`` of them."""
    if not ending:
        return []
    lines = ["", "Grants that end soon (from that day on they count as not declared; extend `until` to keep them):"]
    for item in ending[:SHOWN_ENDING]:
        place = f"quality {text(item.quality)}, " if item.quality else ""
        who = f"{text(item.name)} ({text(item.ssin)})" if item.name else text(item.ssin)
        lines.append(f"  {text(item.until)}  {enterprise_label(item.enterprise)}  {place}{text(item.role)}  {who}")
    if len(ending) > SHOWN_ENDING:
        lines.append(f"  and {len(ending) - SHOWN_ENDING} more")
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
    accounts = plan.new_accounts()
    line = (
        f"Plan: {counts[Action.CREATE]} to create, {counts[Action.UPDATE]} to update, "
        f"{counts[Action.DELETE]} to remove."
    )
    if accounts:
        line += f" {accounts} new account{'s' if accounts != 1 else ''} pending activation."
    return line
