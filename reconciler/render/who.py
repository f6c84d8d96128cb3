"""``reconciler who``: one person across every enterprise of the store, for people and for programs.

Per enterprise: the person's name there, their account (status, dormant or not, last login),
and each grant with when, by whom and by which apply it was given and when it ends; a user's
services each with the profiles that bring it.  Text is aligned for reading; JSON is the
document ``schemas/who.schema.json`` describes.  Every stored value is data: text passes it
through ``neutral.text``, JSON through ``neutral.json_lines``, so nothing a store holds can
drive a terminal.  Nothing secret is shown: an account's hashes never leave the store.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime

from reconciler.plan.dormancy import DORMANT, account_status, idle_days
from reconciler.plan.grants import ACCESS_MANAGER, CO_ACCESS_MANAGER, CO_MAIN, MAIN, Grant, Presence
from reconciler.records import clock
from reconciler.render.neutral import json_lines, text
from reconciler.render.text import enterprise_label
from reconciler.store.audit import AuditEntry
from reconciler.store.port import Account, now_text

WHO_FORMAT_VERSION = "1.1"  # 1.1: people an enterprise no longer declares (declared, removed)
DIRECTLY = "declared directly"
FLAG = "!"  # marks a grant that ends within the expiry window


def role_label(grant: Grant) -> str:
    """The role as people read it, the quality's code escaped."""
    if grant.role == MAIN:
        return "main access manager"
    if grant.role == CO_MAIN:
        return "co-main access manager"
    of = {ACCESS_MANAGER: "access manager", CO_ACCESS_MANAGER: "co-access manager"}.get(grant.role, "user")
    return f"{of} of {text(grant.quality)}"


def _status_line(account: Account | None, now: datetime, dormant_after: int) -> str:
    if account is None:
        return "no account"
    status = account_status(account, now, dormant_after)
    shown = f"{text(account.username)}, {status}"
    if status == DORMANT:
        return f"{shown} (no login for {idle_days(account, now)} days)"
    if status in ("pending", "expired") and account.activation_deadline:
        verb = "activate by" if status == "pending" else "codes expired"
        return f"{shown} ({verb} {text(account.activation_deadline)})"
    if status == "deactivated" and account.deactivated_at:
        return f"{shown} (since {text(account.deactivated_at)})"
    return shown


def _last_login(account: Account | None) -> str:
    if account is None or account.last_login_at is None:
        activated = f" (activated {text(account.activated_at)})" if account and account.activated_at else ""
        return f"never{activated}"
    return text(account.last_login_at)


def _until(grant: Grant, today: date, window: int) -> str:
    if grant.until is None:
        return "-"
    left = grant.days_left(today)
    if left is None or left > window:
        return text(grant.until)
    if left <= 0:
        return f"{text(grant.until)} {FLAG} ended: the next apply removes it"
    return f"{text(grant.until)} {FLAG} ends in {left} day{'s' if left != 1 else ''}"


def _columns(rows: list[list[str]]) -> list[str]:
    """Rows of cells aligned in columns; the last cell of a row is not padded."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        ("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1]).rstrip()
        for row in rows
    ]


def _grant_lines(grants: Sequence[Grant], today: date, window: int) -> list[str]:
    rows = [["role", "granted", "by", "run", "plan", "until"]]
    for grant in grants:
        if grant.granted_at is None:
            dated = ["not in the audit trail", "-", "-", "-"]
        else:
            dated = [
                text(grant.granted_at),
                text(grant.granted_by_actor or "unknown actor"),
                text(grant.run or "-"),
                text((grant.plan_hash or "-")[:12]),
            ]
        rows.append([role_label(grant), *dated, _until(grant, today, window)])
    table = _columns(rows)
    lines = [f"    {table[0]}"]
    for grant, line in zip(grants, table[1:], strict=True):
        lines.append(f"    {line}")
        if grant.services:
            width = max(len(text(service.code)) for service in grant.services)
            for service in grant.services:
                source = (
                    ", ".join(f"profile {text(name)}" for name in service.profiles) if service.profiles else DIRECTLY
                )
                lines.append(f"      - {text(service.code).ljust(width)}  {source}")
    return lines


def render_who(ssin: str, found: Sequence[Presence], now: datetime, dormant_after: int, window: int) -> str:
    """The person ``ssin`` in each enterprise that declares them, as text for people."""
    today = now.astimezone(clock.BRUSSELS).date()
    count = sum(1 for presence in found if presence.declared)
    former = len(found) - count
    formerly = f" (and formerly in {former})" if former else ""
    lines = [
        f"Person {text(ssin)}: declared in {count} enterprise{'s' if count != 1 else ''}{formerly}, "
        f"on {now_text(now)}.",
        f"An active account is dormant after {dormant_after} days without a login; "
        f"{FLAG} marks a grant that ends within {window} days.",
    ]
    for presence in found:
        name = f"  {text(presence.enterprise_name)}" if presence.enterprise_name else ""
        lines += [
            "",
            f"# enterprise {enterprise_label(presence.enterprise)}{name}{'' if presence.declared else '  (former)'}",
            f"  name:        {text(presence.name)}",
            f"  account:     {_status_line(presence.account, now, dormant_after)}",
            f"  last login:  {_last_login(presence.account)}",
        ]
        if not presence.declared:
            lines += [f"  removed:     {_removal(presence.removed)}", "  grants:      none (no longer declared)"]
        elif presence.grants:
            lines += ["  grants:", *_grant_lines(presence.grants, today, window)]
        else:
            lines.append("  grants:      none (declared, with no role left)")
    return "\n".join(lines) + "\n"


def _removal(entry: AuditEntry | None) -> str:
    """When, by whom and by which apply the person's record was removed, as the trail says."""
    if entry is None:
        return "not in the audit trail"
    if not entry.at:  # the entry is there, the record of its apply is not (written by hand)
        return f"entry {entry.seq} of the audit trail, whose apply is not in it"
    return (
        f"{text(entry.at)} by {text(entry.actor or 'unknown actor')}, run {text(entry.run or '-')}, "
        f"plan {text((entry.plan_hash or '-')[:12])}"
    )


def _removal_document(entry: AuditEntry | None) -> dict | None:
    if entry is None:
        return None
    return {
        "at": entry.at,
        "actor": entry.actor,
        "run": entry.run,
        "plan_hash": entry.plan_hash or None,
        "action": entry.action,
        "entry": entry.seq,
    }


def _grant_document(grant: Grant, today: date, window: int) -> dict:
    granted = (
        None
        if grant.granted_at is None
        else {
            "at": grant.granted_at,
            "actor": grant.granted_by_actor,
            "run": grant.run,
            "plan_hash": grant.plan_hash,
            "action": grant.action,
            "entry": grant.entry,
        }
    )
    return {
        "role": grant.role,
        "quality": grant.quality or None,
        "address": grant.address,
        "services": [
            {"service": s.code, "profiles": list(s.profiles), "declared_directly": s.direct} for s in grant.services
        ],
        "granted": granted,
        "until": grant.until,
        "ends_within_window": grant.ends_within(today, window),
    }


def _account_document(account: Account | None, now: datetime, dormant_after: int) -> dict | None:
    if account is None:
        return None
    status = account_status(account, now, dormant_after)
    return {
        "username": account.username,
        "status": status,
        "activation_deadline": account.activation_deadline,
        "activated_at": account.activated_at,
        "deactivated_at": account.deactivated_at,
        "last_login_at": account.last_login_at,
        "idle_days": idle_days(account, now) if account.status == "active" else None,
    }


def who_document(ssin: str, found: Sequence[Presence], now: datetime, dormant_after: int, window: int) -> str:
    """The same as ``render_who``, as a document of ``schemas/who.schema.json``."""
    today = now.astimezone(clock.BRUSSELS).date()
    document = {
        "format_version": WHO_FORMAT_VERSION,
        "ssin": ssin,
        "at": now_text(now),
        "dormant_after_days": dormant_after,
        "expiry_window_days": window,
        "enterprises": [
            {
                "enterprise": presence.enterprise,
                "enterprise_name": presence.enterprise_name,
                "name": presence.name,
                "declared": presence.declared,
                "removed": _removal_document(presence.removed),
                "account": _account_document(presence.account, now, dormant_after),
                "grants": [_grant_document(grant, today, window) for grant in presence.grants],
            }
            for presence in found
        ],
    }
    return json_lines(json.dumps(document, indent=2, ensure_ascii=False))
