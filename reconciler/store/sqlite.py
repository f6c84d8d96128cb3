"""SQLite store through the standard library: zero set-up, one file, one writer at a time."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

from reconciler.plan import Action, Change, StoredEnterprise
from reconciler.state import Address, EnterpriseState, Fields, Kind
from reconciler.store import ACTIVATION_DAYS, Account, StoreError, batched
from reconciler.store.accounts import UsernameAllocator
from reconciler.store.tables import TABLES, to_column

_MAX_PARAMETERS = 900  # below SQLite's historical limit of 999 bound parameters


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped with the package, in order."""
    folder = resources.files("reconciler.store").joinpath("migrations/sqlite")
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8")))
    return found


class SqliteStore:
    def __init__(self, url: str, path: str):
        self.url = url
        self.path = path
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.connection = sqlite3.connect(path, isolation_level=None, timeout=30)
            self.connection.execute("PRAGMA foreign_keys = ON")
            self.connection.execute("PRAGMA journal_mode = WAL")
            self._migrate()
        except (OSError, sqlite3.Error) as error:
            raise StoreError(f"cannot open state {url}: {error}") from None

    def _migrate(self) -> None:
        db = self.connection
        db.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                   "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
        done = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
        for version, name, sql in migrations():
            if version in done:
                continue
            db.execute("BEGIN IMMEDIATE")
            try:
                if db.execute("SELECT 1 FROM schema_migrations WHERE version = ?", (version,)).fetchone():
                    db.execute("ROLLBACK")  # another process migrated meanwhile
                    continue
                for statement in _statements(sql):
                    db.execute(statement)
                db.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)",
                           (version, name, datetime.now().astimezone().isoformat(timespec="seconds")))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def applied_migrations(self) -> list[tuple[int, str]]:
        return list(self.connection.execute("SELECT version, name FROM schema_migrations ORDER BY version"))

    def read(self, numbers: Iterable[str] | None = None) -> dict[str, StoredEnterprise]:
        db = self.connection
        wanted = sorted(set(numbers)) if numbers is not None else None
        records: dict[str, dict[Address, Fields]] = {}
        versions: dict[str, int] = {}
        db.execute("BEGIN")  # one consistent snapshot across tables
        try:
            for table in TABLES.values():
                columns = ", ".join(table.key_columns + table.field_columns)
                extra = ", version" if table.kind is Kind.ENTERPRISE else ""
                for rows in self._select(f"SELECT {columns}{extra} FROM {table.name}", table.key_columns[0], wanted):
                    for row in rows:
                        if table.kind is Kind.ENTERPRISE:
                            versions[row[0]] = row[-1]
                            row = row[:-1]
                        records.setdefault(row[0], {})[table.address(row)] = table.fields(row)
        finally:
            db.execute("COMMIT")
        return {
            number: StoredEnterprise(EnterpriseState(number, records.get(number, {})), version)
            for number, version in versions.items()
        }

    def _select(self, sql: str, column: str, wanted: list[str] | None) -> Iterator[list[tuple]]:
        if wanted is None:
            yield self.connection.execute(sql).fetchall()
            return
        for chunk in batched(wanted, _MAX_PARAMETERS):
            marks = ", ".join("?" * len(chunk))
            yield self.connection.execute(f"{sql} WHERE {column} IN ({marks})", chunk).fetchall()

    def accounts(self, number: str) -> list[Account]:
        rows = self.connection.execute(
            "SELECT enterprise, ssin, name, username, account_status, created_at, activation_deadline "
            "FROM persons WHERE enterprise = ? ORDER BY name, ssin", (number,))
        return [Account(*row) for row in rows]

    @contextmanager
    def transaction(self, now: datetime) -> Iterator[_SqliteTransaction]:
        db = self.connection
        db.execute("BEGIN IMMEDIATE")  # take the write lock now, before reading versions
        try:
            yield _SqliteTransaction(db, now)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.connection.close()


class _SqliteTransaction:
    def __init__(self, db: sqlite3.Connection, now: datetime):
        self.db = db
        self.now = now
        self.usernames = UsernameAllocator(lambda: (r[0] for r in db.execute("SELECT username FROM persons")))

    def versions(self, numbers: Iterable[str]) -> dict[str, int]:
        found = {}
        for chunk in batched(sorted(set(numbers)), _MAX_PARAMETERS):
            marks = ", ".join("?" * len(chunk))
            found.update(self.db.execute(f"SELECT number, version FROM enterprises WHERE number IN ({marks})", chunk))
        return found

    def execute(self, change: Change) -> None:
        table = TABLES[change.address.kind]
        keys = table.key_values(change.address)
        where = " AND ".join(f"{c} = ?" for c in table.key_columns)
        if change.action is Action.DELETE:
            self.db.execute(f"DELETE FROM {table.name} WHERE {where}", keys)
            return
        values = tuple(to_column(name, value) for name, value in change.after)
        if change.action is Action.UPDATE:
            if table.field_columns:
                assignments = ", ".join(f"{c} = ?" for c in table.field_columns)
                self.db.execute(f"UPDATE {table.name} SET {assignments} WHERE {where}", values + keys)
            return
        columns = table.key_columns + table.field_columns
        extra_columns: tuple[str, ...] = ()
        extra: tuple = ()
        if change.address.kind is Kind.PERSON:
            extra_columns = ("username", "account_status", "created_at", "activation_deadline")
            deadline = self.now + timedelta(days=ACTIVATION_DAYS)
            extra = (self.usernames.allocate(dict(change.after)["name"]), "pending",
                     self.now.isoformat(timespec="seconds"), deadline.isoformat(timespec="seconds"))
        marks = ", ".join("?" * (len(columns) + len(extra_columns)))
        self.db.execute(f"INSERT INTO {table.name} ({', '.join(columns + extra_columns)}) VALUES ({marks})",
                        keys + values + extra)


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
