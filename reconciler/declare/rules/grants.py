"""Rules on grants that end by themselves (``until``): real dates, and no co-access manager
outliving the access manager they help."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from reconciler.declare.catalogue import Catalogue
from reconciler.declare.characters import quoted, shown
from reconciler.declare.declared import Appointment, DeclaredEnterprise, Role
from reconciler.declare.diagnostics import where
from reconciler.declare.rules.registry import Finding, rule, warning
from reconciler.records import clock


def _until(appointment: Appointment) -> str | None:
    return getattr(appointment.person, "until", None)


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


@rule("H023", "end dates are days that exist")
def real_dates(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """A grant's end date (``until``, YYYY-MM-DD) is a day of the calendar: "2026-02-30" is refused
    rather than read as some other day."""
    for appointment in enterprise.dated():
        until = _until(appointment)
        if until is not None and _day(until) is None:
            yield appointment.site.at("until"), f"until {quoted(until)} is not a day of the calendar"


@rule("H024", "a co-access manager's grant ends no later than the access manager's")
def co_access_managers_end_first(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """Co-access managers help the access manager of their quality and exist only under one: when the
    access manager's grant ends, theirs has ended too."""
    managers = {a.quality: a for a in enterprise.managers() if a.role is Role.ACCESS_MANAGER}
    for appointment in enterprise.managers():
        manager = managers.get(appointment.quality)
        if appointment.role is not Role.CO_ACCESS_MANAGER or manager is None:
            continue
        ends, mine = _day(_until(manager) or ""), _day(_until(appointment) or "")
        if ends is None or (mine is not None and mine <= ends):
            continue
        yield (
            appointment.site.at("until") if _until(appointment) else appointment.site.at(key=True),
            f"co-access manager {shown(appointment.ssin)} of quality {quoted(appointment.quality)} would outlive "
            f"the access manager, whose grant ends on {_until(manager)} ({where(manager.site.at('until'))}); "
            f'give them until: "{_until(manager)}" or earlier',
        )


@warning("W001", "a grant that has ended can be deleted")
def ended_grants(enterprise: DeclaredEnterprise, catalogue: Catalogue) -> Iterator[Finding]:
    """A grant whose end date has come counts as not declared: its lines can be deleted."""
    today = clock.today()
    for appointment in enterprise.dated():
        text = _until(appointment)
        assert text is not None  # ``dated`` holds only appointments with an end date
        until = _day(text)
        if until is not None and until <= today:
            yield (
                appointment.site.at("until"),
                f"the {appointment.role.value} grant of {shown(appointment.ssin)} ended on {until.isoformat()}: "
                "it counts as not declared, and these lines can be deleted",
            )
