"""Rules on the enterprise as a whole: its name, its main and co-main access managers, its people."""

from __future__ import annotations

from collections.abc import Iterator

from reconciler.declare.catalogue import Catalogue
from reconciler.declare.characters import quoted, shown
from reconciler.declare.declared import Appointment, DeclaredEnterprise, Role
from reconciler.declare.diagnostics import Position, where
from reconciler.declare.rules.registry import Finding, rule


@rule("H001", "exactly one main access manager")
def one_main_access_manager(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """An enterprise has exactly one main access manager (Hoofdtoegangsbeheerder), declared in one file."""
    declared = [a for a in enterprise.appointments() if a.role is Role.MAIN_ACCESS_MANAGER]
    if not declared:
        yield (
            enterprise.first_site.at("enterprise"),
            f"enterprise {shown(enterprise.number)} has no main access manager; "
            "declare main_access_manager in one file",
        )
    for extra in declared[1:]:
        yield (
            extra.site.at(key=True),
            f"enterprise {shown(enterprise.number)} already has a main access manager ({where(declared[0].site.at())})",
        )


@rule("H002", "co-main access managers are distinct")
def distinct_co_main_access_managers(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """Co-main access managers help the main access manager: none of them is the main access manager,
    and none is appointed twice."""
    main = {a.ssin for a in enterprise.appointments() if a.role is Role.MAIN_ACCESS_MANAGER}
    seen: dict[str, Position] = {}
    for appointment in enterprise.appointments():
        if appointment.role is not Role.CO_MAIN_ACCESS_MANAGER:
            continue
        if appointment.ssin in main:
            yield (
                appointment.site.at("ssin"),
                f"{shown(appointment.person.name)} is the main access manager "
                "and cannot also be a co-main access manager",
            )
        elif appointment.ssin in seen:
            yield (
                appointment.site.at("ssin"),
                f"{shown(appointment.person.name)} is already a co-main access manager "
                f"({where(seen[appointment.ssin])})",
            )
        else:
            seen[appointment.ssin] = appointment.site.at()


@rule("H017", "one person, one identity")
def consistent_people(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """A person (one SSIN) has one name, one e-mail address and the same handles across all their roles
    in the enterprise."""
    first: dict[str, Appointment] = {}
    for appointment in enterprise.appointments():
        person = appointment.person
        known = first.setdefault(appointment.ssin, appointment)
        for field in ("name", "email", "github", "gitlab"):
            mine, theirs = getattr(person, field), getattr(known.person, field)
            if mine != theirs:
                yield (
                    appointment.site.at(field),
                    f"SSIN {shown(appointment.ssin)} is declared with {field} {quoted(theirs)} "
                    f"at {where(known.site.at(field))}, here {quoted(mine)}",
                )


@rule("H018", "the enterprise has one name")
def one_name(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """An enterprise's registered name is declared in at least one of its files, the same wherever it appears."""
    named = [
        (f.model.enterprise.name, f.site.at("enterprise", "name"))
        for f in enterprise.files
        if f.model.enterprise.name is not None
    ]
    if not named:
        yield (
            enterprise.first_site.at("enterprise"),
            f"enterprise {shown(enterprise.number)} has no name; declare enterprise.name",
        )
    for name, position in named[1:]:
        if name != named[0][0]:
            yield (
                position,
                f"enterprise {shown(enterprise.number)} is named {quoted(named[0][0])} at {where(named[0][1])}, "
                f"here {quoted(name)}",
            )
