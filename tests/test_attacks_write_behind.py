"""Attacks on writing behind (``store.behind``): a transaction's bulk inserts run on a thread of
their own while the transaction goes on making rows.

The promise attacked: nothing but the write-behind thread touches the connection while it has
statements to run (``SqlStore.connection`` waits for them), every read of the transaction sees
what was handed over before it, the first failure of a handed-over statement fails the
transaction before it commits, and every way a transaction can fail (a failing statement, a
stale plan, a refusal, a broken audit chain, an interrupt, SIGKILL) leaves the store exactly as
it was, no thread behind, and the store usable for the next transaction.  The audit chain's
head, kept per transaction (``ChainWriter._heads``), must stay the head the store records
through batches, adoption, sealing, overrides and several enterprises.

Each test asserts the safe outcome, on both stores where it applies.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLES, ROOT, bypass_append_only, outside_write

from reconciler.apply.execute import Refused, apply_plan
from reconciler.plan.gates import OVERRIDES, Policy, Refusal
from reconciler.plan.pipeline import plan_paths
from reconciler.store import audit
from reconciler.store.backends import open_store
from reconciler.store.port import StalePlan
from reconciler.store.sql import KILL_AFTER_ENV

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
SMALL = "0999055557"
JAN = "58022754967"
WRITER = "reconciler-write-behind"
RUN = ("id", "at", "run", "plan_hash", "overrides")  # audit_runs: a table without parents
EVERY_OVERRIDE = frozenset(OVERRIDES)


def writers() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == WRITER]


def plan_of(store, path: Path):
    return plan_paths([path], store, Policy(), workers=1).plan


def run_rows(first: int, last: int) -> list[tuple]:
    return [(n, f"at {n}", "r", "p", "") for n in range(first, last + 1)]


def shared(run: str = "run-x") -> audit.Context:
    return audit.context(NOW, "tester", run, "", ())


def event(n: int) -> tuple[str, str, dict | None, dict | None]:
    return ("note", f"note {n}", None, {"n": n})


class Cursor:
    """A cursor of ``Watched``: its statements are noted as the connection's are."""

    def __init__(self, watched: Watched, real: Any):
        self._watched, self._real = watched, real

    def execute(self, *arguments: Any, **keywords: Any) -> Any:
        self._watched.note("cursor.execute")
        return self._real.execute(*arguments, **keywords)

    def executemany(self, *arguments: Any, **keywords: Any) -> Any:
        self._watched.note("cursor.executemany", many=True)
        return self._real.executemany(*arguments, **keywords)

    def __iter__(self):
        return iter(self._real)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class Ending:
    """A psycopg transaction block whose end (COMMIT or ROLLBACK) is noted too."""

    def __init__(self, watched: Watched, real: Any):
        self._watched, self._real = watched, real

    def __enter__(self) -> Any:
        self._watched.note("transaction begin")
        return self._real.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        self._watched.note("transaction end")
        return self._real.__exit__(*exc)


class Watched:
    """Stands for a store's connection and notes every use made of it by the transaction's own thread
    while statements handed to the write-behind thread are still to run (``overlaps``).

    The write-behind thread is slowed (``slow`` seconds a statement) so that such a use cannot slip
    through by luck; with ``pause_at`` it stops before its n-th ``executemany`` until ``release``.
    """

    def __init__(self, store: Any, slow: float = 0.0, pause_at: int = 0):
        self._store, self._real = store, store._connection
        self.slow, self.pause_at = slow, pause_at
        self.paused, self.release = threading.Event(), threading.Event()
        self.overlaps: list[str] = []
        self.behind = 0
        self._many = 0

    def note(self, what: str, many: bool = False) -> None:
        if threading.current_thread().name == WRITER:
            self.behind += 1
            if many:
                self._many += 1
                if self._many == self.pause_at:
                    self.paused.set()
                    self.release.wait(2)
            if self.slow:
                time.sleep(self.slow)
            return
        behind = self._store._behind
        if behind is not None and behind._jobs.unfinished_tasks:
            self.overlaps.append(what)

    def execute(self, *arguments: Any, **keywords: Any) -> Any:
        self.note("execute")
        return self._real.execute(*arguments, **keywords)

    def cursor(self, *arguments: Any, **keywords: Any) -> Cursor:
        self.note("cursor")
        return Cursor(self, self._real.cursor(*arguments, **keywords))

    def transaction(self, *arguments: Any, **keywords: Any) -> Ending:
        return Ending(self, self._real.transaction(*arguments, **keywords))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def watch(store: Any, **keywords: Any) -> Watched:
    watched = Watched(store, **keywords)
    store._connection = watched
    return watched


def unwatch(store: Any, watched: Watched) -> None:
    store._connection = watched._real


def trail_problems(url: str) -> list[str]:
    """What ``audit verify`` finds, read by a process of its own (nothing verified before)."""
    fresh = open_store(url)
    try:
        return audit.verify(fresh.audit_entries(), fresh.audit_heads())
    finally:
        fresh.close()


@pytest.fixture
def opened(store_url: str):
    store = open_store(store_url)
    yield store_url, store
    store.close()


# --- The connection is never shared ---------------------------------------------------------------


class FakeDelivery:
    description = "letters nowhere"

    def __init__(self) -> None:
        self.sent = 0

    def send(self, letter: Any) -> None:
        self.sent += 1


def test_no_apply_path_uses_the_connection_while_the_writer_has_work(
    opened, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every statement of a first apply of three enterprises (hundreds of rows, audit entries in
    batches of 25), of an apply that deletes, updates and adopts drift, of one that declares a removed
    person again, and of issuing codes (an UPDATE per account between handed-over audit entries) is
    made through ``SqlStore.connection``: with the writer slowed down, no statement of the
    transaction's own thread, no COMMIT and no ROLLBACK runs while handed-over statements wait.
    Afterwards every chain verifies, and ends where apply says it does."""
    url, store = opened
    tree = tmp_path / "registry"
    shutil.copytree(EXAMPLES, tree)
    watched = watch(store, slow=0.0005)

    heads = apply_plan(plan_of(store, tree), store, now=NOW)
    assert len(heads) == 3
    assert {n: store.audit_heads()[n] for n in heads} == heads

    small = tree / "small-employer.yaml"
    declared = small.read_text()
    fatima = declared[declared.index('      - ssin: "61061906014"') :]
    outside_write(url, f"UPDATE persons SET email = 'jan@elsewhere.example' WHERE ssin = '{JAN}'")
    small.write_text(
        declared.replace("jan@goudenkorst.example", "jan@elsewhere.example")
        .replace(fatima, "")
        .replace("Bakkerij De Gouden Korst", "Bakkerij De Zilveren Korst")
    )
    plan = plan_of(store, tree)
    assert plan.drift and plan.changes
    heads = apply_plan(plan, store, now=NOW, overrides=EVERY_OVERRIDE)
    assert [e.address for e in store.audit_entries(SMALL) if e.action == "adopt"] == [
        f"enterprise[{SMALL}].person[{JAN}]"
    ]
    assert store.account_of(SMALL, "61061906014").status == "deactivated"
    assert store.audit_heads()[SMALL] == heads[SMALL]

    small.write_text(declared.replace("jan@goudenkorst.example", "jan@elsewhere.example"))
    apply_plan(plan_of(store, tree), store, now=NOW)
    assert store.account_of(SMALL, "61061906014").status == "pending"

    from reconciler.accounts.lifecycle import issue_codes

    delivery = FakeDelivery()
    issued = issue_codes(store, delivery, None, NOW, "https://login.example", "run-codes")
    assert issued == delivery.sent > 10

    unwatch(store, watched)
    assert watched.behind > 50, "the writer ran the bulk inserts"
    assert watched.overlaps == []
    assert not writers()
    assert trail_problems(url) == []


# --- Failures of the writer -------------------------------------------------------------------------


def test_a_writer_failure_is_raised_at_the_next_use_before_anything_commits(opened) -> None:
    """A handed-over insert that fails is raised at the transaction's next read, inside the block,
    not after COMMIT; the rows handed over before it are gone, the thread has ended, and the store
    takes the next transaction."""
    _, store = opened
    before = store.dump()
    reached = []
    with (
        pytest.raises(Exception, match=r"UNIQUE|unique|duplicate"),
        store.transaction(NOW, [SMALL], "r") as transaction,
    ):
        store.insert_rows("audit_runs", RUN, run_rows(1, 150))
        store.insert_rows("audit_runs", RUN, run_rows(150, 150))
        transaction.versions([SMALL])
        reached.append("after the failed insert")
    assert reached == []
    assert not writers()
    assert store.dump() == before
    with store.transaction(NOW, [SMALL], "r"):
        store.insert_rows("audit_runs", RUN, run_rows(1, 3))
    with store._snapshot():
        assert store._rows("SELECT count(*) FROM audit_runs") == [(3,)]


def test_a_failure_of_the_last_handed_over_statement_fails_the_block(opened) -> None:
    """The last thing handed over (a ``later`` statement, as the audit head's UPDATE is) fails after
    the block's body ended: the block raises it instead of committing."""
    _, store = opened
    before = store.dump()
    with pytest.raises(Exception, match=r"UNIQUE|unique|duplicate"), store.transaction(NOW, [SMALL], "r"):
        store.insert_rows("audit_runs", RUN, run_rows(1, 20))
        store.later(f"INSERT INTO audit_runs ({', '.join(RUN)}) VALUES (?, ?, ?, ?, ?)", run_rows(5, 5)[0])
    assert not writers()
    assert store.dump() == before


def test_a_writer_failure_the_transaction_swallows_still_stops_the_commit(opened) -> None:
    """A transaction that catches the error its read raised (which was in fact a handed-over insert
    failing) and goes on must not commit: what was handed over after the failure is dropped by the
    writer, so a COMMIT would keep half of the transaction's rows (audit entries without their
    changes, or changes without their audit entries).  On PostgreSQL the failed statement aborted
    the transaction, whose COMMIT then rolls back: the block must not end as if it had committed."""
    _, store = opened
    before = store.dump()
    failed = False
    try:
        with store.transaction(NOW, [SMALL], "r") as transaction:
            store.insert_rows("audit_runs", RUN, run_rows(1, 5))
            store.insert_rows("audit_runs", RUN, run_rows(5, 5))
            with contextlib.suppress(Exception):  # a caller that takes the error for one of its own
                transaction.versions([SMALL])
            store.insert_rows("audit_runs", RUN, run_rows(6, 8))
    except Exception:  # noqa: BLE001 - failing is the safe outcome
        failed = True
    assert not writers()
    assert store.dump() == before, "a transaction whose handed-over insert failed was committed in part"
    assert failed, "the transaction ended as if it had committed"


# --- Failures of the transaction's own thread -------------------------------------------------------


def test_stale_plan_and_refusal_leave_nothing_and_no_thread(opened, tmp_path: Path) -> None:
    """A plan made stale by a write outside reconciler raises StalePlan inside the transaction; a gate
    refusal is raised before it: the store stays as it was, no thread is left, and the store object
    applies the fresh plan afterwards."""
    url, store = opened
    plan = plan_of(store, EXAMPLES)
    apply_plan(plan, store, now=NOW)
    tree = tmp_path / "registry"
    shutil.copytree(EXAMPLES, tree)
    small = tree / "small-employer.yaml"
    small.write_text(small.read_text().replace("fatima@goudenkorst.example", "fatima@elders.example"))
    stale = plan_of(store, tree)
    outside_write(url, f"UPDATE persons SET email = 'hand@x.example' WHERE ssin = '{JAN}'")
    before = store.dump()
    with pytest.raises(StalePlan):
        apply_plan(stale, store, now=NOW)
    assert not writers() and store.dump() == before
    fresh = plan_of(store, tree)
    refused = replace(fresh, refusals=(Refusal("removal-cap", SMALL, "removes too much", "--allow-it"),))
    with pytest.raises(Refused):
        apply_plan(refused, store, now=NOW)
    assert not writers() and store.dump() == before
    apply_plan(fresh, store, now=NOW, overrides=EVERY_OVERRIDE)
    assert trail_problems(url) == []


def test_a_broken_chain_found_after_rows_were_handed_over_rolls_everything_back(opened) -> None:
    """ChainBroken raised for a second enterprise after audit entries and their head of a first one
    were handed over: the writer may be running; nothing of it may remain, the thread ends, and the
    first enterprise's chain takes entries afterwards."""
    url, store = opened
    heads = apply_plan(plan_of(store, EXAMPLES), store, now=NOW)
    other = next(n for n in sorted(heads) if n != SMALL)
    bypass_append_only(url, f"UPDATE audit_log SET after = 'x' WHERE enterprise = '{other}' AND seq = 2")
    store.close()
    store = open_store(url)  # a process that did not verify the chains before
    try:
        before = store.dump()
        with pytest.raises(audit.ChainBroken), store.transaction(NOW, [SMALL, other], "r") as transaction:
            transaction.record_events(shared(), SMALL, [event(n) for n in range(500)])
            store.insert_rows("audit_runs", RUN, run_rows(1000, 1300))
            transaction.check_audit(shared(), [other])
        assert not writers()
        assert store.dump() == before
        with store.transaction(NOW, [SMALL], "r2") as transaction:
            transaction.record_events(shared("run-y"), SMALL, [event(1)])
        assert audit.verify_chain(SMALL, store.audit_entries(SMALL)) == []
    finally:
        store.close()


def test_an_interrupt_while_the_writer_runs_waits_for_it_then_rolls_back(opened) -> None:
    """Ctrl-C (KeyboardInterrupt) in the transaction while the writer is inside a batch: the
    transaction waits for the writer before it rolls back, so nothing is committed and no thread is
    left; the store takes the next transaction."""
    _, store = opened
    before = store.dump()
    watched = watch(store, pause_at=2)
    releasing = threading.Timer(0.3, watched.release.set)
    try:
        with pytest.raises(KeyboardInterrupt), store.transaction(NOW, [SMALL], "r"):
            store.insert_rows("audit_runs", RUN, run_rows(1, 111))  # statements of 100, 10 and 1 rows
            assert watched.paused.wait(5)
            releasing.start()
            raise KeyboardInterrupt
    finally:
        releasing.cancel()
        watched.release.set()
        unwatch(store, watched)
    assert not writers()
    assert store.dump() == before
    with store.transaction(NOW, [SMALL], "r"):
        store.insert_rows("audit_runs", RUN, run_rows(1, 2))


def test_a_second_interrupt_while_waiting_for_the_writer_commits_nothing(store_url: str) -> None:
    """Ctrl-C twice: the first fails the transaction, which waits for the writer to finish the batch
    it is inside; the second arrives during that wait.  The rollback must still come after the
    writer's last statement, or the rest of the batch runs after ROLLBACK, outside any transaction,
    and is committed statement by statement.

    On PostgreSQL the registry's schema is the session's own here, as ``public`` is for a registry
    in the default schema: the search path set for the transaction alone does not hide the tables
    once it is rolled back."""
    if store_url.startswith("postgresql"):
        store_url += f"&options=-csearch_path%3D{store_url.rsplit('schema=', 1)[1]}"
    store = open_store(store_url)
    try:
        interrupted_twice(store)
    finally:
        store.close()


def interrupted_twice(store: Any) -> None:
    before = store.dump()
    watched = watch(store, pause_at=2)
    main = threading.main_thread().ident
    assert threading.get_ident() == main

    def second_interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt("again")

    previous = signal.signal(signal.SIGUSR1, second_interrupt)
    again = threading.Timer(0.3, lambda: signal.pthread_kill(main, signal.SIGUSR1))
    try:
        with pytest.raises(KeyboardInterrupt), store.transaction(NOW, [SMALL], "r"):
            store.insert_rows("audit_runs", RUN, run_rows(1, 111))
            assert watched.paused.wait(5)
            again.start()
            raise KeyboardInterrupt
    finally:
        again.join(5)
        signal.signal(signal.SIGUSR1, previous)
        watched.release.set()
        deadline = time.monotonic() + 5
        while writers() and time.monotonic() < deadline:  # joining may have been cut short
            time.sleep(0.01)
        unwatch(store, watched)
    assert store.dump() == before, "rows of an interrupted transaction were committed"
    assert not writers()


# --- Crashes ------------------------------------------------------------------------------------------

APPLY = """
import sys
from reconciler.apply.execute import apply_plan
from reconciler.plan.gates import Policy
from reconciler.plan.pipeline import plan_paths
from reconciler.store.backends import open_store
store = open_store(sys.argv[1])
apply_plan(plan_paths([sys.argv[2]], store, Policy(), workers=1).plan, store)
"""


def test_sigkill_with_rows_still_handed_over_leaves_the_store_as_it_was(opened) -> None:
    """The fault injection kills the process right after handing a batch over, with the writer
    behind: the first apply leaves no row, the lock is free, and a new apply succeeds."""
    url, store = opened
    before = store.dump()
    total = len(plan_of(store, EXAMPLES).changes)
    for kill_after in (total // 2, total - 1):
        completed = subprocess.run(
            [sys.executable, "-c", APPLY, url, str(EXAMPLES)],
            cwd=ROOT,
            env={**os.environ, KILL_AFTER_ENV: str(kill_after)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert completed.returncode == -signal.SIGKILL, completed.stderr
        assert store.dump() == before
        # PostgreSQL ends a killed client's session (and its locks) once it reads the closed
        # socket, which a loaded machine may take a moment to do.
        deadline = time.monotonic() + 10
        while any(holder.held for holder in store.lock_holders()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(holder.held for holder in store.lock_holders())
    heads = apply_plan(plan_of(store, EXAMPLES), store, now=NOW)
    assert store.audit_heads() == heads
    assert trail_problems(url) == []


# --- The audit head kept per transaction --------------------------------------------------------------


def test_an_override_appends_after_the_recorded_head_and_adds_no_problem(opened) -> None:
    """With --allow-broken-audit-trail the override entry and the entries after it chain from the head
    the enterprise records, batch after batch in one transaction: the trail has the problem it had,
    and no other; the recorded head is the last entry."""
    url, store = opened
    apply_plan(plan_of(store, EXAMPLES / "small-employer.yaml"), store, now=NOW)
    bypass_append_only(url, f"UPDATE audit_log SET after = 'x' WHERE enterprise = '{SMALL}' AND seq = 2")
    problems = trail_problems(url)
    assert len(problems) == 1
    fresh = open_store(url)
    try:
        with fresh.transaction(NOW, [SMALL], "r") as transaction:
            transaction.allow_broken_audit = True
            for start in (0, 40, 80):
                transaction.record_events(shared(), SMALL, [event(n) for n in range(start, start + 40)])
            head = transaction.audit_head(SMALL)
            assert fresh._rows("SELECT audit_seq, audit_head FROM enterprises WHERE number = ?", (SMALL,)) == [head]
        entries = fresh.audit_entries(SMALL)
        assert [e.action for e in entries].count("audit-override") == 1
        assert fresh.audit_heads()[SMALL] == (entries[-1].seq, entries[-1].hash) == head
    finally:
        fresh.close()
    assert trail_problems(url) == problems


def test_sealing_then_appending_in_one_transaction_ends_the_chain_keyed(
    opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain chain sealed once the key is set, then appended to twice in the same transaction, then
    sealed again (nothing to do): every entry chains from the one before and the chain ends keyed."""
    url, store = opened
    apply_plan(plan_of(store, EXAMPLES / "small-employer.yaml"), store, now=NOW)
    monkeypatch.setenv(audit.KEY_ENV, "a key of the apply job")
    with store.transaction(NOW, [SMALL], "r") as transaction:
        assert transaction.seal_audit(shared(), SMALL) is True
        transaction.record_events(shared(), SMALL, [event(1), event(2)])
        transaction.record_events(shared(), SMALL, [event(3)])
        assert transaction.seal_audit(shared(), SMALL) is False
    assert trail_problems(url) == []
    seq, head = store.audit_heads()[SMALL]
    assert head.startswith(audit.KEYED)
    assert [e.seq for e in store.audit_entries(SMALL)] == list(range(1, seq + 1))


def test_two_enterprises_in_one_transaction_keep_their_own_heads(opened) -> None:
    """Entries for two enterprises handed over in turn, several times, in one transaction: each chain
    is whole and each enterprise records its own last entry."""
    url, store = opened
    heads = apply_plan(plan_of(store, EXAMPLES), store, now=NOW)
    first, second = sorted(heads)[:2]
    with store.transaction(NOW, [first, second], "r") as transaction:
        for n in range(6):
            transaction.record_events(shared(), (first, second)[n % 2], [event(n)] * (n + 1))
    for number in (first, second):
        entries = store.audit_entries(number)
        assert store.audit_heads()[number] == (entries[-1].seq, entries[-1].hash)
    assert trail_problems(url) == []


# --- One store per thread ---------------------------------------------------------------------------


def test_two_threads_each_with_a_store_apply_at_once(store_url: str) -> None:
    """Two threads, each with its own store on the same registry (as the web server's threads have),
    apply to two enterprises at once, each with its writer: both commit, every chain verifies."""
    paths = [EXAMPLES / "small-employer.yaml", EXAMPLES / "social-secretariat"]
    open_store(store_url).close()  # created and migrated before: what is attacked is applying
    failures: list[BaseException] = []
    barrier = threading.Barrier(2)

    def apply(path: Path) -> None:
        store = open_store(store_url)
        try:
            plan = plan_of(store, path)
            barrier.wait(5)
            apply_plan(plan, store, now=NOW)
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)
        finally:
            store.close()

    threads = [threading.Thread(target=apply, args=(path,)) for path in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == []
    assert not writers()
    store = open_store(store_url)
    try:
        assert len(store.read()) == 2
    finally:
        store.close()
    assert trail_problems(store_url) == []
