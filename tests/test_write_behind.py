"""A transaction's bulk inserts run on a thread of their own (``store.behind``): in order, seen by
every later read of the transaction, and a failure among them rolls the whole transaction back."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from reconciler.store.behind import WriteBehind
from reconciler.store.port import StoreError

NOW = datetime(2026, 11, 30, tzinfo=UTC)
E = "0999055557"
RUN = ("id", "at", "run", "plan_hash", "overrides")  # a table without parents: rows stand alone


def test_jobs_run_in_order_on_another_thread() -> None:
    ran: list[tuple[int, str]] = []
    behind = WriteBehind()
    for n in range(50):
        behind.put(lambda n=n: ran.append((n, threading.current_thread().name)))
    behind.settle()
    behind.stop()
    assert [n for n, _ in ran] == list(range(50))
    assert {name for _, name in ran} == {"reconciler-write-behind"}


def test_a_failure_is_raised_at_every_use_and_what_follows_it_is_dropped() -> None:
    """Raised again even where the first raise was caught: the transaction ends in a rollback."""
    ran: list[int] = []
    behind = WriteBehind()
    behind.put(lambda: ran.append(1))
    behind.put(lambda: 1 / 0)
    behind.put(lambda: ran.append(3))
    with pytest.raises(ZeroDivisionError):
        behind.settle()
    with pytest.raises(ZeroDivisionError):
        behind.put(lambda: ran.append(4))
    with pytest.raises(ZeroDivisionError):
        behind.settle()
    behind.stop()
    assert ran == [1]


def test_stop_drops_what_was_not_run_yet() -> None:
    started, release = threading.Event(), threading.Event()
    ran: list[int] = []
    behind = WriteBehind()
    behind.put(lambda: (started.set(), release.wait(5)))
    behind.put(lambda: ran.append(2))
    started.wait(5)
    stopping = threading.Thread(target=behind.stop)
    stopping.start()
    time.sleep(0.05)
    release.set()
    stopping.join(5)
    assert ran == [] and not stopping.is_alive()


def test_what_a_transaction_hands_over_is_read_back_in_it(store) -> None:
    with store.transaction(NOW, [E], "r"):
        store.insert_rows("audit_runs", RUN, [(7, "t", "r", "p", "")])
        assert store._behind is not None  # handed over, not run yet necessarily
        assert store._rows("SELECT id FROM audit_runs") == [(7,)]  # the read waits for it
    with store._snapshot():
        assert store._rows("SELECT id FROM audit_runs") == [(7,)]


def test_a_failing_insert_rolls_the_whole_transaction_back(store) -> None:
    rows = [(n, "t", "r", "p", "") for n in range(1, 251)]
    with pytest.raises(Exception, match=r"UNIQUE|unique|duplicate"), store.transaction(NOW, [E], "r"):
        store.insert_rows("audit_runs", RUN, rows)
        store.insert_rows("audit_runs", RUN, rows[-1:])  # the same key
        store.later("INSERT INTO registry (lineage) VALUES ('second')")
    assert store._behind is None
    with store._snapshot():
        assert store._rows("SELECT count(*) FROM audit_runs") == [(0,)]
        assert store._rows("SELECT count(*) FROM registry") == [(1,)]
    with store.transaction(NOW, [E], "r"):  # the store is usable again
        store.insert_rows("audit_runs", RUN, rows[:3])
    with store._snapshot():
        assert store._rows("SELECT count(*) FROM audit_runs") == [(3,)]


@pytest.mark.parametrize("count", [0, 1, 9, 10, 11, 99, 100, 101, 250, 999, 1000, 1001, 1234, 2111])
def test_rows_are_inserted_whatever_their_count(store, count: int) -> None:
    rows = [(n, f"at {n}", "r", "p", "") for n in range(1, count + 1)]
    with store.transaction(NOW, [E], "r"):
        store.insert_rows("audit_runs", RUN, rows)
    with store._snapshot():
        found = store._rows("SELECT id, at FROM audit_runs ORDER BY id")
    assert found == [(n, at) for n, at, *_ in rows]


@pytest.mark.parametrize("limit", [5, 12, 999])
def test_statements_carry_no_more_values_than_the_database_allows(store, monkeypatch, limit: int) -> None:
    """Rows to a statement follow the values a statement may carry (999 in SQLite before 3.32):
    a table of five columns under a limit of 12 values goes two rows at a time."""
    monkeypatch.setattr(type(store), "_values_limit", lambda self: limit)
    sizes: list[int] = []
    real_q = store.q

    def counting(sql: str) -> str:
        if sql.startswith("INSERT INTO audit_runs"):
            sizes.append(sql.count("("))
        return real_q(sql)

    monkeypatch.setattr(store, "q", counting)
    rows = [(n, f"at {n}", "r", "p", "") for n in range(1, 1234)]
    with store.transaction(NOW, [E], "r"):
        store.insert_rows("audit_runs", RUN, rows)
    monkeypatch.undo()
    assert max(sizes) - 1 == max(1, limit // len(RUN))  # "(" of the column list, then one per row
    with store._snapshot():
        assert store._rows("SELECT id, at FROM audit_runs ORDER BY id") == [(n, at) for n, at, *_ in rows]


def test_a_write_handed_over_outside_its_transaction_is_not_made(store) -> None:
    """Outside a transaction either driver writes on its own and the write stays: a handed-over
    write that finds no transaction open refuses to run."""
    behind = WriteBehind()
    store._behind = behind
    try:
        store.insert_rows("audit_runs", RUN, [(1, "t", "r", "p", "")])
        store.later("INSERT INTO registry (lineage) VALUES ('second')")
        with pytest.raises(StoreError, match="came after its end"):
            behind.settle()
    finally:
        store._behind = None
        behind.stop()
    with store._snapshot():
        assert store._rows("SELECT count(*) FROM audit_runs") == [(0,)]
        assert store._rows("SELECT count(*) FROM registry") == [(1,)]


@pytest.mark.parametrize(
    ("columns", "rows"),
    [
        (("n", "a", "b"), [(n, f"a{n}", f"b{n}") for n in range(250)]),  # every value bound
        (("n", "a", "b"), [(n, None, f"b{n}") for n in range(250)]),  # a column NULL in every row
        (("n", "a", "b"), [(n, None if n % 7 else "x", None) for n in range(250)]),  # NULL in some rows only
        (("n", "a", "b"), [(n, None, None) for n in range(250)]),  # one column left to bind
        (("a", "b"), [(None, None)] * 250),  # nothing to bind
    ],
)
def test_columns_null_in_every_row_are_written_as_null(store, columns: tuple, rows: list) -> None:
    """A column that is NULL in every row is NULL in the statement's text, not bound row by row;
    the rows stored are the same either way."""
    texts: list[str] = []
    real_q = store.q

    def seen(sql: str) -> str:
        texts.append(sql)
        return real_q(sql)

    with store.transaction(NOW, [E], "r"):
        store.connection.execute("CREATE TABLE scratch (n INTEGER, a TEXT, b TEXT)")
        store.q = seen  # type: ignore[method-assign]
        try:
            store.insert_rows("scratch", columns, rows)  # on the write-behind thread
            found = store._rows(f"SELECT {', '.join(columns)} FROM scratch ORDER BY n")
        finally:
            del store.q
        store.connection.execute("DROP TABLE scratch")
    assert sorted(found, key=repr) == sorted(rows, key=repr)
    inserts = [text for text in texts if text.startswith("INSERT INTO scratch")]
    null_everywhere = [c for i, c in enumerate(columns) if all(row[i] is None for row in rows)]
    assert all(text.count("NULL") == (text.count("(") - 1) * len(null_everywhere) for text in inserts)
