"""The stored state of enterprises, for people: who manages what, and whose account waits.

Everything shown comes from the store, which may hold values from before validation refused
control characters: every value passes through ``neutral.text``, so a name holding ESC or a
bidirectional override prints as ``\x1b`` or ``\u202e``, never as itself.
"""

from __future__ import annotations

from datetime import datetime

from reconciler.declare.identifiers import format_enterprise_number
from reconciler.plan.dormancy import DORMANT, account_status
from reconciler.records.state import Address, Kind, StoredEnterprise, as_codes, as_text
from reconciler.render.neutral import text
from reconciler.store.port import WAITING, Account


def plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def render_overview(stored: dict[str, StoredEnterprise]) -> str:
    if not stored:
        return "The store holds no enterprises.\n"
    lines = []
    for number in sorted(stored):
        records = stored[number].state.records
        name = dict(records[Address(number, Kind.ENTERPRISE)])["name"]
        qualities = sum(1 for a in records if a.kind is Kind.QUALITY)
        users = sum(1 for a in records if a.kind is Kind.USER)
        lines.append(
            f"{_number(number)}  {text(name)}  (version {stored[number].version}, "
            f"{plural(qualities, 'quality', 'qualities')}, {plural(users, 'user', 'users')})"
        )
    return "\n".join(lines) + "\n"


SHOW_FORMAT_VERSION = "1.0"


def overview_document(stored: dict[str, StoredEnterprise]) -> dict:
    """``show --format json``: every stored enterprise in a line (``schemas/show.schema.json``)."""
    enterprises = []
    for number in sorted(stored):
        records = stored[number].state.records
        enterprises.append(
            {
                "number": number,
                "name": dict(records[Address(number, Kind.ENTERPRISE)])["name"],
                "version": stored[number].version,
                "qualities": sum(1 for a in records if a.kind is Kind.QUALITY),
                "users": sum(1 for a in records if a.kind is Kind.USER),
            }
        )
    return {"format_version": SHOW_FORMAT_VERSION, "kind": "overview", "enterprises": enterprises}


def enterprise_json(stored: StoredEnterprise, declaration: dict, accounts: list[Account], now: datetime) -> dict:
    """``show NUMBER --format json``: the enterprise as declared (an export) and its accounts."""
    return {
        "format_version": SHOW_FORMAT_VERSION,
        "kind": "enterprise",
        "number": stored.state.number,
        "version": stored.version,
        "declaration": declaration,
        "accounts": [
            {
                "ssin": a.ssin,
                "username": a.username,
                "status": a.effective_status(now),
                "codes_issued_at": a.codes_issued_at,
                "activation_deadline": a.activation_deadline,
                "activated_at": a.activated_at,
                "deactivated_at": a.deactivated_at,
            }
            for a in accounts
        ],
    }


def _number(number: str) -> str:
    return text(format_enterprise_number(number))


def render_enterprise(stored: StoredEnterprise, accounts: list[Account], now: datetime) -> str:
    state = stored.state
    number = state.number
    by_ssin = {account.ssin: account for account in accounts}

    def who(ssin: str) -> str:
        account = by_ssin.get(ssin)
        if account is None:
            return text(ssin)
        status = account_status(account, now)
        if status == "pending":
            assert account.activation_deadline is not None  # codes are always issued with a deadline
            status += f" until {account.activation_deadline[:10]}"
        return f"{text(account.name)} ({text(ssin)}) [{text(account.username)}, {text(status)}]"

    header = dict(state.records[Address(number, Kind.ENTERPRISE)])
    main = header["main_access_manager"]  # None only if gate G002 was overridden: shown as is
    lines = [
        f"enterprise {_number(number)}  {text(header['name'])}  (version {stored.version})",
        f"  main access manager: {who(main) if isinstance(main, str) else text(main)}",
    ]
    for address in sorted(a for a in state.records if a.kind is Kind.CO_MAIN_ACCESS_MANAGER):
        lines.append(f"  co-main access manager: {who(address.key)}")
    for quality in sorted(a for a in state.records if a.kind is Kind.QUALITY):
        settings = dict(state.records[quality])
        flags = ["default"] if quality.quality == header["default_quality"] else []
        flags.append("activated" if settings["activated"] else "not activated")
        lines.append(f"  quality {text(quality.quality)} ({', '.join(flags)})")
        for name in ("nsso_number", "notification_email"):
            if settings[name]:
                lines.append(f"    {name.replace('_', ' ')}: {text(settings[name])}")
        if settings["access_manager"]:
            lines.append(f"    access manager: {who(as_text(settings['access_manager']))}")
        inside = sorted(
            (a, dict(f))
            for a, f in state.records.items()
            if a.quality == quality.quality and a.kind is not Kind.QUALITY
        )
        for address, fields in inside:
            if address.kind is Kind.CO_ACCESS_MANAGER:
                lines.append(f"    co-access manager: {who(address.key)}")
            elif address.kind is Kind.USER:
                services = text(" ".join(as_codes(fields["services"]))) or "no services"
                lines.append(f"    user: {who(address.key)}: {services}")
            elif address.kind is Kind.SENDER:
                lines.append(
                    f"    sender {text(address.key)}: {text(fields['channel'])}, technical contact "
                    f"{text(fields['contact_name'])} <{text(fields['contact_email'])}>"
                )
            elif address.kind is Kind.ROUTE:
                lines.append(f"    route: {text(address.key)} -> sender {text(fields['sender'])}")
    statuses = [account_status(account, now) for account in accounts]
    shown = (*WAITING, "active", DORMANT, "deactivated")
    counts = ", ".join(f"{statuses.count(s)} {s}" for s in shown if s in statuses)
    lines.append(f"  accounts: {counts or 'none'}")
    waiting = sorted(
        (a for a, s in zip(accounts, statuses, strict=True) if s in WAITING),
        key=lambda a: (a.activation_deadline or "", a.username),
    )
    if waiting:
        lines.append("  not activated yet (new codes come from the level above: reconciler credentials reissue):")
        for account in waiting:
            status = account.effective_status(now)
            when = {"pending": " until ", "expired": " since "}.get(status, "")
            deadline = (account.activation_deadline or "")[:10] if when else ""
            lines.append(f"    {text(account.username)}  {text(account.name)}  {status}{when}{text(deadline)}")
    for account in (a for a in accounts if a.status == "deactivated"):
        assert account.deactivated_at is not None  # set with the status, in the same statement
        lines.append(
            f"  deactivated: {text(account.username)} ({text(account.ssin)}) since {text(account.deactivated_at[:10])}"
        )
    return "\n".join(lines) + "\n"
