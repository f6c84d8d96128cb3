"""What SQLite and PostgreSQL stores share: reading snapshots, holders, dumps and loads (the changes
an apply executes are ``transaction.SqlTransaction``).

Statements are written once with ``?`` placeholders; each backend says how it connects,
begins transactions and locks enterprises.  Both backends run the same test suite.
"""

from __future__ import annotations

import hashlib
import os
import socket
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from importlib import resources
from typing import Any

from reconciler.records.state import (
    Address,
    EnterpriseState,
    Fields,
    Kind,
    StoredEnterprise,
)
from reconciler.store.behind import WritesBehind
from reconciler.store.logins import LoginStore
from reconciler.store.port import (
    CHUNK,
    Account,
    ActivationNotices,
    Listed,
    LockHolder,
    StoreError,
    Transaction,
    batched,
    now_text,
)
from reconciler.store.synced import SyncedFiles
from reconciler.store.tables import TABLES
from reconciler.store.trail import AuditReads

REGISTRY_TABLES = (
    "registry",
    "enterprises",
    "persons",
    "qualities",
    "co_main_access_managers",
    "co_access_managers",
    "users",
    "senders",
    "routes",
    "profiles",
    "hand_writes",
    "audit_runs",
    "audit_log",
    "declared_files",
    "accounts",
    "login_failures",
)
ACCOUNT_COLUMNS = (
    "a.enterprise, a.ssin, coalesce(p.name, ''), coalesce(p.email, ''), a.username, a.status, "
    "a.created_at, a.codes_issued_at, a.activation_deadline, a.activated_at, a.deactivated_at, "
    "a.session_epoch, a.temporary_hash, a.password_hash, coalesce(p.language, e.language, ''), a.last_login_at"
)
ACCOUNT_JOINS = (
    "LEFT JOIN persons p ON p.enterprise = a.enterprise AND p.ssin = a.ssin "
    "LEFT JOIN enterprises e ON e.number = a.enterprise"
)
ACCOUNTS_FROM = f"accounts a {ACCOUNT_JOINS}"

# Fault injection for the crash tests: the process kills itself (SIGKILL, no clean-up)
# after executing this many changes inside an apply transaction.
KILL_AFTER_ENV = "RECONCILER_FAULT_KILL_AFTER_STATEMENTS"


def migrations(dialect: str) -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped for a dialect, in order."""
    folder = resources.files("reconciler.store").joinpath(f"migrations/{dialect}")
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8")))
    return found


def lock_key(namespace: str, enterprise: str) -> int:
    """A stable signed 64-bit key per (registry, enterprise), so registries never collide."""
    digest = hashlib.sha256(f"reconciler:{namespace}:{enterprise}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def default_holder() -> str:
    """Who is applying: the CI job when there is one, else user@host."""
    for variable in ("GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILDKITE_BUILD_CREATOR"):
        if os.environ.get(variable):
            return os.environ[variable]
    return f"{os.environ.get('USER', 'unknown')}@{socket.gethostname()}"


class SqlStore(LoginStore, SyncedFiles, AuditReads, WritesBehind, ABC):
    """Reading and writing in terms of ``TABLES``; subclasses supply the connection."""

    placeholder = "?"
    # What a read of the enterprises' versions adds to lock their rows until the transaction ends,
    # where other writers are not already shut out by the transaction itself (PostgreSQL: a write
    # by hand waiting to commit would otherwise pass the check and be counted as applied).
    row_lock = ""
    url: str
    namespace: str
    # Per enterprise, the (seq, head) of an audit chain this process verified in full: later
    # commands of the same process read only the entries appended since.
    verified_chains: dict[str, tuple[int, str]]

    def q(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        return list(self.connection.execute(self.q(sql), tuple(params)).fetchall())

    def _each_row(self, sql: str, params: Iterable[Any] = ()) -> Iterator[tuple]:
        """The rows one at a time, for a result too large to hold as tuples all at once."""
        yield from self.connection.execute(self.q(sql), tuple(params))

    @abstractmethod
    def _snapshot(self) -> AbstractContextManager[None]:
        """A read-only transaction that sees one consistent state of every table."""

    def _writing_in_bulk(self) -> None:
        """The transaction is about to insert many rows (``transaction.BULK_ROWS`` in one batch): what a backend
        may do to make that cheaper inside the transaction, undone before it commits."""

    def read(self, numbers: Iterable[str] | None = None) -> dict[str, StoredEnterprise]:
        wanted = sorted(set(numbers)) if numbers is not None else None
        records: dict[str, dict[Address, Fields]] = {}
        versions: dict[str, tuple[int, int]] = {}  # number -> (version, applied_version)
        with self._snapshot():
            for table in TABLES.values():
                columns = ", ".join(table.key_columns + table.field_columns)
                extra = ", version, applied_version" if table.kind is Kind.ENTERPRISE else ""
                select = f"SELECT {columns}{extra} FROM {table.name}"
                for rows in self._select(select, table.key_columns[0], wanted):
                    if table.kind is Kind.ENTERPRISE:
                        versions.update((row[0], (row[-2], row[-1])) for row in rows)
                        rows = [row[:-2] for row in rows]
                    table.collect(rows, records)
        return {
            number: StoredEnterprise(
                EnterpriseState(number, records.get(number, {})), version, drifted=0 <= applied < version
            )
            for number, (version, applied) in versions.items()
        }

    def _select(self, sql: str, column: str, wanted: list[str] | None) -> Iterator[list[tuple]]:
        """The rows of ``sql`` for the enterprises ``wanted`` (all when None), a list per query: a
        query asks for at most ``CHUNK`` enterprises, so one table's rows are never all held at once."""
        if wanted is None:
            yield self._rows(sql)
            return
        for chunk in batched(wanted, CHUNK):
            yield self._rows(f"{sql} WHERE {column} IN ({', '.join('?' * len(chunk))})", chunk)

    def enterprise_names(self, numbers: Iterable[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        with self._snapshot():
            for chunk in batched(sorted(set(numbers)), CHUNK):
                found.update(
                    self._rows(
                        f"SELECT number, name FROM enterprises WHERE number IN ({', '.join('?' * len(chunk))})", chunk
                    )
                )
        return found

    def listed(self) -> list[Listed]:
        with self._snapshot():
            rows = self._rows(
                "SELECT number, name, applied_version >= 0 AND version > applied_version, "
                "main_access_manager IS NULL FROM enterprises ORDER BY number"
            )
        return [Listed(number, name, bool(drifted), bool(offboarded)) for number, name, drifted, offboarded in rows]

    def accounts(self, number: str) -> list[Account]:
        return self._accounts("a.enterprise = ? ORDER BY coalesce(p.name, a.username), a.ssin", (number,))

    def account(self, username: str) -> Account | None:
        found = self._accounts("a.username = ?", (username.strip().lower(),))
        return found[0] if found else None

    def account_of(self, enterprise: str, ssin: str) -> Account | None:
        found = self._accounts("a.enterprise = ? AND a.ssin = ?", (enterprise, ssin))
        return found[0] if found else None

    def enterprises_of_person(self, ssin: str) -> list[str]:
        # Read through (both keyed by enterprise first): an index by person would slow every first apply.
        where = "FROM persons WHERE ssin = ? UNION SELECT enterprise FROM accounts WHERE ssin = ?"
        with self._snapshot():
            return sorted(str(row[0]) for row in self._rows(f"SELECT enterprise {where}", (ssin, ssin)))

    def awaiting_codes(self, numbers: Iterable[str] | None = None, limit: int | None = None) -> list[Account]:
        # No ORDER BY in SQL: the planner then uses the index that finds these rows directly.
        where = "a.status = 'pending' AND a.codes_issued_at IS NULL"
        bound = f" LIMIT {int(limit)}" if limit is not None else ""
        if numbers is None:
            found = self._accounts(where + bound, ())
        else:
            found = []
            for chunk in batched(sorted(set(numbers)), CHUNK):
                found += self._accounts(f"{where} AND a.enterprise IN ({', '.join('?' * len(chunk))}){bound}", chunk)
        found.sort(key=lambda a: (a.enterprise, a.ssin))
        return found[:limit] if limit is not None else found

    def _accounts(self, where: str, params: Iterable[Any]) -> list[Account]:
        with self._snapshot():
            rows = self._rows(f"SELECT {ACCOUNT_COLUMNS} FROM {ACCOUNTS_FROM} WHERE {where}", params)
        return [Account(*row) for row in rows]

    def activation_notices(self, numbers: Iterable[str], now: datetime, first: int) -> ActivationNotices:
        """Counts of waiting accounts per enterprise and status, and the ``first`` of each by deadline.

        One indexed query per enterprise, so the cost follows the enterprises asked for,
        not the registry.
        """
        counts: dict[str, dict[str, int]] = {}
        listed: list[Account] = []
        at = now_text(now)
        order = "ORDER BY coalesce(a.activation_deadline, ''), a.username"
        with self._snapshot():
            for number in sorted(set(numbers)):
                # Counted from the index alone, without grouping; the first few found before joining
                # their people: an enterprise may have a hundred thousand accounts waiting.
                waiting, expired, pending = self._rows(
                    "SELECT count(*) - count(codes_issued_at), "
                    "count(CASE WHEN codes_issued_at IS NOT NULL AND activation_deadline < ? THEN 1 END), "
                    "count(CASE WHEN codes_issued_at IS NOT NULL AND (activation_deadline < ?) IS NOT TRUE THEN 1 END) "
                    "FROM accounts WHERE enterprise = ? AND status = 'pending'",
                    (at, at, number),
                )[0]
                found = {"awaiting codes": waiting, "expired": expired, "pending": pending}
                if any(found.values()):
                    counts[number] = {status: int(count) for status, count in found.items() if count}
                    first_ones = f"SELECT * FROM accounts a WHERE a.enterprise = ? AND a.status = 'pending' {order}"
                    listed += [
                        Account(*row)
                        for row in self._rows(
                            f"SELECT {ACCOUNT_COLUMNS} FROM ({first_ones} LIMIT ?) a {ACCOUNT_JOINS} {order}",
                            (number, first),
                        )
                    ]
        return ActivationNotices(counts, listed)

    def _execute(self, sql: str, params: Iterable[Any] = ()) -> None:
        self.connection.execute(self.q(sql), tuple(params))

    def _lock_usernames(self) -> None:
        """Inside an apply: keep other applies from handing out user names until this one commits."""

    @abstractmethod
    def _write(self) -> AbstractContextManager[None]:
        """A short read-write transaction outside any enterprise lock (login bookkeeping)."""

    @abstractmethod
    def transaction(self, now: datetime, enterprises: Iterable[str], run: str) -> AbstractContextManager[Transaction]:
        """All-or-nothing unit of work holding the lock of each enterprise it writes
        (``transaction.SqlTransaction``)."""

    def dump(self) -> dict[str, tuple[list[str], list[tuple]]]:
        """Every row of the registry, table by table, as stored (accounts and versions included)."""
        found = {}
        with self._snapshot():
            for table in REGISTRY_TABLES:
                cursor = self.connection.execute(
                    f"SELECT * FROM {table} ORDER BY 1, 2"
                    if table != "enterprises"
                    else f"SELECT * FROM {table} ORDER BY 1"
                )
                found[table] = ([d[0] for d in cursor.description], [tuple(r) for r in cursor.fetchall()])
        return found

    def load(self, rows: dict[str, tuple[list[str], list[tuple]]], now: datetime) -> None:
        """Insert a dump into this (empty) registry in one transaction, versions kept as they are."""
        enterprises = [row[0] for row in rows["enterprises"][1]]
        with self.transaction(now, enterprises, run=f"load-{now_text(now)}"):
            if self._rows("SELECT count(*) FROM enterprises")[0][0]:
                raise StoreError(f"{self.url} already holds enterprises; copy into an empty registry")
            self._execute("DELETE FROM registry")  # the copy keeps its source's identity
            for table in REGISTRY_TABLES:
                columns, values = rows[table]
                marks = ", ".join("?" * len(columns))
                statement = self.q(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})")
                for chunk in batched(values, 10_000):
                    self.connection.cursor().executemany(statement, chunk)
            self._loaded()

    def _loaded(self) -> None:
        """After a load: what the store must do so that new rows follow the rows loaded with their ids."""

    def identity(self) -> str:
        """The registry's lineage: given when the store was created, kept when it is copied."""
        with self._snapshot():
            return str(self._rows("SELECT lineage FROM registry")[0][0])

    def holder_of(self, enterprise: str) -> LockHolder | None:
        return next((h for h in self.lock_holders() if h.enterprise == enterprise), None)

    @abstractmethod
    def lock_holders(self) -> list[LockHolder]:
        """Every recorded holder, and whether its lock is still held."""
