"""Writing behind: a transaction's bulk inserts run on a thread of their own, in order.

A first apply spends about as long making rows (user names, audit hashes, column values) as
the database spends inserting them, and both drivers let go of Python's lock while the
database works.  So the rows of one batch are inserted while the next batch is made: one
core makes, the other inserts.

Nothing else touches the connection meanwhile: ``SqlStore.connection`` waits for every
handed-over statement to have run before giving the connection out, so every read and every
other write sees what was handed over before it, as if it had run at once.  The first failure
of a handed-over statement is raised in the transaction at its next use of the store, and
what it had not run yet is dropped: the transaction rolls back, as it would have.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

QUEUED = 4  # batches made and waiting: bounds the memory rows wait in


class WriteBehind:
    """A thread that runs the jobs it is given, one at a time, in the order given."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[Callable[[], object] | None] = queue.Queue(maxsize=QUEUED)
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="reconciler-write-behind", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                if self._failure is None:  # after a failure nothing more is run: the transaction rolls back
                    job()
            except BaseException as error:  # noqa: BLE001 - handed to the transaction, which raises it
                self._failure = error
            finally:
                self._jobs.task_done()

    def put(self, job: Callable[[], object]) -> None:
        """Run ``job`` after the jobs given before it; raise a failure of an earlier one now."""
        self._raise()
        self._jobs.put(job)

    def settle(self) -> None:
        """Wait until every job given has run; raise the first failure."""
        self._jobs.join()
        self._raise()

    def stop(self) -> None:
        """End the thread after the jobs given; their failure, if any, is dropped (the caller is failing)."""
        self._failure = self._failure or _Stopped()
        self._jobs.put(None)
        self._thread.join()

    def _raise(self) -> None:
        failure = self._failure
        if failure is not None and not isinstance(failure, _Stopped):
            self._failure = _Stopped()  # raised once; the transaction is rolled back
            raise failure


class _Stopped(Exception):
    """Marks a writer whose remaining jobs are to be dropped."""
