"""What a person administers, read from the stored state: for the page shown after login."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reconciler.declare.catalogue import load_catalogue
from reconciler.plan.authority import Roles, may_issue_codes, roles_by_person
from reconciler.records.state import Address, Kind, as_codes, as_text
from reconciler.store.port import WAITING, Account, Store

SHOWN_PER_QUALITY = 200  # people listed per quality; larger qualities are summarised


@dataclass(frozen=True)
class Person:
    name: str
    username: str
    status: str
    detail: str = ""  # services of a user


@dataclass(frozen=True)
class QualityView:
    code: str
    label: str
    activated: bool
    access_manager: Person | None
    co_access_managers: list[Person]
    users: list[Person]
    user_count: int


@dataclass(frozen=True)
class Overview:
    enterprise: str
    enterprise_name: str
    person: Account
    roles: list[str]
    co_main_access_managers: list[Person]  # shown to the main access manager and co-main access managers
    qualities: list[QualityView]
    waiting: list[tuple[Account, str]]  # accounts they issue codes for that are not active yet, with status


def role_lines(roles: Roles) -> list[str]:
    lines = []
    if roles.main:
        lines.append("main access manager")
    if roles.co_main:
        lines.append("co-main access manager")
    lines += [f"access manager of {q}" for q in sorted(roles.access_manager)]
    lines += [f"co-access manager of {q}" for q in sorted(roles.co_access_manager)]
    lines += [f"user of {q}: {' '.join(services) or 'no services'}" for q, services in sorted(roles.user.items())]
    return lines


def overview(store: Store, account: Account, now: datetime) -> Overview:
    number = account.enterprise
    stored = store.read([number]).get(number)
    records = stored.state.records if stored else {}
    roles = roles_by_person(records)
    mine = roles.get(account.ssin, Roles())
    accounts = {a.ssin: a for a in store.accounts(number)}
    catalogue = load_catalogue()

    def person(ssin: str, detail: str = "") -> Person:
        found = accounts.get(ssin)
        name = as_text(dict(records.get(Address(number, Kind.PERSON, "", ssin), ())).get("name", ssin))
        return Person(name, found.username if found else "", found.effective_status(now) if found else "", detail)

    header = dict(records.get(Address(number, Kind.ENTERPRISE), ()))
    qualities = {a.quality: dict(f) for a, f in records.items() if a.kind is Kind.QUALITY}
    views = []
    for code in mine.administers(qualities):
        settings = qualities[code]
        users = sorted((a for a in records if a.kind is Kind.USER and a.quality == code), key=lambda a: a.key)
        co = sorted(a.key for a in records if a.kind is Kind.CO_ACCESS_MANAGER and a.quality == code)
        label = catalogue.qualities[code].en if code in catalogue.qualities else code
        views.append(
            QualityView(
                code,
                label,
                bool(settings["activated"]),
                person(as_text(settings["access_manager"])) if settings["access_manager"] else None,
                sorted((person(s) for s in co), key=lambda p: p.name),
                sorted(
                    (
                        person(a.key, " ".join(as_codes(dict(records[a])["services"])))
                        for a in users[:SHOWN_PER_QUALITY]
                    ),
                    key=lambda p: p.name,
                ),
                len(users),
            )
        )
    co_main = (
        [person(a.key) for a in records if a.kind is Kind.CO_MAIN_ACCESS_MANAGER] if (mine.main or mine.co_main) else []
    )
    waiting = [
        (a, a.effective_status(now))
        for a in accounts.values()
        if a.effective_status(now) in WAITING
        and a.ssin in roles
        and may_issue_codes(account.ssin, mine, a.ssin, roles[a.ssin])
    ]
    waiting.sort(key=lambda pair: (pair[0].activation_deadline or "", pair[0].username))
    return Overview(
        number,
        as_text(header.get("name", number)),
        account,
        role_lines(mine),
        sorted(co_main, key=lambda p: p.name),
        views,
        waiting,
    )
