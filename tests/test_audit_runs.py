"""What an apply's entries share is kept once (audit_runs), and each entry's previous hash is read
from the entry before it: the chain, its hashes and what `audit verify` finds stay as they were.

Migration 0016 moves a trail written the old way (every field on every entry) into that layout,
on both stores; copies keep the runs, and the next apply after a copy gets a run of its own.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from conftest import drop_store, new_store_url, outside_write

from reconciler.apply.execute import apply_plan
from reconciler.store import audit
from reconciler.store.backends import open_store
from reconciler.store.copy import copy_registry
from tests.test_gitops import SMALL, edited, plan_for

E = "0999055557"

OLD_TABLE = """CREATE TABLE audit_log (
    enterprise TEXT NOT NULL, seq BIGINT NOT NULL, at TEXT NOT NULL, actor TEXT, run TEXT NOT NULL,
    plan_hash TEXT NOT NULL, commit_sha TEXT, overrides TEXT NOT NULL, action TEXT NOT NULL,
    address TEXT NOT NULL, before TEXT, after TEXT, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
    PRIMARY KEY (enterprise, seq))"""


def rows(store, query: str) -> list[tuple]:
    with store._snapshot():
        return store._rows(query)


def two_applies(url: str, tmp_path: Path) -> list[audit.AuditEntry]:
    store = open_store(url)
    try:
        apply_plan(plan_for(SMALL, store, actor=None), store)
        apply_plan(plan_for(edited(tmp_path, "x.yaml", ("administratie@", "hr@")), store), store)
        return store.audit_entries(E)
    finally:
        store.close()


def as_before_0016(url: str, entries: list[audit.AuditEntry]) -> None:
    """The trail as a store made before migration 0016 held it: every field on every entry."""
    outside_write(url, "DROP TABLE audit_log")
    outside_write(url, "DROP TABLE audit_runs")
    outside_write(url, OLD_TABLE)
    for entry in entries:
        values = ", ".join("NULL" if v is None else f"'{v}'" if isinstance(v, str) else str(v) for v in entry)
        outside_write(url, f"INSERT INTO audit_log VALUES ({values})")
    outside_write(url, "DELETE FROM schema_migrations WHERE version = 16")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_trail_written_before_0016_moves_over_and_still_verifies(kind: str, tmp_path: Path) -> None:
    url = new_store_url(kind, tmp_path)
    try:
        entries = two_applies(url, tmp_path)
        assert len({(e.at, e.run, e.plan_hash) for e in entries}) == 2
        as_before_0016(url, entries)
        store = open_store(url)  # migrates
        try:
            assert store.audit_entries(E) == entries
            assert audit.verify(store.audit_entries(), store.audit_heads()) == []
            assert len(rows(store, "SELECT id FROM audit_runs")) == 2
            apply_plan(plan_for(SMALL, store), store)  # the chain goes on from the migrated head
            after = store.audit_entries(E)
            assert after[: len(entries)] == entries and len(after) > len(entries)
            assert audit.verify(store.audit_entries(), store.audit_heads()) == []
        finally:
            store.close()
    finally:
        drop_store(url)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_an_apply_keeps_what_its_entries_share_once(kind: str, tmp_path: Path) -> None:
    url = new_store_url(kind, tmp_path)
    try:
        entries = two_applies(url, tmp_path)
        store = open_store(url)
        try:
            runs = rows(store, "SELECT id, run, plan_hash FROM audit_runs ORDER BY id")
            assert len(runs) == 2
            used = rows(store, "SELECT run_id, count(*) FROM audit_log GROUP BY run_id ORDER BY run_id")
            assert [run_id for run_id, _ in used] == [run_id for run_id, *_ in runs]
            assert sum(count for _, count in used) == len(entries)
            columns = {name for (name,) in rows(store, _columns_query(kind, "audit_log"))}
            assert columns == set(audit.STORED_COLUMNS)  # no per-apply field, no previous hash, on any entry
            first = [e for e in entries if e.run == runs[0][1]]
            assert {e.plan_hash for e in first} == {runs[0][2]}
            assert all(entry.prev_hash == before.hash for before, entry in pairwise(entries))
        finally:
            store.close()
    finally:
        drop_store(url)


def _columns_query(kind: str, table: str) -> str:
    if kind == "sqlite":
        return f"SELECT name FROM pragma_table_info('{table}')"
    return (
        "SELECT column_name FROM information_schema.columns "
        f"WHERE table_name = '{table}' AND table_schema = current_schema()"
    )


@pytest.mark.parametrize(("source_kind", "target_kind"), [("sqlite", "postgresql"), ("postgresql", "sqlite")])
def test_a_copy_keeps_the_runs_and_the_next_apply_gets_its_own(
    source_kind: str, target_kind: str, tmp_path: Path
) -> None:
    source_url, target_url = new_store_url(source_kind, tmp_path), new_store_url(target_kind, tmp_path)
    try:
        entries = two_applies(source_url, tmp_path)
        source, target = open_store(source_url), open_store(target_url)
        try:
            copy_registry(source, target)
            assert target.audit_entries(E) == entries
            apply_plan(plan_for(SMALL, target), target)  # a new run: its id must not collide with a copied one
            ids = [run_id for (run_id,) in rows(target, "SELECT id FROM audit_runs ORDER BY id")]
            assert len(ids) == 3 and len(set(ids)) == 3
            assert audit.verify(target.audit_entries(), target.audit_heads()) == []
            assert target.audit_entries(E)[: len(entries)] == entries
        finally:
            source.close()
            target.close()
    finally:
        drop_store(source_url)
        drop_store(target_url)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_an_entry_numbered_out_of_sequence_stops_the_next_apply(kind: str, tmp_path: Path, run) -> None:
    """An insert needs no trigger to be lifted: an entry numbered 0 sits before the chain, where a
    check reading only the entries after the last one verified would never look."""
    url = new_store_url(kind, tmp_path)
    try:
        two_applies(url, tmp_path)
        outside_write(
            url,
            "INSERT INTO audit_log (enterprise, seq, run_id, action, address, before, after, hash) "
            f"SELECT enterprise, 0, run_id, action, address, before, after, hash FROM audit_log "
            f"WHERE enterprise = '{E}' AND seq = 1",
        )
        refused = run("apply", str(SMALL), "--state", url, "--auto-approve", "--defer-codes")
        assert refused.exit_code == 7, refused.output
        assert f"{E}: entry 0 is numbered out of sequence" in refused.stderr
        assert f"{E}: entry 1 was altered" in refused.stderr  # it now follows the forged entry
        verified = run("audit", "verify", "--state", url)
        assert verified.exit_code == 1 and "entry 0 is numbered out of sequence" in verified.stderr
    finally:
        drop_store(url)


def test_an_entry_numbered_between_two_is_named_as_such(tmp_path: Path, run) -> None:
    url = new_store_url("sqlite", tmp_path)  # SQLite stores 7.5 in an INTEGER column as it is
    try:
        two_applies(url, tmp_path)
        outside_write(
            url,
            "INSERT INTO audit_log SELECT enterprise, 7.5, run_id, action, address, before, after, hash "
            f"FROM audit_log WHERE enterprise = '{E}' AND seq = 7",
        )
        verified = run("audit", "verify", "--state", url)
        assert verified.exit_code == 1
        assert f"{E}: entry 7.5 is numbered out of sequence" in verified.stderr
        assert "missing" not in verified.stderr  # named for what it is, not as a gap
    finally:
        drop_store(url)


@pytest.mark.parametrize(
    "field, value",
    [("before", b'{"name": "x"}'), ("after", memoryview(b"x")), ("actor", ["x"]), ("hash", b"h"), ("at", {"a": 1})],
)
def test_a_value_of_another_type_written_by_hand_is_reported_not_a_crash(field: str, value: object) -> None:
    """A store neighbour can write bytes into a text column (SQLite keeps them; PostgreSQL hands back
    what its driver makes): verifying the trail reports the entry as altered instead of failing on
    a value it cannot hash (`audit verify`, `who`, every apply's check of the trail)."""
    first = audit.AuditEntry(
        "0999055557", 1, "2026-01-01", None, "run-1", "p", None, "", "create", "a", None, "{}", "", ""
    )
    first = first._replace(hash=audit.entry_hash(first))
    second = first._replace(seq=2, prev_hash=first.hash, hash="")
    second = second._replace(hash=audit.entry_hash(second))
    assert audit.verify_chain("0999055557", [first, second]) == []
    forged = second._replace(**{field: value})
    problems = audit.verify_chain("0999055557", [first, forged])
    assert "0999055557: entry 2 was altered (it holds a value that is not text)" in problems
