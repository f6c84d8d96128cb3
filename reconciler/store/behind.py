"""Writing behind: a transaction's bulk inserts run on a thread of their own, in order.

A first apply spends about as long making rows (user names, audit hashes, column values) as
the database spends inserting them, and both drivers let go of Python's lock while the
database works.  So the rows of one batch are inserted while the next batch is made: one
core makes, the other inserts.

Nothing else touches the connection meanwhile: ``SqlStore.connection`` waits for every
handed-over statement to have run before giving the connection out, so every read and every
other write sees what was handed over before it, as if it had run at once.  A failure of a
handed-over statement is raised in the transaction at every later use of the store and at its
end, so the transaction rolls back even where the first raise was caught; what had not run yet
is dropped.  ``stop`` returns only once the thread has ended, even when interrupted meanwhile
(a second Ctrl-C): a rollback must never run under a statement still writing, which would then
write outside the transaction.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from itertools import chain
from operator import itemgetter
from typing import Any

from reconciler.store.port import StoreError

QUEUED = 4  # batches made and waiting: bounds the memory rows wait in
# Rows to a statement, at most: each statement is one hand-over of Python's lock between the
# thread that makes rows and the one that inserts them, and a thread taking the lock back waits
# for the other to let go of it (up to five milliseconds).  Beside a busy thread, a million
# persons took 8.7 s to insert at a thousand rows to a statement and 3.1 s at 6,500 (2.1 s
# alone); so a statement carries as many rows as the values it may carry allow
# (``_values_limit``), up to this many.
ROWS_PER_STATEMENT = 10_000
# How long a thread that wants Python's lock waits before the thread holding it must let go, while
# a transaction writes behind (Python's default is five milliseconds).  The inserting thread wants
# the lock back after each statement, while the other makes rows: a first apply of a million
# users spent 21.5 s writing with the default and 20.2 s with this.
HANDOVER_SECONDS = 0.0002
_handover = threading.Lock()
_writing = 0  # transactions writing behind now, in any thread: the last to end restores the default
_default_interval = sys.getswitchinterval()


class WriteBehind:
    """A thread that runs the jobs it is given, one at a time, in the order given."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[Callable[[], object] | None] = queue.Queue(maxsize=QUEUED)
        self._failure: BaseException | None = None  # the first failure of a job: raised at every use
        self._dropping = False  # after a failure, or once stopping: jobs are taken but not run
        self._ended = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reconciler-write-behind", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                job = self._jobs.get()
                try:
                    if job is None:
                        return
                    if not self._dropping:
                        job()
                except BaseException as error:  # noqa: BLE001 - handed to the transaction, which raises it
                    if self._failure is None:
                        self._failure = error
                    self._dropping = True
                finally:
                    self._jobs.task_done()
        finally:
            self._ended.set()

    def put(self, job: Callable[[], object]) -> None:
        """Run ``job`` after the jobs given before it; raise the failure of an earlier one now."""
        self._raise()
        self._jobs.put(job)

    def settle(self) -> None:
        """Wait until every job given has run; raise the failure of any."""
        self._jobs.join()
        self._raise()

    def stop(self) -> None:
        """End the thread: the job running is let finish, the others are dropped.

        Returns only once the thread has ended; an interrupt meanwhile is raised after that.
        """
        self._dropping = True
        interrupted: BaseException | None = None
        while not self._ended.is_set():
            try:
                with contextlib.suppress(queue.Full):  # the thread is taking (and dropping) jobs: room comes
                    self._jobs.put_nowait(None)
                self._ended.wait(0.05)
            except BaseException as error:  # noqa: BLE001 - raised below, once the thread has ended
                interrupted = interrupted or error
        if interrupted is not None:
            raise interrupted

    def _raise(self) -> None:
        if self._failure is not None:
            raise self._failure


class WritesBehind(ABC):
    """A SQL store's connection, given out only once the write-behind thread has run what it was
    handed, and the bulk inserts a transaction hands it (``sql.SqlStore`` is one)."""

    # The backend's connection (sqlite3 or psycopg), opened by the subclass; the statements here
    # use only what both drivers offer.  Given out through ``connection``.
    _connection: Any
    # While a transaction writes: the thread its bulk inserts run on (``behind``).
    _behind: WriteBehind | None = None

    @property
    def connection(self) -> Any:
        """The connection, once every statement handed to the write-behind thread has run."""
        if self._behind is not None:
            self._behind.settle()
        return self._connection

    @connection.setter
    def connection(self, opened: Any) -> None:
        self._connection = opened

    @contextmanager
    def _writing_behind(self) -> Iterator[None]:
        """Inside a transaction: its bulk inserts run on a thread of their own (``behind``)."""
        self._behind = WriteBehind()
        try:
            with _quick_handover():
                yield
                self._behind.settle()
        finally:
            behind, self._behind = self._behind, None
            behind.stop()

    @abstractmethod
    def q(self, sql: str) -> str:
        """``sql`` with the driver's placeholders."""

    def insert_rows(self, into: str, columns: Sequence[str], rows: Sequence[tuple], then: str = "") -> None:
        """``INSERT INTO into (columns) VALUES ... then``, ``ROWS_PER_STATEMENT`` rows to a statement.

        A statement per row costs the driver and the database about as much again as inserting
        the row: a first apply inserts millions (persons, users, accounts, audit entries).  In a
        transaction, the rows are inserted on the write-behind thread while the next are made.
        """
        if self._behind is not None:
            self._behind.put(self._inside(lambda: self._insert_now(into, columns, rows, then)))
        else:
            self._insert_now(into, columns, rows, then)

    def later(self, sql: str, params: Iterable[Any] = ()) -> None:
        """A statement whose effect nothing reads before the write-behind thread has run it."""
        values = tuple(params)
        if self._behind is not None:
            self._behind.put(self._inside(lambda: self._connection.execute(self.q(sql), values)))
        else:
            self._connection.execute(self.q(sql), values)

    def _inside(self, job: Callable[[], object]) -> Callable[[], None]:
        """``job``, run only while the transaction that handed it over is still open: outside it,
        either driver would write on its own, and that write would stay."""

        def guarded() -> None:
            if not self._in_transaction():
                raise StoreError("a write handed over by a transaction came after its end; it was not made")
            job()

        return guarded

    @abstractmethod
    def _in_transaction(self) -> bool:
        """Whether the connection is inside a transaction (not writing on its own)."""

    @abstractmethod
    def _values_limit(self) -> int:
        """How many values one statement may carry (the driver's or the database's limit)."""

    def _insert_now(self, into: str, columns: Sequence[str], rows: Sequence[tuple], then: str) -> None:
        """Whole statements of as many rows as a statement may carry (``ROWS_PER_STATEMENT`` at
        most), then of a hundred, of ten, then single rows: a few statement texts, each prepared
        once (statements of exactly the rows left over, each text new, cost a first apply twice
        as much time in preparing them as in inserting).

        A column that is NULL in every row is written as NULL in the statement's text rather
        than bound row by row: the driver looks for an adapter for every None it binds, and a
        first apply binds millions (the ``before`` of every audit entry of a creation).
        """
        if not rows:
            return
        width = len(columns)
        bound = [i for i in range(width) if any(row[i] is not None for row in rows)]
        cursor = self._connection.cursor()
        head = f"INSERT INTO {into} ({', '.join(columns)}) VALUES "
        one = "(" + ", ".join("?" if i in bound else "NULL" for i in range(width)) + ")"
        values = _projection(bound, width)
        flat = chain.from_iterable
        start = 0
        most = max(1, min(ROWS_PER_STATEMENT, self._values_limit() // max(1, len(bound))))
        for size in sorted({most, min(most, 100), min(most, 10), 1}, reverse=True):
            whole = start + (len(rows) - start) // size * size
            if whole > start:
                statement = self.q(head + ", ".join([one] * size) + then)
                cursor.executemany(
                    statement, (tuple(flat(values(rows[i : i + size]))) for i in range(start, whole, size))
                )
            start = whole


@contextmanager
def _quick_handover() -> Iterator[None]:
    """``HANDOVER_SECONDS`` as the interpreter's switch interval while any transaction writes behind.

    Counted in before the interval is lowered and counted out whatever happens, a Ctrl-C while
    waiting for the count included (the count is finished first, the interrupt raised after):
    otherwise the lowered interval would stay for the rest of the process.
    """
    global _writing, _default_interval
    counted = False
    try:
        with _handover:
            if _writing == 0:
                _default_interval = sys.getswitchinterval()
            _writing += 1
            counted = True
            sys.setswitchinterval(HANDOVER_SECONDS)
        yield
    finally:
        interrupted: BaseException | None = None
        while counted:
            try:
                with _handover:
                    if counted:
                        _writing -= 1
                        counted = False
                        if _writing == 0:
                            sys.setswitchinterval(_default_interval)
            except BaseException as error:  # noqa: BLE001 - raised below, once counted out
                interrupted = interrupted or error
        if interrupted is not None:
            raise interrupted


def _projection(bound: list[int], width: int) -> Callable[[Sequence[tuple]], Iterable[tuple]]:
    """For rows, the values of each to bind: those of the ``bound`` columns."""
    if len(bound) == width:
        return lambda rows: rows
    if len(bound) == 1:
        only = bound[0]
        return lambda rows: ((row[only],) for row in rows)
    if not bound:
        return lambda rows: ((),) * len(rows)
    return partial(map, itemgetter(*bound))
