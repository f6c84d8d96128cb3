"""SQLite store through the standard library: zero set-up, one file, one writer at a time.

SQLite has one write lock per database file, so applies to different enterprises take
turns here (PostgreSQL runs them in parallel).  Who holds the write lock is recorded in
a small file beside the database, since a row written inside the locking transaction
would stay invisible to the very processes that want to read it.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from reconciler.store.files import create_private, tighten, write_private
from reconciler.store.port import LockHolder, LockTimeout, StoreError, now_text
from reconciler.store.sql import SqlStore, default_holder, migrations
from reconciler.store.transaction import SqlTransaction
from reconciler.store.urls import redact_url

DEFAULT_CACHE_KIB = 2000  # SQLite's own default page cache
APPLY_CACHE_KIB = 64 * 1024  # while a transaction writes
PAGE_SIZE = 16 * 1024  # bytes, for stores created from now on
# The condition of the triggers that count writes made by hand (migrations), which an apply that
# inserts in bulk sets aside (``SqliteStore._writing_in_bulk``).
COUNTING_ONLY_OUTSIDE_APPLIES = "WHEN NOT EXISTS (SELECT 1 FROM apply_in_progress)"


class SqliteStore(SqlStore):
    _connection: sqlite3.Connection

    def __init__(self, url: str, path: str, lock_timeout: float):
        self.url = redact_url(url)
        self.verified_chains = {}
        self._aside: list[tuple[str, str]] = []  # (name, text) of triggers a transaction set aside
        self.path = path
        self.namespace = path
        self.holder_file = Path(f"{path}.holder.json")
        try:
            if path != ":memory:":
                # Owner-only from the first byte: SQLite gives the -wal and -shm files the database's mode.
                create_private(Path(path))
                for own in (path, f"{path}-wal", f"{path}-shm"):
                    tighten(Path(own))
            # Used by one thread at a time: a transaction's write-behind thread while the
            # transaction waits for it (``SqlStore.connection``).
            self.connection = sqlite3.connect(path, isolation_level=None, timeout=lock_timeout, check_same_thread=False)
            self.connection.execute("PRAGMA foreign_keys = ON")
            # A new store gets pages of 16 kB, as a store of millions of rows wants (SQLite keeps an
            # existing store's): a first apply of a million users inserts 15 % faster than with 4 kB.
            self.connection.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            self.connection.execute("PRAGMA journal_mode = WAL")
            self._migrate()
        except (OSError, sqlite3.Error) as error:
            raise StoreError(f"cannot open state {self.url}: {error}") from None

    def _migrate(self) -> None:
        db = self.connection
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        done = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
        pending = [m for m in migrations("sqlite") if m[0] not in done]
        if not pending:
            return
        # Foreign keys are checked once at the end, as SQLite prescribes for migrations that
        # rebuild a table (enforcing them row by row would trip over the rebuild itself).
        db.execute("PRAGMA foreign_keys = OFF")
        try:
            for version, name, sql in pending:
                db.execute("BEGIN IMMEDIATE")
                try:
                    if not db.execute("SELECT 1 FROM schema_migrations WHERE version = ?", (version,)).fetchone():
                        for statement in _statements(sql):
                            db.execute(statement)
                        broken = db.execute("PRAGMA foreign_key_check").fetchall()
                        if broken:
                            raise StoreError(f"migration {name} leaves rows without their parent: {broken[:5]}")
                        db.execute(
                            "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                            (version, name, now_text(datetime.now(UTC))),
                        )
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
        finally:
            db.execute("PRAGMA foreign_keys = ON")

    def applied_migrations(self) -> list[tuple[int, str]]:
        return list(self.connection.execute("SELECT version, name FROM schema_migrations ORDER BY version"))

    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        self.connection.execute("BEGIN")
        try:
            yield
        finally:
            self.connection.execute("COMMIT")

    @contextmanager
    def _write(self) -> Iterator[None]:
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    @contextmanager
    def transaction(self, now: datetime, enterprises: Iterable[str], run: str) -> Iterator[SqlTransaction]:
        db = self.connection
        # Each multi-row insert keeps, until it ends, a copy of every page it changes (a statement
        # journal: a failing statement is undone alone).  SQLite writes those copies to a temporary
        # file once they pass 64 kB: in a first apply, a tenth of the time went to writing them.
        # Kept in memory (a statement of a thousand rows touches a few dozen pages), they cost a
        # copy, and nothing of the store lands in the temporary folder.  Set outside a transaction,
        # as SQLite requires, and read by SQLite when the transaction begins.
        db.execute("PRAGMA temp_store = MEMORY")
        try:
            self._begin()
            try:
                # A first apply writes millions of rows and their indexes in one transaction: with SQLite's
                # default 2 MB of cache, pages are written out and read back many times before it commits.
                db.execute(f"PRAGMA cache_size = -{APPLY_CACHE_KIB}")
                self._write_holder(sorted(set(enterprises)), run, now)
                db.execute("INSERT INTO apply_in_progress VALUES (1)")
                with self._writing_behind():
                    yield SqlTransaction(self, now)
                self._counters_back()
                db.execute("DELETE FROM apply_in_progress")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")  # puts back whatever the transaction set aside, counters included
                raise
            finally:
                self._aside = []
                try:
                    self.holder_file.unlink(missing_ok=True)
                finally:
                    db.execute(f"PRAGMA cache_size = -{DEFAULT_CACHE_KIB}")  # the memory is given back
        finally:
            if db.in_transaction:  # interrupted (Ctrl-C) as BEGIN returned, before the block that rolls back
                db.execute("ROLLBACK")
            db.execute("PRAGMA temp_store = DEFAULT")

    def _writing_in_bulk(self) -> None:
        """Set aside, until the transaction ends, the triggers that count writes made outside
        reconciler (each an enterprise's version; they do nothing while ``apply_in_progress`` holds
        a row, but SQLite still runs each for every row inserted).  Only those: by the names the
        migrations give them and the condition they carry; any other trigger kept in the store
        runs as it always does.

        Dropped and made again from their own text inside the transaction: if it rolls back,
        so do the drops; no other connection can write meanwhile (the transaction holds the
        write lock), and readers see the triggers in their snapshot throughout.  A first apply of
        a million users inserted its rows a tenth faster.
        """
        if self._aside:
            return
        db = self.connection
        self._aside = db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
            "AND name IN (tbl_name || '_version', tbl_name || '_insert_version', tbl_name || '_update_version', "
            "tbl_name || '_delete_version') AND instr(sql, ?) > 0 ORDER BY name",
            (COUNTING_ONLY_OUTSIDE_APPLIES,),
        ).fetchall()
        for name, _ in self._aside:
            db.execute(f'DROP TRIGGER "{name.replace(chr(34), chr(34) * 2)}"')

    def _counters_back(self) -> None:
        """Make again the triggers ``_writing_in_bulk`` set aside, before the transaction commits."""
        aside, self._aside = self._aside, []
        for _, sql in aside:
            self.connection.execute(sql)

    def _begin(self) -> None:
        """Take the file's write lock, waiting up to the lock timeout (``LockTimeout`` then)."""
        try:
            self.connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            if "locked" not in str(error):
                raise
            holders = self.lock_holders()
            by = f" held by {holders[0].holder} (run {holders[0].run}) since {holders[0].since}" if holders else ""
            raise LockTimeout(f"timed out waiting for the lock of {self.url}{by}") from None

    def _in_transaction(self) -> bool:
        return self._connection.in_transaction

    def _values_limit(self) -> int:
        # 32,766 since SQLite 3.32, 999 before: asked of the library Python was built with.
        return int(self._connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))

    def _write_holder(self, enterprises: list[str], run: str, now: datetime) -> None:
        record = {
            "enterprises": enterprises,
            "holder": default_holder(),
            "run": run,
            "since": now_text(now),
            "pid": os.getpid(),
            "host": socket.gethostname(),
        }
        write_private(self.holder_file, json.dumps(record))

    def _read_holder(self) -> dict | None:
        try:
            return json.loads(self.holder_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def lock_holders(self) -> list[LockHolder]:
        record = self._read_holder()
        if record is None:
            return []
        held = record["host"] == socket.gethostname() and _alive(record["pid"])
        return [LockHolder(e, record["holder"], record["run"], record["since"], held) for e in record["enterprises"]]

    def release_lock(self, enterprise: str, force: bool = False) -> LockHolder | None:
        holder = self.holder_of(enterprise)
        if holder is None:
            return None
        if holder.held and not force:
            raise StoreError(
                f"the lock of {enterprise} is held by {holder.holder} (run {holder.run}); "
                "pass --force to end that process"
            )
        record = self._read_holder()
        if holder.held and record:
            os.kill(record["pid"], 9)
        self.holder_file.unlink(missing_ok=True)
        return holder

    def close(self) -> None:
        self.connection.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _statements(sql: str) -> Iterator[str]:
    """Split a migration into statements; triggers keep their inner semicolons."""
    buffer = ""
    for line in sql.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                yield buffer.strip()
            buffer = ""
    if buffer.strip():
        yield buffer.strip()
