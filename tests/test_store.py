"""The store: migrations, versions, stale plans, atomic apply, reading snapshots."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import EXAMPLES
from reconciler.apply import apply_plan
from reconciler.desired import load_desired
from reconciler.plan import Action, Change, make_plan
from reconciler.state import Address, Kind, fields
from reconciler.store import StalePlan, StoreError, open_store
from reconciler.store.sqlite import migrations

SMALL = EXAMPLES / "small-employer.yaml"
E = "0999055557"


def planned(store, path: Path = SMALL):
    desired, problems = load_desired([path])
    assert problems == []
    return desired, make_plan(desired.enterprises, store.read(desired.enterprises))


def test_migrations_are_applied_once_and_recorded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    first = open_store(url)
    recorded = first.applied_migrations()
    first.close()
    assert [version for version, _ in recorded] == [version for version, _, _ in migrations()]
    assert recorded[0] == (1, "0001_initial")
    again = open_store(url)
    assert again.applied_migrations() == recorded
    again.close()


def test_every_write_bumps_the_version(store) -> None:
    _, plan = planned(store)
    apply_plan(plan, store)
    version = store.read([E])[E].version
    _, again = planned(store)
    apply_plan(again, store)  # empty plan: nothing written, version unchanged
    assert store.read([E])[E].version == version


def test_writes_outside_reconciler_bump_the_version_and_make_plans_stale(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = open_store(f"sqlite:///{path}")
    _, plan = planned(store)
    apply_plan(plan, store)
    before = store.read([E])[E].version
    with sqlite3.connect(path) as db:
        db.execute("UPDATE persons SET email = 'x@y.example' WHERE ssin = '58022754967'")
    assert store.read([E])[E].version == before + 1
    _, stale = planned(store)
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM users WHERE ssin = '61061906014'")
    with pytest.raises(StalePlan, match=f"enterprise {E} changed since the plan was made"):
        apply_plan(stale, store)
    store.close()


def test_a_plan_for_a_new_enterprise_is_stale_once_it_exists(store) -> None:
    _, plan = planned(store)
    _, same = planned(store)
    apply_plan(plan, store)
    with pytest.raises(StalePlan, match="planned against absent, now version"):
        apply_plan(same, store)


def test_apply_is_all_or_nothing(store) -> None:
    _, plan = planned(store)
    # A change that the database refuses (a user in a quality that does not exist) at the very end.
    broken = Change(Action.CREATE, Address(E, Kind.USER, "no-such-quality", "58022754967"), None,
                    fields(Kind.USER, services=("dimona",)))
    with pytest.raises(Exception):
        apply_plan(replace(plan, changes=plan.changes + (broken,)), store)
    assert store.read() == {}
    apply_plan(plan, store)
    assert E in store.read()


def test_read_returns_only_the_enterprises_asked_for(store) -> None:
    _, plan = planned(store, EXAMPLES)
    apply_plan(plan, store, now=datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert set(store.read()) == {"0999055557", "0999077729", "0999123457"}
    assert set(store.read(["0999077729", "0999000000"])) == {"0999077729"}
    assert store.read([]) == {}


def test_store_rejects_impossible_rows_written_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = open_store(f"sqlite:///{path}")
    _, plan = planned(store)
    apply_plan(plan, store)
    store.close()
    with sqlite3.connect(path) as db:
        with pytest.raises(sqlite3.IntegrityError):
            db.execute("UPDATE qualities SET activated = 7")
        with pytest.raises(sqlite3.IntegrityError):
            db.execute("INSERT INTO enterprises (number, name) VALUES ('123', 'too short')")


def test_unsupported_url() -> None:
    with pytest.raises(StoreError, match="unsupported state URL"):
        open_store("mysql://localhost/db")
