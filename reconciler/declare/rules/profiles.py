"""Rules on profiles: named bundles of services, declared once, used by users of qualities that
offer every service in them."""

from __future__ import annotations

from collections.abc import Iterator

from reconciler.declare.catalogue import Catalogue
from reconciler.declare.characters import quoted
from reconciler.declare.declared import DeclaredEnterprise, Role
from reconciler.declare.diagnostics import where
from reconciler.declare.model import DeclaredUser
from reconciler.declare.rules.registry import Finding, rule, warning


@rule("H025", "each profile is declared once")
def one_declaration(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """A profile (a named bundle of services) is declared in one place, so that one line says what it grants."""
    for name, blocks in enterprise.profiles().items():
        for block in blocks[1:]:
            yield (
                block.site.at(key=True),
                f"profile {quoted(name)} is already declared at {where(blocks[0].site.at(key=True))}",
            )


@rule("H026", "users list only declared profiles")
def declared_profiles(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """A user's profiles are declared under ``profiles:`` in a file of the enterprise."""
    known = enterprise.profiles()
    for appointment in enterprise.appointments():
        if appointment.role is not Role.USER:
            continue
        assert isinstance(appointment.person, DeclaredUser)
        for index, name in enumerate(appointment.person.profiles):
            if name not in known:
                choices = ", ".join(sorted(known)) or "none is declared"
                yield appointment.site.at("profiles", index), f"profile {quoted(name)} is not declared ({choices})"


@rule("H027", "a user's profiles grant only services the quality offers")
def profiles_offered(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """Every service a profile brings to a user is one their quality offers, as for services listed directly
    (rule H008)."""
    bundles = enterprise.profile_services()
    for appointment in enterprise.appointments():
        if appointment.role is not Role.USER or appointment.quality not in catalogue.qualities:
            continue
        assert isinstance(appointment.person, DeclaredUser)
        if not appointment.person.profiles:
            continue
        offered = catalogue.qualities[appointment.quality].services
        for index, name in enumerate(appointment.person.profiles):
            missing = [s for s in bundles.get(name, ()) if s not in offered]
            if missing:
                yield (
                    appointment.site.at("profiles", index),
                    f"profile {quoted(name)} brings {', '.join(quoted(s) for s in missing)}, which quality "
                    f"{quoted(appointment.quality)} does not offer",
                )


@warning("W002", "a profile no user lists can be deleted")
def unused_profiles(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """A profile no user of the enterprise lists grants nothing: delete it, or give it to someone."""
    used = {
        name
        for appointment in enterprise.appointments()
        if isinstance(appointment.person, DeclaredUser)
        for name in appointment.person.profiles
    }
    for name, blocks in enterprise.profiles().items():
        if name not in used:
            yield blocks[0].site.at(key=True), f"profile {quoted(name)} is listed by no user"
