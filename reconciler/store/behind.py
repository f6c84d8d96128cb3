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
import threading
from collections.abc import Callable

QUEUED = 4  # batches made and waiting: bounds the memory rows wait in


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
