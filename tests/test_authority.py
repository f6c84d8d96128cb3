"""Every cell of the authority matrix, allowed and refused, and no self-promotion."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import pytest
from conftest import EXAMPLES

from reconciler.plan.authority import (
    AREAS,
    LEGAL_REPRESENTATIVE,
    Standing,
    areas_of,
    check_authority,
)
from reconciler.records.change import Action, Change
from reconciler.records.state import (
    Address,
    EnterpriseState,
    Kind,
    StoredEnterprise,
    fields,
)

E = "0999055557"
MAIN, CO_MAIN, AM, CO_AM, USER, OTHER = (
    "75031366754",
    "58022754967",
    "61061906014",
    "87040208957",
    "82070324776",
    "60091406166",
)
ACTOR_FOR = {
    Standing.LEGAL_REPRESENTATIVE: LEGAL_REPRESENTATIVE,
    Standing.MAIN: MAIN,
    Standing.CO_MAIN: CO_MAIN,
    Standing.ACCESS_MANAGER: AM,
    Standing.CO_ACCESS_MANAGER: CO_AM,
    Standing.SELF: USER,
}


def stored_state() -> dict[str, StoredEnterprise]:
    records = {
        Address(E, Kind.ENTERPRISE): fields(
            Kind.ENTERPRISE, name="Acme", main_access_manager=MAIN, default_quality="employer"
        ),
        Address(E, Kind.CO_MAIN_ACCESS_MANAGER, key=CO_MAIN): fields(Kind.CO_MAIN_ACCESS_MANAGER, protected=False),
        Address(E, Kind.QUALITY, "employer"): fields(Kind.QUALITY, activated=True, access_manager=AM, protected=False),
        Address(E, Kind.QUALITY, "mandatary"): fields(
            Kind.QUALITY, activated=True, access_manager=OTHER, protected=False
        ),
        Address(E, Kind.CO_ACCESS_MANAGER, "employer", CO_AM): fields(Kind.CO_ACCESS_MANAGER, protected=False),
        Address(E, Kind.USER, "employer", USER): fields(Kind.USER, services=("dimona",), protected=False),
    }
    for ssin in (MAIN, CO_MAIN, AM, CO_AM, USER, OTHER):
        records[Address(E, Kind.PERSON, key=ssin)] = fields(Kind.PERSON, name=f"P{ssin}", email="p@x.example")
    return {E: StoredEnterprise(EnterpriseState(E, MappingProxyType(records)), 5)}


def update(address: Address, name: str, value) -> Change:
    before = stored_state()[E].state.records[address]
    after = tuple((n, value if n == name else v) for n, v in before)
    return Change(Action.UPDATE, address, before, after)


def create(address: Address, **values) -> Change:
    return Change(Action.CREATE, address, None, fields(address.kind, **values))


# One representative change per area (A001 is checked apart: it needs an enterprise not yet stored).
REPRESENTATIVE = {
    "A002": update(Address(E, Kind.ENTERPRISE), "main_access_manager", CO_MAIN),
    "A003": update(Address(E, Kind.ENTERPRISE), "name", "Acme NV"),
    "A004": create(Address(E, Kind.CO_MAIN_ACCESS_MANAGER, key=OTHER), protected=False),
    "A005": update(Address(E, Kind.QUALITY, "employer"), "activated", False),
    "A006": update(Address(E, Kind.QUALITY, "employer"), "access_manager", OTHER),
    "A007": create(Address(E, Kind.CO_ACCESS_MANAGER, "employer", OTHER), protected=False),
    "A008": create(Address(E, Kind.USER, "employer", OTHER), services=("dmfa",), protected=False),
    "A009": update(Address(E, Kind.QUALITY, "employer"), "notification_email", "new@x.example"),
    "A010": create(
        Address(E, Kind.SENDER, "employer", "230451"),
        channel="ftp",
        contact_name="Ops",
        contact_email="o@x.example",
        protected=False,
    ),
    "A011": update(Address(E, Kind.PERSON, key=USER), "email", "changed@x.example"),
    "A013": create(Address(E, Kind.PROFILE, key="payroll"), services=("dimona", "dmfa")),
}
CELLS = [(area, standing) for area in sorted(REPRESENTATIVE) for standing in Standing]


def test_representatives_cover_every_area_but_creation() -> None:
    # A001 needs an enterprise not yet stored, A012 a plan that removes all of one (below).
    assert set(REPRESENTATIVE) | {"A001", "A012"} == set(AREAS)
    for area, change in REPRESENTATIVE.items():
        assert areas_of(change, new_enterprise=False) == {area}


@pytest.mark.parametrize(("area", "standing"), CELLS, ids=[f"{a}-{s.name}" for a, s in CELLS])
def test_matrix_cell(area: str, standing: Standing) -> None:
    problems = check_authority((REPRESENTATIVE[area],), stored_state(), ACTOR_FOR[standing], {})
    allowed = standing in AREAS[area].allowed
    assert (problems == []) == allowed, [str(p) for p in problems]
    if not allowed:
        assert [p.rule for p in problems] == [area]


@pytest.mark.parametrize("standing", list(Standing))
def test_creating_an_enterprise_needs_the_legal_representative(standing: Standing) -> None:
    change = create(
        Address("0999077729", Kind.ENTERPRISE), name="New", main_access_manager=MAIN, default_quality="employer"
    )
    problems = check_authority((change,), {}, ACTOR_FOR[standing], {})
    assert (problems == []) == (standing is Standing.LEGAL_REPRESENTATIVE)


# The matrix as the portal describes it, written out apart from AREAS so that a change to
# AREAS is a change to this table too (and to the README table, which `make docs` regenerates).
EXPECTED = {
    "A001": {Standing.LEGAL_REPRESENTATIVE},
    "A002": {Standing.LEGAL_REPRESENTATIVE},
    "A003": {Standing.MAIN, Standing.CO_MAIN},
    "A004": {Standing.MAIN, Standing.CO_MAIN},
    "A005": {Standing.MAIN, Standing.CO_MAIN},
    "A006": {Standing.MAIN, Standing.CO_MAIN},
    "A007": {Standing.MAIN, Standing.CO_MAIN, Standing.ACCESS_MANAGER},
    "A008": {Standing.MAIN, Standing.CO_MAIN, Standing.ACCESS_MANAGER, Standing.CO_ACCESS_MANAGER},
    # Managing a quality includes configuring its parameters, and the main access manager manages every quality.
    "A009": {Standing.MAIN, Standing.CO_MAIN, Standing.ACCESS_MANAGER, Standing.CO_ACCESS_MANAGER},
    "A010": {Standing.MAIN, Standing.CO_MAIN, Standing.ACCESS_MANAGER, Standing.CO_ACCESS_MANAGER},
    "A011": {Standing.SELF, Standing.MAIN, Standing.CO_MAIN, Standing.ACCESS_MANAGER},
}


@pytest.mark.parametrize("area", sorted(EXPECTED))
def test_matrix_row(area: str) -> None:
    assert AREAS[area].allowed == EXPECTED[area]


SENDER = Address(E, Kind.SENDER, "mandatary", "230451")
SENDER_FIELDS = {"channel": "ftp", "contact_name": "Ops", "contact_email": "o@x.example", "protected": False}
ROUTE = Address(E, Kind.ROUTE, "mandatary", "dmfa")
# Parameters of the quality "mandatary", whose access manager is OTHER: the main and co-main
# access managers configure them too, the access manager of another quality does not.
PARAMETER_CHANGES = {
    "create sender": Change(Action.CREATE, SENDER, None, fields(Kind.SENDER, **SENDER_FIELDS)),
    "remove sender": Change(Action.DELETE, SENDER, fields(Kind.SENDER, **SENDER_FIELDS), None),
    "create route": Change(Action.CREATE, ROUTE, None, fields(Kind.ROUTE, sender="230451")),
    "change route": Change(
        Action.UPDATE, ROUTE, fields(Kind.ROUTE, sender="230451"), fields(Kind.ROUTE, sender="230452")
    ),
    "remove route": Change(Action.DELETE, ROUTE, fields(Kind.ROUTE, sender="230451"), None),
}
PARAMETER_CASES = [
    (what, actor, allowed)
    for what in PARAMETER_CHANGES
    for actor, allowed in ((MAIN, True), (CO_MAIN, True), (OTHER, True), (AM, False), (CO_AM, False), (USER, False))
]


@pytest.mark.parametrize(("what", "actor", "allowed"), PARAMETER_CASES, ids=[f"{w}-{a}" for w, a, _ in PARAMETER_CASES])
def test_parameters_of_any_quality_are_configured_by_its_managers(what: str, actor: str, allowed: bool) -> None:
    problems = check_authority((PARAMETER_CHANGES[what],), stored_state(), actor, {})
    assert [p.rule for p in problems] == ([] if allowed else ["A010"])


def test_refusal_names_who_may_configure_parameters() -> None:
    (problem,) = check_authority((PARAMETER_CHANGES["create sender"],), stored_state(), AM, {})
    assert problem.message.endswith(
        "is reserved to: main access manager, co-main access manager, "
        "access manager of the quality, co-access manager of the quality"
    )


def test_access_manager_has_no_say_in_another_quality() -> None:
    change = create(Address(E, Kind.USER, "mandatary", OTHER), services=("dimona",), protected=False)
    problems = check_authority((change,), stored_state(), AM, {})
    assert [p.rule for p in problems] == ["A008"]


def test_nobody_promotes_themselves_in_the_same_change(run, tmp_path: Path) -> None:
    """Appointing yourself access manager and adding a user in one plan: the user is refused,
    because standing comes from the stored state."""
    state = f"sqlite:///{tmp_path / 's.db'}"
    small = EXAMPLES / "small-employer.yaml"
    assert run("apply", small, "--state", state, "--auto-approve").exit_code == 0
    text = small.read_text()
    text = text.replace(
        """    access_manager:
      ssin: "75031366754"
      name: Els Mertens
      email: els@goudenkorst.example""",
        """    access_manager:
      ssin: "58022754967"
      name: Jan Mertens
      email: jan@goudenkorst.example""",
    )
    text = text.replace("        services: [checkinatwork]", "        services: [checkinatwork, dimona]")
    changed = tmp_path / "changed.yaml"
    changed.write_text(text)
    result = run("plan", changed, "--state", state, "--actor", "58022754967")
    assert result.exit_code == 1
    assert result.stdout == ""
    rules = sorted(line.split(": ", 2)[1].split(" ", 1)[0] for line in result.stderr.splitlines()[:-1])
    assert rules == ["A006", "A008"]
    # Positions point into the YAML (read again exactly: the fast path keeps no positions).
    assert f"{changed}:15:11: A006 " in result.stderr  # the quality's code: employer
    # The user's own entry (sites of people and users are found only for such a message).
    user_line = text.splitlines().index('      - ssin: "61061906014"') + 1
    assert f"{changed}:{user_line}:9: A008 " in result.stderr
    allowed = run("plan", changed, "--state", state, "--actor", "75031366754")
    assert allowed.exit_code == 0


def offboarding() -> tuple[Change, ...]:
    """Every change that off-boards the stored enterprise: all records removed but the header."""
    records = stored_state()[E].state.records
    header = Address(E, Kind.ENTERPRISE)
    emptied = fields(Kind.ENTERPRISE, name=dict(records[header])["name"])
    removals = [Change(Action.DELETE, a, f, None) for a, f in records.items() if a != header]
    return (Change(Action.UPDATE, header, records[header], emptied), *removals)


@pytest.mark.parametrize("standing", list(Standing))
def test_offboarding_is_one_decision_of_the_legal_representative_or_the_main_access_manager(standing) -> None:
    found = check_authority(offboarding(), stored_state(), ACTOR_FOR[standing], {})
    if standing in AREAS["A012"].allowed:
        assert found == []
    else:
        assert [d.rule for d in found] == ["A012"]  # said once, not once per record removed
