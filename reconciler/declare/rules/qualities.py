"""Rules inside qualities: the default quality, access managers, co-access managers, users."""

from __future__ import annotations

from collections.abc import Iterator

from reconciler.declare.catalogue import Catalogue
from reconciler.declare.characters import shown
from reconciler.declare.declared import Appointment, Block, DeclaredEnterprise, Role, users_of
from reconciler.declare.diagnostics import where
from reconciler.declare.model import Quality
from reconciler.declare.rules.registry import Finding, rule

SINGLE_VALUED = ("activated", "default", "protected", "nsso_number", "notification_email")


def is_activated(blocks: list[Block[Quality]]) -> bool:
    return all(block.model.activated is not False for block in blocks)


@rule("H003", "exactly one default quality")
def one_default_quality(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """One quality, the default quality (standaardhoedanigheid), is activated when the account is created:
    exactly one quality is marked default, and it is activated."""
    defaults = [
        (code, block) for code, blocks in enterprise.qualities().items() for block in blocks if block.model.default
    ]
    if not defaults:
        yield (
            enterprise.first_site.at("qualities"),
            f"enterprise {shown(enterprise.number)} has no default quality; mark one quality default: true",
        )
        return
    first_code, first = defaults[0]
    for code, block in defaults[1:]:
        if code != first_code:
            yield (
                block.site.at("default"),
                f'"{first_code}" is already the default quality ({where(first.site.at("default"))})',
            )
    if not is_activated(enterprise.qualities()[first_code]):
        yield first.site.at("default"), f'the default quality "{first_code}" cannot be deactivated'


@rule("H004", "at most one access manager per activated quality")
def one_access_manager(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """ "You can appoint as many access managers as there are activated qualities": each quality has at most
    one access manager (Toegangsbeheerder / lokale beheerder)."""
    for code, blocks in enterprise.qualities().items():
        managed = [b for b in blocks if b.model.access_manager is not None]
        for block in managed[1:]:
            yield (
                block.site.at("access_manager", key=True),
                f'quality "{code}" already has an access manager ({where(managed[0].site.at("access_manager"))})',
            )


@rule("H005", "co-access managers only under an access manager")
def co_access_managers_need_access_manager(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """Each access manager may appoint co-access managers: a quality without an access manager has none."""
    for code, blocks in enterprise.qualities().items():
        if any(b.model.access_manager is not None for b in blocks):
            continue
        for block in blocks:
            if block.model.co_access_managers:
                yield (
                    block.site.at("co_access_managers", key=True),
                    f'quality "{code}" has co-access managers but no access manager',
                )


@rule("H006", "one role per person per quality")
def one_role_per_quality(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """Never the same person twice in one quality: a person is at most once among its administrators
    (access manager and co-access managers) and at most once among its users."""
    seen: dict[tuple[str, bool, str], Appointment] = {}
    for appointment in enterprise.appointments():
        if appointment.quality is None:
            continue
        group = (appointment.quality, appointment.role is Role.USER, appointment.ssin)
        if group in seen:
            earlier = seen[group]
            yield (
                appointment.site.at("ssin"),
                f'{shown(appointment.person.name)} is already {earlier.role.value} of quality "{appointment.quality}" '
                f"({where(earlier.site.at())})",
            )
        else:
            seen[group] = appointment


@rule("H007", "people only in activated qualities")
def only_activated_qualities(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """Users, administrators and senders exist only in activated qualities: a quality declared with
    activated: false holds none."""
    for code, blocks in enterprise.qualities().items():
        if is_activated(blocks):
            continue
        for block in blocks:
            for field in ("access_manager", "co_access_managers", "users", "senders"):
                if getattr(block.model, field):
                    yield (
                        block.site.at(field, key=True),
                        f'quality "{code}" is not activated and cannot have {field.replace("_", " ")}',
                    )


@rule("H008", "users only get services their quality offers", "JSON Schema")
def offered_services(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """Access managers grant users the online services of their quality: each service granted is one
    the quality offers in the catalogue."""
    for code, blocks in enterprise.qualities().items():
        offered = catalogue.qualities[code].services
        for block in blocks:
            for u, user in enumerate(users_of(block.model)):
                for s, service in enumerate(user.services):
                    if service not in offered:
                        yield (
                            block.site.at("users", u, "services", s),
                            f'quality "{code}" does not offer the service "{service}"',
                        )


@rule(
    "H016",
    "each quality has the identifiers it requires",
    "JSON Schema, in the block that sets the quality's settings; the tool, across blocks",
)
def required_identifiers(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """A quality carries the identifiers it needs: an employer quality needs its NSSO registration number."""
    for code, blocks in enterprise.qualities().items():
        for field in catalogue.qualities[code].requires:
            if all(getattr(block.model, field) is None for block in blocks):
                yield blocks[0].site.at("code"), f'quality "{code}" requires {field}'


@rule("H019", "a quality's settings are declared once")
def settings_declared_once(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """A quality may be split over several blocks, but each of its settings (activated, default,
    protected, nsso_number, notification_email) is set in one block only."""
    for code, blocks in enterprise.qualities().items():
        for field in SINGLE_VALUED:
            setters = [b for b in blocks if getattr(b.model, field) is not None]
            for block in setters[1:]:
                yield (
                    block.site.at(field, key=True),
                    f'{field} of quality "{code}" is already set ({where(setters[0].site.at(field))})',
                )
