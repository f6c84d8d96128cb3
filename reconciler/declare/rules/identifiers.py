"""Rules on identifiers: enterprise numbers, SSINs and NSSO numbers have valid check digits."""

from __future__ import annotations

from collections.abc import Iterator

from reconciler.declare import identifiers
from reconciler.declare.catalogue import Catalogue
from reconciler.declare.declared import DeclaredEnterprise
from reconciler.declare.rules.registry import Finding, rule


@rule("H013", "enterprise numbers are valid")
def valid_enterprise_number(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """The enterprise number (KBO/BCE) has 10 digits, starts with 0 or 1, and passes the mod-97 check."""
    for file in enterprise.files:
        try:
            identifiers.enterprise_number(file.model.enterprise.number)
        except identifiers.InvalidIdentifier as error:
            yield file.site.at("enterprise", "number"), str(error)


@rule("H014", "SSINs are valid")
def valid_ssins(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """A person is identified by their SSIN (INSZ/NISS): a national register or BIS number with a possible
    birth date and valid mod-97 check digits."""
    for appointment in enterprise.appointments():
        if appointment.ssin_valid:
            continue
        try:
            identifiers.ssin(appointment.person.ssin)
        except identifiers.InvalidIdentifier as error:
            yield appointment.site.at("ssin"), str(error)


@rule("H015", "NSSO numbers are valid")
def valid_nsso_numbers(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """An employer's NSSO registration number is a category code, a registration number and check digits
    that match it."""
    for blocks in enterprise.qualities().values():
        for block in blocks:
            if block.model.nsso_number is None:
                continue
            try:
                identifiers.nsso_number(block.model.nsso_number)
            except identifiers.InvalidIdentifier as error:
                yield block.site.at("nsso_number"), str(error)
