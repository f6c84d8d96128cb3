"""The store: migrations, versions, stale plans, atomic apply, reading snapshots."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import EXAMPLES, outside_write

from reconciler.apply import execute
from reconciler.apply.execute import apply_plan
from reconciler.plan.desired import load_desired
from reconciler.plan.plan import make_plan
from reconciler.records.change import Action, Change
from reconciler.records.state import Address, Kind, fields
from reconciler.store.audit import verify_chain
from reconciler.store.backends import open_store
from reconciler.store.port import LockTimeout, StalePlan, StoreError
from reconciler.store.sql import migrations

SMALL = EXAMPLES / "small-employer.yaml"
E = "0999055557"


def planned(store, path: Path = SMALL):
    desired, problems = load_desired([path])
    assert problems == []
    return desired, make_plan(desired.enterprises, store.read(desired.enterprises))


def test_migrations_are_applied_once_and_recorded(store_url: str) -> None:
    first = open_store(store_url)
    recorded = first.applied_migrations()
    first.close()
    dialect = store_url.split(":", 1)[0]
    assert [version for version, _ in recorded] == [version for version, _, _ in migrations(dialect)]
    assert recorded[0] == (1, "0001_initial")
    again = open_store(store_url)
    assert again.applied_migrations() == recorded
    again.close()


def test_every_write_bumps_the_version(store) -> None:
    _, plan = planned(store)
    apply_plan(plan, store)
    version = store.read([E])[E].version
    _, again = planned(store)
    apply_plan(again, store)  # empty plan: nothing written, version unchanged
    assert store.read([E])[E].version == version


def test_writes_outside_reconciler_bump_the_version_and_make_plans_stale(store_url: str) -> None:
    store = open_store(store_url)
    _, plan = planned(store)
    apply_plan(plan, store)
    before = store.read([E])[E].version
    outside_write(store_url, "UPDATE persons SET email = 'x@y.example' WHERE ssin = '58022754967'")
    assert store.read([E])[E].version == before + 1
    outside_write(store_url, "UPDATE enterprises SET name = 'Renamed by hand'")
    assert store.read([E])[E].version == before + 2
    outside_write(store_url, "UPDATE enterprises SET language = 'de'")
    assert store.read([E])[E].version == before + 3
    outside_write(store_url, "UPDATE persons SET language = 'fr' WHERE ssin = '58022754967'")
    assert store.read([E])[E].version == before + 4
    _, stale = planned(store)
    outside_write(store_url, "DELETE FROM users WHERE ssin = '61061906014'")
    with pytest.raises(StalePlan, match=f"enterprise {E} changed since the plan was made"):
        apply_plan(stale, store)
    _, fresh = planned(store)
    apply_plan(fresh, store)
    assert planned(store)[1].is_empty
    store.close()


def test_one_apply_is_one_version(store) -> None:
    _, plan = planned(store)
    apply_plan(plan, store)
    assert store.read([E])[E].version == 1


def test_a_plan_for_a_new_enterprise_is_stale_once_it_exists(store) -> None:
    _, plan = planned(store)
    _, same = planned(store)
    apply_plan(plan, store)
    with pytest.raises(StalePlan, match="planned against absent, now version"):
        apply_plan(same, store)


def test_apply_is_all_or_nothing(store) -> None:
    _, plan = planned(store)
    # A change that the database refuses (a user in a quality that does not exist) at the very end.
    broken = Change(
        Action.CREATE,
        Address(E, Kind.USER, "no-such-quality", "58022754967"),
        None,
        fields(Kind.USER, services=("dimona",)),
    )
    with pytest.raises(Exception):  # noqa: B017 - whatever the backend raises, nothing may remain
        apply_plan(replace(plan, changes=(*plan.changes, broken)), store)
    assert store.read() == {}
    apply_plan(plan, store)
    assert E in store.read()


def test_read_returns_only_the_enterprises_asked_for(store) -> None:
    _, plan = planned(store, EXAMPLES)
    apply_plan(plan, store, now=datetime(2026, 1, 1, tzinfo=UTC))
    assert set(store.read()) == {"0999055557", "0999077729", "0999123457"}
    assert set(store.read(["0999077729", "0999000000"])) == {"0999077729"}
    assert store.read([]) == {}


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE qualities SET activated = 7",
        "INSERT INTO enterprises (number, name) VALUES ('123', 'too short')",
        "UPDATE accounts SET status = 'asleep'",
        "UPDATE accounts SET username = (SELECT min(username) FROM accounts)",
    ],
)
def test_store_rejects_impossible_rows_written_by_hand(store_url: str, statement: str) -> None:
    store = open_store(store_url)
    _, plan = planned(store)
    apply_plan(plan, store)
    store.close()
    with pytest.raises(Exception, match=r"(?i)constraint|check"):
        outside_write(store_url, statement)


def test_unsupported_url() -> None:
    with pytest.raises(StoreError, match="unsupported state URL"):
        open_store("mysql://localhost/db")


def test_a_sqlite_transaction_writes_with_a_larger_cache_and_gives_it_back(tmp_path: Path) -> None:
    """A first apply writes millions of rows in one transaction: SQLite's page cache is larger while
    it does, and back to SQLite's default after, whether it commits or fails."""
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    cache = lambda: store.connection.execute("PRAGMA cache_size").fetchone()[0]  # noqa: E731
    assert cache() == -2000
    with store.transaction(datetime.now(UTC), [], "r"):
        assert cache() == -64 * 1024
    assert cache() == -2000
    with pytest.raises(RuntimeError), store.transaction(datetime.now(UTC), [], "r"):
        raise RuntimeError("failed half way")
    assert cache() == -2000


def test_a_sqlite_transaction_keeps_its_statement_journals_in_memory_and_only_it(tmp_path: Path) -> None:
    """Inside an apply, what SQLite keeps to undo one statement stays in memory (faster, and nothing
    of the store lands in the temporary folder); before and after, whether it commits or fails,
    temporary storage is SQLite's default again."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store, other = open_store(url), open_store(url, lock_timeout=0.05)
    temp = lambda opened: opened.connection.execute("PRAGMA temp_store").fetchone()[0]  # noqa: E731
    try:
        assert temp(store) == 0
        with store.transaction(datetime.now(UTC), [], "r"):
            assert temp(store) == 2  # MEMORY
            with pytest.raises(LockTimeout), other.transaction(datetime.now(UTC), [], "waiting"):
                pass
            assert temp(other) == 0  # the one that timed out waiting is as it was
        assert temp(store) == 0
        with pytest.raises(RuntimeError), store.transaction(datetime.now(UTC), [], "r"):
            raise RuntimeError("failed half way")
        assert temp(store) == 0
    finally:
        store.close()
        other.close()


def test_audit_entries_written_in_batches_chain_as_if_written_at_once(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An enterprise's audit entries are made and written a batch at a time, with the batches of
    changes executed (``execute.EXECUTED_TOGETHER``): batches of three give exactly the entries,
    hashes and heads one batch gives, and the chain verifies."""
    now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    folder = EXAMPLES
    whole = open_store(f"sqlite:///{tmp_path / 'whole.db'}")
    desired, plan = planned(whole, folder)
    heads = apply_plan(plan, whole, now=now, run="run-1")
    monkeypatch.setattr(execute, "EXECUTED_TOGETHER", 3)
    batched = open_store(store_url)
    assert make_plan(desired.enterprises, batched.read(desired.enterprises)) == plan
    assert apply_plan(plan, batched, now=now, run="run-1") == heads
    assert [tuple(e) for e in batched.audit_entries()] == [tuple(e) for e in whole.audit_entries()]
    assert max(len(whole.audit_entries(n)) for n in desired.enterprises) > 3
    for number in desired.enterprises:
        log = batched.audit_entries(number)
        assert verify_chain(number, log) == []


def test_a_new_sqlite_store_has_large_pages_and_an_older_one_keeps_its_own(tmp_path: Path) -> None:
    """Pages of 16 kB for stores created now (bulk inserts and full reads of millions of rows are
    faster); a store created with SQLite's 4 kB pages keeps them and works as before."""
    new = tmp_path / "new.db"
    open_store(f"sqlite:///{new}").close()
    with sqlite3.connect(new) as db:
        assert db.execute("PRAGMA page_size").fetchone() == (16384,)
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as db:
        db.execute("PRAGMA page_size = 4096")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("CREATE TABLE made_before (x)")
    store = open_store(f"sqlite:///{old}")
    try:
        apply_plan(planned(store)[1], store)
        assert store.read([E])[E].version == 1
    finally:
        store.close()
    with sqlite3.connect(old) as db:
        assert db.execute("PRAGMA page_size").fetchone() == (4096,)
