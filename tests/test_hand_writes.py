"""The records written by hand, as the store's triggers list them (migration 0018): each table's
writes are listed by address, drift read through the list equals drift read from the whole
trail, an apply forgets the list, and whenever the list cannot be trusted to be complete
(nothing listed, drift older than the list, a kind nobody knows, TRUNCATE) the whole trail is
read as before."""

from __future__ import annotations

import random

import pytest
from conftest import EXAMPLES, outside_write

from reconciler.plan.drift import WRITES, drift_of, outside_changes
from reconciler.records.state import Address, Kind
from reconciler.store.backends import open_store
from reconciler.store.copy import copy_registry

SMALL = EXAMPLES / "small-employer.yaml"
SECRETARIAT = EXAMPLES / "social-secretariat"
E, S = "0999055557", "0999077729"


@pytest.fixture
def applied(run, store_url: str) -> str:
    for declared in (SMALL, SECRETARIAT):
        done = run("apply", declared, "--state", store_url, "--auto-approve", "--defer-codes")
        assert done.exit_code == 0, done.output
    return store_url


def listed(url: str, number: str) -> set[Address] | None:
    store = open_store(url)
    try:
        return store.written_by_hand(number)
    finally:
        store.close()


def both_ways(url: str, number: str) -> tuple[tuple, tuple]:
    """Drift as ``plan`` reads it (through the list) and as the whole trail gives it."""
    store = open_store(url)
    try:
        stored = store.read([number]).get(number)
        if stored is None:
            return (), ()
        whole = outside_changes(stored, store.applied_records(number, WRITES)) if stored.drifted else ()
        return drift_of(store, stored), whole
    finally:
        store.close()


def a(kind: Kind, quality: str = "", key: str = "", number: str = S) -> Address:
    return Address(number, kind, quality, key)


# One hand write per table and operation, and the records the triggers list for it.
WRITES_BY_HAND = [
    (
        "UPDATE persons SET email = 'lien@elsewhere.example' WHERE enterprise = '0999077729' AND ssin = '91020864669'",
        {a(Kind.PERSON, key="91020864669")},
    ),
    (
        "UPDATE enterprises SET name = 'Elders' WHERE number = '0999077729'",
        {a(Kind.ENTERPRISE)},
    ),
    (
        "UPDATE qualities SET notification_email = 'n@elsewhere.example' "
        "WHERE enterprise = '0999077729' AND code = 'social-secretariat'",
        {a(Kind.QUALITY, "social-secretariat")},
    ),
    (
        "DELETE FROM co_access_managers WHERE enterprise = '0999077729'",
        {a(Kind.CO_ACCESS_MANAGER, "social-secretariat", "60091406166")},
    ),
    (
        "UPDATE co_main_access_managers SET protected = 1 - protected WHERE enterprise = '0999077729'",
        {a(Kind.CO_MAIN_ACCESS_MANAGER, key="82070324776")},
    ),
    (
        "UPDATE users SET services = 'dimona' WHERE enterprise = '0999077729' AND ssin = '95100259156'",
        {a(Kind.USER, "social-secretariat", "95100259156")},
    ),
    (
        "INSERT INTO users (enterprise, quality, ssin, services) "
        "VALUES ('0999077729', 'employer', '87040208957', 'dimona')",
        {a(Kind.USER, "employer", "87040208957")},
    ),
    (  # a key changed: the record before and the one after
        "UPDATE users SET ssin = '60091406166' WHERE enterprise = '0999077729' AND ssin = '91020864669'",
        {a(Kind.USER, "social-secretariat", "91020864669"), a(Kind.USER, "social-secretariat", "60091406166")},
    ),
    (
        "UPDATE senders SET contact_phone = NULL WHERE enterprise = '0999077729' AND number = '230451'",
        {a(Kind.SENDER, "social-secretariat", "230451")},
    ),
    (
        "DELETE FROM routes WHERE enterprise = '0999077729' AND service = 'drs'",
        {a(Kind.ROUTE, "social-secretariat", "drs")},
    ),
    (
        "UPDATE profiles SET services = 'dimona' WHERE enterprise = '0999077729' AND name = 'declarations'",
        {a(Kind.PROFILE, key="declarations")},
    ),
    (  # written, but to what it was: listed, and no drift
        "UPDATE users SET services = services WHERE enterprise = '0999077729' AND ssin = '73070555405'",
        {a(Kind.USER, "employer", "73070555405")},
    ),
]


@pytest.mark.parametrize(("statement", "expected"), WRITES_BY_HAND, ids=[w[0][:40] for w in WRITES_BY_HAND])
def test_each_write_by_hand_is_listed_by_its_record(applied, statement: str, expected: set[Address]) -> None:
    assert listed(applied, S) is None  # nothing written by hand yet
    outside_write(applied, statement)
    assert listed(applied, S) == expected
    assert listed(applied, E) is None  # the other enterprise: untouched
    narrow, whole = both_ways(applied, S)
    assert narrow == whole
    assert {item.address for item in narrow} <= {str(address) for address in expected}


def test_a_row_moved_to_another_enterprise_moves_both(applied) -> None:
    outside_write(
        applied,
        "UPDATE users SET enterprise = '0999055557', quality = 'employer', ssin = '75031366754' "
        "WHERE enterprise = '0999077729' AND ssin = '95100259156'",
    )
    store = open_store(applied)
    try:
        found = store.read([E, S])
        assert found[E].drifted and found[S].drifted
    finally:
        store.close()
    assert listed(applied, S) == {a(Kind.USER, "social-secretariat", "95100259156")}
    assert listed(applied, E) == {a(Kind.USER, "employer", "75031366754", number=E)}
    for number in (E, S):
        narrow, whole = both_ways(applied, number)
        assert narrow == whole and len(narrow) == 1


@pytest.mark.parametrize("seed", range(4))
def test_drift_through_the_list_equals_the_whole_trail(applied, seed: int) -> None:
    """Any mix of hand writes, one after another: both readings agree on both enterprises."""
    statements = [statement for statement, _ in WRITES_BY_HAND]
    chosen = random.Random(seed).sample(statements, k=random.Random(seed).randint(2, len(statements)))
    for statement in chosen:
        try:
            outside_write(applied, statement)
        except Exception:  # noqa: BLE001 - a write an earlier one made impossible (a key already moved)
            continue
        for number in (E, S):
            narrow, whole = both_ways(applied, number)
            assert narrow == whole, statement


def test_an_apply_forgets_the_list_and_the_next_writes_start_a_new_one(run, applied) -> None:
    outside_write(applied, WRITES_BY_HAND[0][0])
    outside_write(applied, WRITES_BY_HAND[5][0])
    assert len(listed(applied, S) or ()) == 2
    done = run("apply", SECRETARIAT, "--state", applied, "--auto-approve", "--defer-codes")
    assert done.exit_code == 0, done.output
    assert listed(applied, S) is None and both_ways(applied, S) == ((), ())
    outside_write(applied, WRITES_BY_HAND[1][0])
    assert listed(applied, S) == {a(Kind.ENTERPRISE)}
    narrow, whole = both_ways(applied, S)
    assert narrow == whole and [item.address for item in narrow] == [f"enterprise[{S}]"]


def test_an_apply_with_nothing_to_change_forgets_the_list_too(run, tmp_path, applied) -> None:
    outside_write(applied, WRITES_BY_HAND[-1][0])  # written as it was: drifted, nothing differs
    done = run("apply", SECRETARIAT, "--state", applied, "--auto-approve", "--defer-codes")
    assert done.exit_code == 0, done.output
    assert listed(applied, S) is None
    store = open_store(applied)
    try:
        assert not store.read([S])[S].drifted
    finally:
        store.close()


@pytest.mark.parametrize(
    "tampering",
    [
        "DELETE FROM hand_writes",  # the list lost: the version still says the enterprise drifted
        "INSERT INTO hand_writes VALUES ('0999077729', 'no-such-kind', '', '')",
        "INSERT INTO hand_writes VALUES ('0999077729', '*', '', '')",
    ],
)
def test_a_list_that_cannot_be_complete_reads_the_whole_trail(applied, tampering: str) -> None:
    outside_write(applied, WRITES_BY_HAND[0][0])
    outside_write(applied, WRITES_BY_HAND[5][0])
    outside_write(applied, tampering)
    assert listed(applied, S) is None
    narrow, whole = both_ways(applied, S)
    assert narrow == whole and len(narrow) == 2


def test_a_list_naming_records_that_did_not_change_finds_no_drift(applied) -> None:
    outside_write(applied, WRITES_BY_HAND[0][0])
    outside_write(applied, "INSERT INTO hand_writes VALUES ('0999077729', 'user', 'employer', '73070555405')")
    narrow, whole = both_ways(applied, S)
    assert narrow == whole and [item.address for item in narrow] == [f"enterprise[{S}].person[91020864669]"]


def test_many_records_written_by_hand_read_the_trail_once(applied) -> None:
    """Past a quarter of the records, the whole trail is read in one pass; the result is the same."""
    outside_write(applied, "UPDATE users SET services = 'dimona' WHERE enterprise = '0999077729'")
    outside_write(applied, "UPDATE persons SET email = 'x@elsewhere.example' WHERE enterprise = '0999077729'")
    narrow, whole = both_ways(applied, S)
    assert narrow == whole and len(narrow) >= 6


def test_drift_older_than_the_list_reads_the_whole_trail(applied, store_url: str) -> None:
    """A store that drifted before migration 0018: the migration marks it, and drift is read as before."""
    outside_write(applied, WRITES_BY_HAND[5][0])
    outside_write(applied, "DROP TABLE hand_writes")
    if store_url.startswith("postgresql"):
        outside_write(applied, "DROP FUNCTION truncated_by_hand() CASCADE")
        outside_write(applied, "DROP FUNCTION enterprise_row_by_hand() CASCADE")
    else:
        outside_write(applied, "DROP TRIGGER enterprises_insert_version")
        outside_write(applied, "DROP TRIGGER enterprises_delete_version")
    outside_write(applied, "DELETE FROM schema_migrations WHERE version = 18")
    assert listed(applied, S) is None  # opening the store migrated it again: '*' for the drifted one
    store = open_store(applied)
    try:
        with store._snapshot():
            kinds = set(store._rows("SELECT enterprise, kind FROM hand_writes"))
    finally:
        store.close()
    assert kinds == {(S, "*")}
    narrow, whole = both_ways(applied, S)
    assert narrow == whole and len(narrow) == 1
    outside_write(applied, WRITES_BY_HAND[0][0])  # listed now, beside the older write nobody listed
    narrow, whole = both_ways(applied, S)
    assert narrow == whole and len(narrow) == 2


def test_truncate_by_hand_is_drift_of_every_enterprise(applied, store_url: str) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("SQLite has no TRUNCATE")
    outside_write(applied, "TRUNCATE routes")
    for number in (E, S):
        assert listed(applied, number) is None
    store = open_store(applied)
    try:
        assert all(found.drifted for found in store.read([E, S]).values())
    finally:
        store.close()
    narrow, whole = both_ways(applied, S)
    assert narrow == whole and {item.address for item in narrow} == {
        f"enterprise[{S}].quality[social-secretariat].route[{service}]" for service in ("dimona", "dmfa", "drs")
    }


def test_a_copy_keeps_the_list(applied, tmp_path) -> None:
    outside_write(applied, WRITES_BY_HAND[5][0])
    target = f"sqlite:///{tmp_path / 'copy.db'}"
    source, copy = open_store(applied), open_store(target)
    try:
        copy_registry(source, copy)
    finally:
        source.close()
        copy.close()
    assert listed(target, S) == listed(applied, S) == {a(Kind.USER, "social-secretariat", "95100259156")}
    assert both_ways(target, S)[0] == both_ways(applied, S)[0]
