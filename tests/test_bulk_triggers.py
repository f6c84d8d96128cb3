"""A large apply on SQLite sets aside, inside its transaction, the triggers that count writes made
outside reconciler; they are back exactly as they were when it commits, and when it fails."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import EXAMPLES, outside_write

from reconciler.store import sql
from reconciler.store import transaction as store_transaction
from reconciler.store.backends import open_store
from reconciler.store.sqlite import SqliteStore

SMALL = EXAMPLES / "small-employer.yaml"
E = "0999055557"


def triggers(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name").fetchall()


def version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT version FROM enterprises WHERE number = ?", (E,)).fetchone()[0])


@pytest.fixture
def lite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path, list]:
    """A new SQLite store, every batch counted as bulk, and what each set-aside found: (aside in the
    apply's connection, triggers another connection sees meanwhile)."""
    path = tmp_path / "state.db"
    url = f"sqlite:///{path}"
    open_store(url).close()
    monkeypatch.setattr(store_transaction, "BULK_ROWS", 1)
    seen: list = []
    original = SqliteStore._writing_in_bulk

    def spy(self: SqliteStore) -> None:
        original(self)
        mine = self.connection.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'").fetchone()[0]
        seen.append((len(self._aside), mine, triggers(path)))

    monkeypatch.setattr(SqliteStore, "_writing_in_bulk", spy)
    return url, path, seen


def test_a_bulk_apply_puts_every_trigger_back_and_outside_writes_count_again(run, lite) -> None:
    url, path, seen = lite
    before = triggers(path)
    counting = [name for name, text in before if "apply_in_progress" in text]
    assert len(counting) > 10
    result = run("apply", SMALL, "--state", url, "--auto-approve", "--defer-codes")
    assert result.exit_code == 0, result.output
    aside, mine, others = seen[0]
    assert aside == len(counting)  # set aside in the apply's transaction ...
    assert mine == len(before) - len(counting)
    assert others == before  # ... while another connection still sees them all
    assert triggers(path) == before
    applied = version(path)
    outside_write(
        url,
        f"UPDATE persons SET name = 'Someone Else' WHERE enterprise = '{E}' "
        f"AND ssin = (SELECT min(ssin) FROM persons WHERE enterprise = '{E}')",
    )
    assert version(path) == applied + 1  # a write by hand is counted again
    assert run("plan", SMALL, "--state", url, "--detailed-exitcode").exit_code == 2


def test_a_bulk_apply_that_fails_leaves_the_store_and_its_triggers_as_they_were(run, lite, monkeypatch) -> None:
    url, path, seen = lite
    before = triggers(path)

    def fail(self, numbers) -> None:
        raise sql.StoreError("the disk is full")

    monkeypatch.setattr(store_transaction.SqlTransaction, "bump_versions", fail)
    result = run("apply", SMALL, "--state", url, "--auto-approve", "--defer-codes")
    assert result.exit_code != 0
    assert seen, "nothing was set aside: the failure came too early to test anything"
    assert triggers(path) == before
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM persons").fetchone() == (0,)
