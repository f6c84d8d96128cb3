"""The desired state of a checked declaration, as canonical records (``records.state``).

Identifiers are compacted, lists sorted, and a person appears once however many roles
they hold.  Each record also keeps where it was declared, for messages about changes
(authority errors point at the block that asks for a change).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from types import MappingProxyType

from reconciler.declare import identifiers
from reconciler.declare.declared import DeclaredEnterprise, Role, Site, compact_ssin
from reconciler.declare.model import Appointee, DeclaredUser
from reconciler.records import clock
from reconciler.records.state import (
    Address,
    EnterpriseState,
    Fields,
    Kind,
    Value,
    fields,
    language_field,
    shared,
)


def ended(until: str | None, today: date) -> bool:
    """Whether a grant declared ``until`` that day has ended by ``today`` (from that day on, it has)."""
    return until is not None and date.fromisoformat(until) <= today


# The fields of users who list no profile, by (services, profiles, protected, until): the same in
# every enterprise, so kept across the enterprises a process plans (up to a bound, past which a
# registry of ever new combinations has each turned into fields anew).
_PLAIN_USERS: dict[tuple, Fields] = {}
_PLAIN_USERS_KEPT = 100_000


def declared_state(
    enterprise: DeclaredEnterprise, today: date | None = None
) -> tuple[EnterpriseState, Mapping[Address, Site]]:
    """The desired state of an enterprise whose declaration passed every rule, and where each
    record was declared (for messages about changes, such as authority errors).

    A grant whose ``until`` day has come (by ``today``, the clock's by default) counts as not
    declared; a person with no grant left has no record, so their account is deactivated.
    """
    today = today or clock.today()
    return _state(enterprise, today, None), Origins(enterprise, today)


class Origins(Mapping[Address, Site]):
    """Where each record of a declaration was declared, found when first asked for.

    Only an authority check that refuses a change asks, and a registry declares a million records:
    finding every record's site on every plan cost a dictionary as large as the state.
    """

    def __init__(self, enterprise: DeclaredEnterprise, today: date) -> None:
        self._enterprise, self._today = enterprise, today
        self._found: dict[Address, Site] | None = None

    def _sites(self) -> dict[Address, Site]:
        if self._found is None:
            found: dict[Address, Site] = {}
            _state(self._enterprise, self._today, found)
            self._found = found  # kept only once complete
        return self._found

    def __getitem__(self, address: Address) -> Site:
        return self._sites()[address]

    def __iter__(self) -> Iterator[Address]:
        return iter(self._sites())

    def __len__(self) -> int:
        return len(self._sites())


def _state(enterprise: DeclaredEnterprise, today: date, origins: dict[Address, Site] | None) -> EnterpriseState:
    """The state ``declared_state`` gives; with ``origins``, each record's site is written there too."""
    number = enterprise.number
    records: dict[Address, Fields] = {}
    # The few records of the enterprise, its qualities, senders and routes are given sites always
    # (into a dictionary no one reads when none was asked for); people and users only when asked.
    people = origins is not None
    sites: dict[Address, Site] = {} if origins is None else origins
    sites[Address(number, Kind.ENTERPRISE)] = enterprise.first_site.child("enterprise")
    if enterprise.offboarding:
        return EnterpriseState(number, MappingProxyType(records), offboard=True)
    header: dict[str, str | None] = {"name": None, "main_access_manager": None, "default_quality": None}
    bundles = enterprise.profile_services()
    # Users share a few combinations of services, profiles, flag and end date: each is turned into
    # fields once, and its users share them (in this process and in the plan sent to the next).
    # What profiles bring is the enterprise's own: combinations with profiles are kept per enterprise.
    users: dict[tuple, Fields] = {}
    for name, services in bundles.items():
        records[Address(number, Kind.PROFILE, key=name)] = (("services", tuple(sorted(set(services)))),)
    for file in enterprise.files:
        header["name"] = header["name"] or file.model.enterprise.name
        header["language"] = header.get("language") or file.model.enterprise.language
    make = tuple.__new__  # addresses made from their values, as their constructor would: one per record
    for appointment in enterprise.appointments():
        until = getattr(appointment.person, "until", None)
        if until is not None and ended(until, today):
            continue
        ssin = appointment.ssin
        person = make(Address, (number, Kind.PERSON, "", ssin))
        # A language declared in one role holds for all of them (H017 refuses two different ones).
        known = records.get(person)
        language = appointment.person.language or (known[2][1] if known else None)
        records[person] = (
            ("name", appointment.person.name),
            ("email", appointment.person.email),
            language_field(language),
        )
        if people:
            sites.setdefault(person, appointment.site)
        if appointment.role is Role.MAIN_ACCESS_MANAGER:
            header["main_access_manager"] = ssin
        elif appointment.role is Role.CO_MAIN_ACCESS_MANAGER:
            # Removable roles are declared as appointees (users as ``DeclaredUser``s), with
            # ``protected``; the roles of a quality are appointed with its code.
            assert isinstance(appointment.person, Appointee)
            address = Address(number, Kind.CO_MAIN_ACCESS_MANAGER, key=ssin)
            records[address] = fields(
                Kind.CO_MAIN_ACCESS_MANAGER,
                protected=bool(appointment.person.protected),
                until=appointment.person.until,
            )
        elif appointment.role is Role.CO_ACCESS_MANAGER:
            assert isinstance(appointment.person, Appointee) and appointment.quality is not None
            address = Address(number, Kind.CO_ACCESS_MANAGER, appointment.quality, ssin)
            records[address] = fields(
                Kind.CO_ACCESS_MANAGER, protected=bool(appointment.person.protected), until=appointment.person.until
            )
        elif appointment.role is Role.USER:
            assert isinstance(appointment.person, DeclaredUser) and appointment.quality is not None
            address = make(Address, (number, Kind.USER, appointment.quality, ssin))
            user = appointment.person
            kept = (user.services, user.profiles, bool(user.protected), user.until)
            found = (users if user.profiles else _PLAIN_USERS).get(kept)
            if found is None:
                # The services in effect: the user's own and those of each of their profiles.
                granted = set(user.services)
                for profile in user.profiles:
                    granted.update(bundles[profile])
                found = (
                    shared("services", tuple(sorted(granted))),
                    shared("protected", kept[2]),
                    shared("until", user.until),
                    shared("profiles", tuple(sorted(user.profiles))),
                )
                if user.profiles:
                    users[kept] = found
                elif len(_PLAIN_USERS) < _PLAIN_USERS_KEPT:
                    _PLAIN_USERS[kept] = found
            records[address] = found
        if people and appointment.role is not Role.MAIN_ACCESS_MANAGER and appointment.role is not Role.ACCESS_MANAGER:
            sites[address] = appointment.site
    for code, blocks in enterprise.qualities().items():
        settings: dict[str, Value] = {"activated": True, "protected": False}
        for block in blocks:
            quality = block.model
            for name in ("activated", "protected", "notification_email"):
                if getattr(quality, name) is not None:
                    settings[name] = getattr(quality, name)
            if quality.nsso_number is not None:
                settings["nsso_number"] = identifiers.nsso_number(quality.nsso_number)
            if quality.access_manager is not None and not ended(quality.access_manager.until, today):
                settings["access_manager"] = compact_ssin(quality.access_manager.ssin)
                settings["access_manager_until"] = quality.access_manager.until
            if quality.default:
                header["default_quality"] = code
            sites.setdefault(Address(number, Kind.QUALITY, code), block.site.child("code"))
            for index, sender in enumerate(quality.senders):
                contact = sender.technical_contact
                assert contact is not None  # rule H010: every sender has one
                sites[Address(number, Kind.SENDER, code, sender.number)] = block.site.child("senders", index)
                records[Address(number, Kind.SENDER, code, sender.number)] = fields(
                    Kind.SENDER,
                    channel=sender.channel,
                    ssh_public_key=sender.ssh_public_key,
                    certificate_fingerprint=sender.certificate_fingerprint,
                    contact_name=contact.name,
                    contact_email=contact.email,
                    contact_phone=contact.phone,
                    protected=bool(sender.protected),
                )
            for index, route in enumerate(quality.routing):
                sites[Address(number, Kind.ROUTE, code, route.service)] = block.site.child("routing", index)
                records[Address(number, Kind.ROUTE, code, route.service)] = fields(Kind.ROUTE, sender=route.sender)
        records[Address(number, Kind.QUALITY, code)] = fields(Kind.QUALITY, **settings)
    records[Address(number, Kind.ENTERPRISE)] = fields(Kind.ENTERPRISE, **header)
    return EnterpriseState(number, MappingProxyType(records))
