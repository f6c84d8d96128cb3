"""The differ and the order of changes: table-driven cases and a property over random states."""

from __future__ import annotations

from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.plan.plan import make_plan
from reconciler.records.change import Action
from reconciler.records.state import (
    Address,
    EnterpriseState,
    Fields,
    Kind,
    StoredEnterprise,
    fields,
)

E = "0999055557"
A, B, C = "75031366754", "58022754967", "61061906014"


def person(ssin: str, name: str = "Name", email: str = "a@b.example") -> tuple[Address, Fields]:
    return Address(E, Kind.PERSON, key=ssin), fields(Kind.PERSON, name=name, email=email)


def state(*records: tuple[Address, Fields]) -> EnterpriseState:
    return EnterpriseState(E, MappingProxyType(dict(records)))


def enterprise(main: str = A, default: str = "employer", name: str = "Acme") -> tuple[Address, Fields]:
    return Address(E, Kind.ENTERPRISE), fields(
        Kind.ENTERPRISE, name=name, main_access_manager=main, default_quality=default
    )


def quality(code: str = "employer", access_manager: str | None = None, email: str | None = None):
    return Address(E, Kind.QUALITY, code), fields(
        Kind.QUALITY, activated=True, access_manager=access_manager, notification_email=email
    )


def user(ssin: str, *services: str, code: str = "employer"):
    return Address(E, Kind.USER, code, ssin), fields(Kind.USER, services=tuple(sorted(services)))


BASE = (enterprise(), person(A), quality())

CASES = [
    ("nothing to do", BASE, BASE, []),
    (
        "add a user",
        BASE,
        (*BASE, person(B), user(B, "dimona")),
        [("create", f"enterprise[{E}].person[{B}]"), ("create", f"enterprise[{E}].quality[employer].user[{B}]")],
    ),
    (
        "remove a user and their person",
        (*BASE, person(B), user(B, "dimona")),
        BASE,
        [("delete", f"enterprise[{E}].quality[employer].user[{B}]"), ("delete", f"enterprise[{E}].person[{B}]")],
    ),
    (
        "change services",
        (*BASE, person(B), user(B, "dimona")),
        (*BASE, person(B), user(B, "dimona", "dmfa")),
        [("update", f"enterprise[{E}].quality[employer].user[{B}]")],
    ),
    (
        "replace the main access manager",
        BASE,
        (enterprise(main=B), person(A), person(B), quality()),
        [("create", f"enterprise[{E}].person[{B}]"), ("update", f"enterprise[{E}]")],
    ),
    (
        "hand over and leave",
        BASE,
        (enterprise(main=B), person(B), quality()),
        [
            ("create", f"enterprise[{E}].person[{B}]"),
            ("update", f"enterprise[{E}]"),
            ("delete", f"enterprise[{E}].person[{A}]"),
        ],
    ),
    (
        "move the default quality to a new one",
        BASE,
        (enterprise(default="mandatary"), person(A), quality(), quality("mandatary")),
        [("create", f"enterprise[{E}].quality[mandatary]"), ("update", f"enterprise[{E}]")],
    ),
    (
        "replace an access manager",
        (enterprise(), person(A), person(B), quality(access_manager=A)),
        (enterprise(), person(A), person(B), quality(access_manager=B)),
        [("update", f"enterprise[{E}].quality[employer]")],
    ),
]


@pytest.mark.parametrize(("name", "stored", "desired", "expected"), CASES, ids=[c[0] for c in CASES])
def test_differ(name: str, stored, desired, expected) -> None:
    plan = make_plan({E: state(*desired)}, {E: StoredEnterprise(state(*stored), 3)})
    assert [(c.action.value, str(c.address)) for c in plan.changes] == expected
    assert plan.versions == (((E, 3),) if expected else ())


def test_field_level_changes() -> None:
    plan = make_plan(
        {E: state(enterprise(name="Acme NV"), person(A), quality(email="x@y.example"))},
        {E: StoredEnterprise(state(*BASE), 1)},
    )
    changed = {str(c.address): [(f.name, f.before, f.after) for f in c.field_changes] for c in plan.changes}
    assert changed == {
        f"enterprise[{E}]": [("name", "Acme", "Acme NV")],
        f"enterprise[{E}].quality[employer]": [("notification_email", None, "x@y.example")],
    }


def test_new_enterprise_has_no_version_and_plans_are_values() -> None:
    desired = {E: state(*BASE)}
    first, second = make_plan(desired, {}), make_plan(desired, {})
    assert first.versions == ((E, None),)
    assert first == second and hash(first) == hash(second)
    assert first.counts() == {Action.CREATE: 3, Action.UPDATE: 0, Action.DELETE: 0}


def test_enterprises_only_in_the_store_are_left_alone() -> None:
    other = EnterpriseState("0999077729", MappingProxyType({Address("0999077729", Kind.ENTERPRISE): ()}))
    plan = make_plan({E: state(*BASE)}, {"0999077729": StoredEnterprise(other, 1)})
    assert {c.address.enterprise for c in plan.changes} == {E}


# --- property: any valid stored state, any valid desired state -------------------------------

PEOPLE = ["75031366754", "58022754967", "61061906014", "82070324776"]
QUALITIES = ["employer", "mandatary", "service-provider"]
SERVICES = ["dimona", "dmfa", "drs"]


@st.composite
def enterprise_states(draw) -> EnterpriseState:
    codes = draw(st.lists(st.sampled_from(QUALITIES), min_size=1, unique=True))
    referenced: set[str] = set()

    def someone() -> str:
        ssin = draw(st.sampled_from(PEOPLE))
        referenced.add(ssin)
        return ssin

    records: dict[Address, Fields] = {}
    main = someone()
    records[Address(E, Kind.ENTERPRISE)] = fields(
        Kind.ENTERPRISE,
        name=draw(st.sampled_from(["A", "B"])),
        main_access_manager=main,
        default_quality=draw(st.sampled_from(codes)),
    )
    for ssin in draw(st.lists(st.sampled_from(PEOPLE), unique=True, max_size=2)):
        if ssin != main:
            referenced.add(ssin)
            records[Address(E, Kind.CO_MAIN_ACCESS_MANAGER, key=ssin)] = ()
    for index, code in enumerate(codes):
        manager = someone() if draw(st.booleans()) else None
        records[Address(E, Kind.QUALITY, code)] = fields(
            Kind.QUALITY,
            activated=True,
            access_manager=manager,
            notification_email=draw(st.sampled_from([None, "n@x.example"])),
        )
        if manager:
            for ssin in draw(st.lists(st.sampled_from(PEOPLE), unique=True, max_size=2)):
                if ssin != manager:
                    referenced.add(ssin)
                    records[Address(E, Kind.CO_ACCESS_MANAGER, code, ssin)] = ()
        for ssin in draw(st.lists(st.sampled_from(PEOPLE), unique=True, max_size=3)):
            referenced.add(ssin)
            records[Address(E, Kind.USER, code, ssin)] = fields(
                Kind.USER, services=tuple(sorted(draw(st.sets(st.sampled_from(SERVICES)))))
            )
        senders = [f"{index}{n}" for n in draw(st.sets(st.sampled_from("12"), max_size=2))]
        for number in senders:
            records[Address(E, Kind.SENDER, code, number)] = fields(
                Kind.SENDER,
                channel=draw(st.sampled_from(["ftp", "sftp"])),
                contact_name="Ops",
                contact_email="o@x.example",
            )
        if senders:
            for service in draw(st.sets(st.sampled_from(SERVICES))):
                records[Address(E, Kind.ROUTE, code, service)] = fields(
                    Kind.ROUTE, sender=draw(st.sampled_from(senders))
                )
    for ssin in referenced:
        records[Address(E, Kind.PERSON, key=ssin)] = fields(
            Kind.PERSON, name=draw(st.sampled_from(["N1", "N2"])), email="p@x.example"
        )
    return EnterpriseState(E, MappingProxyType(records))


def broken_references(records: dict[Address, Fields], skip_enterprise: bool) -> list[str]:
    """References that point at nothing: what a plan step must never leave behind."""
    people = {a.key for a in records if a.kind is Kind.PERSON}
    qualities = {a.quality for a in records if a.kind is Kind.QUALITY}
    senders = {(a.quality, a.key) for a in records if a.kind is Kind.SENDER}
    broken = []
    for address, values in records.items():
        values = dict(values)
        if (
            address.kind is Kind.ENTERPRISE
            and not skip_enterprise
            and (values["main_access_manager"] not in people or values["default_quality"] not in qualities)
        ):
            broken.append(str(address))
        if address.kind is Kind.QUALITY and values["access_manager"] and values["access_manager"] not in people:
            broken.append(str(address))
        if (
            address.kind in (Kind.CO_MAIN_ACCESS_MANAGER, Kind.CO_ACCESS_MANAGER, Kind.USER)
            and address.key not in people
        ):
            broken.append(str(address))
        if (
            address.kind in (Kind.CO_ACCESS_MANAGER, Kind.USER, Kind.SENDER, Kind.ROUTE)
            and address.quality not in qualities
        ):
            broken.append(str(address))
        if address.kind is Kind.ROUTE and (address.quality, values["sender"]) not in senders:
            broken.append(str(address))
    return broken


@settings(max_examples=300, deadline=None)
@given(stored=st.one_of(st.none(), enterprise_states()), desired=enterprise_states())
def test_every_step_keeps_references_valid_and_the_end_is_the_desired_state(stored, desired) -> None:
    plan = make_plan({E: desired}, {E: StoredEnterprise(stored, 1)} if stored else {})
    records = dict(stored.records) if stored else {}
    for change in plan.changes:
        if change.action is Action.DELETE:
            assert change.address in records
            del records[change.address]
        else:
            assert (change.address in records) == (change.action is Action.UPDATE)
            records[change.address] = change.after
        assert broken_references(records, skip_enterprise=stored is None and len(records) < len(desired.records)) == []
    assert records == dict(desired.records)
    assert make_plan({E: desired}, {E: StoredEnterprise(EnterpriseState(E, records), 2)}).is_empty
