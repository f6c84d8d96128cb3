"""Rules on the enterprise as a whole: its name, its main and co-main access managers, its people."""

from __future__ import annotations

from collections.abc import Iterator

from reconciler.declare.catalogue import Catalogue
from reconciler.declare.characters import quoted, shown
from reconciler.declare.declared import Appointment, DeclaredEnterprise, Role, Site
from reconciler.declare.diagnostics import Position, where
from reconciler.declare.rules.registry import Finding, rule


@rule("H001", "exactly one main access manager")
def one_main_access_manager(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """An enterprise has exactly one main access manager (Hoofdtoegangsbeheerder), declared in one file."""
    declared = [a for a in enterprise.managers() if a.role is Role.MAIN_ACCESS_MANAGER]
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
    main = {a.ssin for a in enterprise.managers() if a.role is Role.MAIN_ACCESS_MANAGER}
    seen: dict[str, Position] = {}
    for appointment in enterprise.managers():
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
    in the enterprise, and at most one language (declared in one role, it holds for all)."""
    first: dict[str, Appointment] = {}
    languages: dict[str, tuple[str, Site]] = {}  # a language need not be repeated in every role
    for appointment in enterprise.appointments():
        person = appointment.person
        known = first.setdefault(appointment.ssin, appointment)
        for field in () if known is appointment else ("name", "email", "github", "gitlab"):  # a first role agrees
            mine, theirs = getattr(person, field), getattr(known.person, field)
            if mine != theirs:
                yield (
                    appointment.site.at(field),
                    f"SSIN {shown(appointment.ssin)} is declared with {field} {quoted(theirs)} "
                    f"at {where(known.site.at(field))}, here {quoted(mine)}",
                )
        if person.language is not None:
            said = languages.setdefault(appointment.ssin, (person.language, appointment.site))
            if said[0] != person.language:
                yield (
                    appointment.site.at("language"),
                    f"SSIN {shown(appointment.ssin)} is declared with language {quoted(said[0])} "
                    f"at {where(said[1].at('language'))}, here {quoted(person.language)}",
                )


def _stated(enterprise: DeclaredEnterprise, field: str) -> list[tuple[str, Position]]:
    """Every value the files give to one field of the enterprise header, with where."""
    return [
        (getattr(f.model.enterprise, field), f.site.at("enterprise", field))
        for f in enterprise.files
        if getattr(f.model.enterprise, field) is not None
    ]


def _disagreeing(stated: list[tuple[str, Position]]) -> Iterator[tuple[Position, str]]:
    """(where, the start of a message) for each value that differs from the first one stated."""
    for value, position in stated[1:]:
        if value != stated[0][0]:
            yield position, f"{quoted(stated[0][0])} at {where(stated[0][1])}, here {quoted(value)}"


@rule("H018", "the enterprise has one name")
def one_name(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """An enterprise's registered name is declared in at least one of its files, the same wherever it appears."""
    named = _stated(enterprise, "name")
    if not named:
        yield (
            enterprise.first_site.at("enterprise"),
            f"enterprise {shown(enterprise.number)} has no name; declare enterprise.name",
        )
    for position, difference in _disagreeing(named):
        yield position, f"enterprise {shown(enterprise.number)} is named {difference}"


@rule("H020", "the enterprise has one default language")
def one_language(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """An enterprise's default language (for people who declare none) is the same in every file that states it."""
    for position, difference in _disagreeing(_stated(enterprise, "language")):
        yield position, f"enterprise {shown(enterprise.number)} has the default language {difference}"


# What a file that off-boards an enterprise may still say besides its number.
_OFFBOARD_HEADER = frozenset({"number", "name", "offboard"})


@rule("H021", "an enterprise being off-boarded declares nothing else")
def offboarding_alone(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """Off-boarding removes everything the enterprise holds: every file of it says ``offboard: true`` and
    declares no access manager, quality, user or sender, so that nobody reads a file as keeping them."""
    if not enterprise.offboarding:
        return
    for file in enterprise.files:
        document, site = file.model, file.site
        if not document.enterprise.offboard:
            yield (
                site.at("enterprise"),
                f"enterprise {shown(enterprise.number)} is off-boarded in another file; "
                "say offboard: true here too, or delete this file",
            )
        for name in sorted(document.model_fields_set - {"enterprise"}):
            yield (
                site.at(name, key=True),
                f"enterprise {shown(enterprise.number)} is being off-boarded: {name} is removed with it; "
                f"delete {name} from this file",
            )
        for name in sorted(document.enterprise.model_fields_set - _OFFBOARD_HEADER):
            yield (
                site.at("enterprise", name, key=True),
                f"enterprise {shown(enterprise.number)} is being off-boarded: delete {name} from this file",
            )
