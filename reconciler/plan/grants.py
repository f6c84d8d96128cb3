"""Grants as a reviewer asks about them: who holds which role, since when, by which apply, until when.

The stored state says what is granted now; the audit trail says how it came to be.  Each
grant is found in the record that holds it and dated by the audit entry that created that
record (the latest ``create``, or ``adopt`` of a record written outside reconciler), or, for
the single-valued roles kept as fields, by the latest entry that made the person the holder:
the enterprise's ``main_access_manager``, a quality's ``access_manager``.  A user's services
are listed each with the profiles of theirs that bring it, or as declared directly.

``grants_of_person`` reads only the enterprises the person is declared in, and their audit
trails: a person-level question, asked by ``reconciler who``.  ``grants_of_enterprise``
answers the same for everyone in one enterprise (an access review).  Both are read from the
store as it is; neither writes.  Beside ``authority`` (which reads roles to decide) and ``drift``
(which replays the same trail), so that renderers and the account pages can both read it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

import orjson

from reconciler.plan.ending import DEFAULT_WINDOW
from reconciler.records.state import Address, EnterpriseState, Fields, Kind, Value
from reconciler.store.audit import AuditEntry, numbered, verify
from reconciler.store.port import Account, Store

MAIN = "main_access_manager"
CO_MAIN = "co_main_access_manager"
ACCESS_MANAGER = "access_manager"
CO_ACCESS_MANAGER = "co_access_manager"
USER = "user"
ROLES = (MAIN, CO_MAIN, ACCESS_MANAGER, CO_ACCESS_MANAGER, USER)  # highest first: the order grants are listed in

CREATE, DELETE, ADOPT = "create", "delete", "adopt"
# Profiles (bundles of services) are records of the enterprise; read without naming the kind,
# so that a store and a registry written before them read the same.
_PROFILE = getattr(Kind, "PROFILE", None)


@dataclass(frozen=True)
class Service:
    """One service of a user grant, and the user's profiles that bring it (none: declared directly)."""

    code: str
    profiles: tuple[str, ...] = ()

    @property
    def direct(self) -> bool:
        return not self.profiles


@dataclass(frozen=True)
class Grant:
    """One role of one person, in one enterprise (and quality), with where it came from.

    The ``granted_*`` fields, ``run``, ``plan_hash``, ``action`` and ``entry`` come from the
    audit entry that granted it; all are None when the trail holds none (a record written
    outside reconciler and not adopted yet).
    """

    enterprise: str
    quality: str  # "" for the main and co-main access managers
    role: str  # one of ROLES
    ssin: str
    address: str  # the record that holds the grant, as plans and the audit trail name it
    services: tuple[Service, ...] = ()  # users only
    until: str | None = None  # YYYY-MM-DD: the grant ends when that day starts; None: until further notice
    granted_at: str | None = None
    granted_by_actor: str | None = None
    run: str | None = None
    plan_hash: str | None = None
    action: str | None = None  # create, update or adopt
    entry: int | None = None  # the entry's number in the enterprise's audit chain

    def days_left(self, today: date) -> int | None:
        """Days until the grant ends (0 or less: it has ended); None without an end date or a readable one."""
        if self.until is None:
            return None
        try:
            return (date.fromisoformat(self.until) - today).days
        except ValueError:  # a value written by hand
            return None

    def ends_within(self, today: date, days: int = DEFAULT_WINDOW) -> bool:
        """Whether the grant ends within ``days`` days of ``today`` (or has ended already)."""
        left = self.days_left(today)
        return left is not None and left <= days


@dataclass(frozen=True)
class Presence:
    """A person in one enterprise: their name there, their grants, their account.

    A person the enterprise no longer declares keeps their account there, deactivated: they are
    present with ``declared`` False, no grants, the name the trail last gave them, and the audit
    entry that removed their record (``removed``; None when the trail holds none).
    """

    enterprise: str
    enterprise_name: str
    name: str
    grants: tuple[Grant, ...]
    account: Account | None
    declared: bool = True
    removed: AuditEntry | None = None


def _json(stored: str | None) -> dict:
    """An audit entry's before or after; an entry that is not a JSON object counts as empty."""
    if not stored:
        return {}
    try:
        found = orjson.loads(stored)
    except orjson.JSONDecodeError:
        return {}
    return found if isinstance(found, dict) else {}


def _text(value: Value) -> str | None:
    return value if isinstance(value, str) else None


def _codes(value: Value) -> tuple[str, ...]:
    """A list of names or codes as stored; anything else (a hand-written value) holds none."""
    return tuple(item for item in value if isinstance(item, str)) if isinstance(value, tuple) else ()


def _origins(entries: Iterable[AuditEntry]) -> tuple[dict[str, AuditEntry], dict[tuple[str, str, str], AuditEntry]]:
    """From one enterprise's trail: the entry that last created each record, by address; and the
    entry that last made each person the holder of a single-valued role, by (address, field, ssin).

    A record the trail then removes has neither: written back by hand since, it is in no entry,
    and the apply that made it once did not make it as it is now."""
    created: dict[str, AuditEntry] = {}
    became: dict[tuple[str, str, str], AuditEntry] = {}
    for entry in numbered(entries):
        if entry.action == CREATE or (entry.action == ADOPT and entry.before is None):
            created[entry.address] = entry
        elif entry.action in (DELETE, ADOPT) and entry.after is None:
            created.pop(entry.address, None)
            for key in [key for key in became if key[0] == entry.address]:
                del became[key]
        if entry.after is None or ACCESS_MANAGER not in entry.after:  # neither field (one is in the other's name)
            continue
        after = _json(entry.after)
        before = _json(entry.before)
        for field in (MAIN, ACCESS_MANAGER):
            holder = after.get(field)
            if isinstance(holder, str) and holder and before.get(field) != holder:
                became[(entry.address, field, holder)] = entry
    return created, became


def _services(fields: Mapping[str, Value], bundles: Mapping[str, frozenset[str]]) -> tuple[Service, ...]:
    """A user's services in effect, each with the user's profiles that bring it.

    The record's ``services`` hold every service in effect (the user's own and their profiles');
    those of a profile are listed too, should a record hold only the user's own.
    """
    profiles = _codes(fields.get("profiles"))
    codes = set(_codes(fields.get("services")))
    for profile in profiles:
        codes |= bundles.get(profile, frozenset())
    return tuple(
        Service(code, tuple(sorted(p for p in profiles if code in bundles.get(p, frozenset()))))
        for code in sorted(codes)
    )


def grants_in(state: EnterpriseState, entries: Iterable[AuditEntry], ssin: str | None = None) -> list[Grant]:
    """Every grant of one enterprise (of the person ``ssin`` only, when given), highest role first.

    ``entries`` is the enterprise's audit trail; a grant it says nothing of is listed undated.
    """
    records: Mapping[Address, Fields] = state.records
    number = state.number
    created, became = _origins(entries)
    bundles = {
        address.key: frozenset(_codes(dict(fields).get("services")))
        for address, fields in records.items()
        if _PROFILE is not None and address.kind is _PROFILE
    }
    found: list[Grant] = []

    def add(
        address: Address,
        role: str,
        holder: str,
        entry: AuditEntry | None,
        until: str | None = None,
        services: tuple[Service, ...] = (),
    ) -> None:
        if ssin is not None and holder != ssin:
            return
        dated = (
            (entry.at, entry.actor, entry.run, entry.plan_hash or None, entry.action, entry.seq)
            if entry is not None
            else (None, None, None, None, None, None)
        )
        found.append(Grant(number, address.quality, role, holder, str(address), services, until, *dated))

    for address, stored in records.items():
        fields = dict(stored)
        kind = address.kind
        where = str(address)
        if kind is Kind.ENTERPRISE:
            main = _text(fields.get(MAIN))
            if main:
                add(address, MAIN, main, became.get((where, MAIN, main)))
        elif kind is Kind.QUALITY:
            manager = _text(fields.get(ACCESS_MANAGER))
            if manager:
                entry = became.get((where, ACCESS_MANAGER, manager))
                add(address, ACCESS_MANAGER, manager, entry, until=_text(fields.get("access_manager_until")))
        elif kind is Kind.CO_MAIN_ACCESS_MANAGER:
            add(address, CO_MAIN, address.key, created.get(where), until=_text(fields.get("until")))
        elif kind is Kind.CO_ACCESS_MANAGER:
            add(address, CO_ACCESS_MANAGER, address.key, created.get(where), until=_text(fields.get("until")))
        elif kind is Kind.USER:
            add(address, USER, address.key, created.get(where), _text(fields.get("until")), _services(fields, bundles))
    found.sort(key=lambda g: (ROLES.index(g.role), g.quality, g.ssin))
    return found


def grants_of_enterprise(store: Store, number: str) -> list[Grant]:
    """Every grant of one stored enterprise, with its history (none when it is not stored)."""
    stored = store.read([number]).get(number)
    if stored is None:
        return []
    return grants_in(stored.state, store.audit_entries(number))


def presence_of(store: Store, ssin: str) -> list[Presence]:
    """The person ``ssin`` in every enterprise that declares them, then in every one that keeps their
    account after removing them, each by enterprise number.

    Reads only those enterprises (``Store.enterprises_of_person``), their audit trails and the
    person's accounts.
    """
    return _presence(store, ssin, verify_trails=False)[0]


def verified_presence_of(store: Store, ssin: str) -> tuple[list[Presence], list[str]]:
    """``presence_of``, with what is wrong with the audit trails it was read from (empty when each
    verifies), each trail read once.

    Who gave a grant, when, and who removed a person are read from the trail: anyone who may
    write the store may write it too, and only a trail that verifies says what was done.
    """
    return _presence(store, ssin, verify_trails=True)


def _presence(store: Store, ssin: str, verify_trails: bool) -> tuple[list[Presence], list[str]]:
    numbers = store.enterprises_of_person(ssin)
    stored = store.read(numbers)
    found, problems = [], []
    for number in numbers:
        records = stored[number].state.records if number in stored else {}
        address = Address(number, Kind.PERSON, key=ssin)
        person = records.get(address)
        header = dict(records.get(Address(number, Kind.ENTERPRISE), ()))
        enterprise_name = _text(header.get("name")) or ""
        entries, head = store.audit_trail(number)
        account = store.account_of(number, ssin)
        if person is not None:
            grants = tuple(grants_in(stored[number].state, entries, ssin))
            found.append(Presence(number, enterprise_name, _text(dict(person).get("name")) or "", grants, account))
        elif account is not None:
            name, removed = _former(entries, str(address))
            found.append(Presence(number, enterprise_name, name, (), account, declared=False, removed=removed))
        else:
            continue
        if verify_trails:
            problems += verify(entries, {number: head})
    # Those that declare them first; the problems in enterprise order, as ``audit verify`` says them.
    return sorted(found, key=lambda presence: not presence.declared), problems


def _former(entries: Iterable[AuditEntry], address: str) -> tuple[str, AuditEntry | None]:
    """A removed person's name as the trail last gave it, and the entry that removed their record
    (the newest entry of the record, when it left the record absent).  An entry numbered otherwise
    than by a whole number was written by hand, outside the chain: it says nothing here."""
    name, last = "", None
    for entry in numbered(entries):
        if entry.address != address:
            continue
        last = entry
        for side in (entry.after, entry.before):
            given = _json(side).get("name")
            if isinstance(given, str) and given:
                name = given
                break
    return name, last if last is not None and last.after is None else None


def grants_of_person(store: Store, ssin: str) -> list[Grant]:
    """Every grant of the person ``ssin``, in every enterprise of the store, by enterprise."""
    return [grant for presence in presence_of(store, ssin) for grant in presence.grants]
