"""One apply's unit of work in a SQL store: the versions it checks, the changes and audit entries
it writes, the accounts that follow people, and the version it leaves.

``SqlStore.transaction`` of each backend opens one around an apply; the statements are written once
with ``?`` placeholders and run through the store's ``q``, as in ``sql``.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from reconciler.records.change import Action, Change
from reconciler.records.state import Fields, Kind, Value, as_text
from reconciler.store.audit import Context
from reconciler.store.chain import ChainWriter
from reconciler.store.port import CHUNK, Account, batched, now_text
from reconciler.store.sql import KILL_AFTER_ENV, SqlStore
from reconciler.store.tables import TABLES
from reconciler.store.usernames import UsernameAllocator


def _after(change: Change) -> Fields:
    """The fields a creation or an update leaves (only deletions have none)."""
    assert change.after is not None, change
    return change.after


def _name(fields: Fields) -> Value:
    """A person's name: their first field, as a person's fields are in ``FIELDS`` order."""
    first = fields[0]
    return first[1] if first[0] == "name" else dict(fields)["name"]


def _columns(values: Fields, converted: dict[int, tuple[object, ...]], columns_of: Callable) -> tuple[object, ...]:
    """Fields as column values (``Table.columns_of``), converted once per fields object of a batch.

    Users share their fields (``records.state.shared``): a batch of a hundred thousand users
    holds a few hundred distinct ones.  Keyed by identity, which is sound while the batch holds
    every object it converted.
    """
    found = converted.get(id(values))
    if found is None:
        found = converted[id(values)] = columns_of(values)
    return found


BULK_ROWS = 10_000  # changes in one batch from which a transaction writes in bulk (``_writing_in_bulk``)


class SqlTransaction(ChainWriter):
    """One apply's unit of work: versions, change statements, and the final version bump."""

    store: SqlStore

    def __init__(self, store: SqlStore, now: datetime):
        self.store = store
        self.now = now
        self.executed = 0
        self.kill_after = int(os.environ.get(KILL_AFTER_ENV, "0") or 0)
        self._usernames: UsernameAllocator | None = None
        self.allow_broken_audit = False  # set by a command given --allow-broken-audit-trail
        self._checked: set[str] = set()  # enterprises whose chain this transaction verified
        self._runs: dict[Context, int] = {}
        self._heads: dict[str, tuple[int, str]] = {}
        self._unmoved: set[str] = set()

    def _run(self, sql: str, params: Iterable[Any] = ()) -> None:
        self.store.connection.execute(self.store.q(sql), tuple(params))

    def versions(self, numbers: Iterable[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in batched(sorted(set(numbers)), CHUNK):
            marks = ", ".join("?" * len(chunk))
            found.update(
                self.store._rows(
                    f"SELECT number, version FROM enterprises WHERE number IN ({marks}){self.store.row_lock}", chunk
                )
            )
        return found

    def bump_versions(self, numbers: Iterable[str]) -> None:
        for chunk in batched(sorted(set(numbers)), CHUNK):
            marks = ", ".join("?" * len(chunk))
            # Up to date again: what was written by hand is in the trail now (adopted or changed).
            # Not so for an enterprise this apply creates (never applied): it planned against
            # nothing stored, so rows written by hand under its number before it existed (SQLite,
            # foreign keys off) stay listed, for the drift to come.
            self._run(
                "DELETE FROM hand_writes WHERE enterprise IN "
                f"(SELECT number FROM enterprises WHERE number IN ({marks}) AND applied_version >= 0)",
                chunk,
            )
            self._run(
                "UPDATE enterprises SET version = version + 1, applied_version = version + 1 "
                f"WHERE number IN ({marks})",
                chunk,
            )

    def execute(self, changes: list[Change]) -> None:
        """Execute changes that share an action and a kind, as one batch per statement.

        Under fault injection the batch is cut where the process must die, so a test can
        stop the apply after any number of changes.
        """
        if not changes:
            return
        if self.kill_after and self.executed + len(changes) >= self.kill_after:
            cut = self.kill_after - self.executed
            self._execute_batch(changes[:cut])
            os.kill(os.getpid(), signal.SIGKILL)
        self._execute_batch(changes)

    def _execute_batch(self, changes: list[Change]) -> None:
        first = changes[0]
        if len(changes) >= BULK_ROWS:
            self.store._writing_in_bulk()
        table = TABLES[first.address.kind]
        where = " AND ".join(f"{c} = ?" for c in table.key_columns)
        converted: dict[int, tuple[object, ...]] = {}
        key, columns_of = table.key_values, table.columns_of
        if first.action is Action.CREATE:
            rows = [key(c.address) + _columns(_after(c), converted, columns_of) for c in changes]
            self.store.insert_rows(table.name, table.key_columns + table.field_columns, rows)
        elif first.action is Action.DELETE:
            statement = f"DELETE FROM {table.name} WHERE {where}"
            self.store.connection.cursor().executemany(self.store.q(statement), [key(c.address) for c in changes])
        elif table.field_columns:
            assignments = ", ".join(f"{c} = ?" for c in table.field_columns)
            statement = f"UPDATE {table.name} SET {assignments} WHERE {where}"
            self.store.connection.cursor().executemany(
                self.store.q(statement), [_columns(_after(c), converted, columns_of) + key(c.address) for c in changes]
            )
        if first.address.kind is Kind.PERSON and first.action is not Action.UPDATE:
            self._accounts_follow(changes)
        self.executed += len(changes)

    def _accounts_follow(self, changes: list[Change]) -> None:
        """A declared person has an account; a removed one keeps it, deactivated, with every code revoked.

        A person declared again gets their old account (and user name) back, pending, with
        codes still to be issued.
        """
        at = now_text(self.now)
        if changes[0].action is Action.DELETE:
            self.store.connection.cursor().executemany(
                self.store.q(
                    "UPDATE accounts SET status = 'deactivated', deactivated_at = ?, temporary_hash = NULL, "
                    "password_hash = NULL, session_epoch = session_epoch + 1 WHERE enterprise = ? AND ssin = ?"
                ),
                [(at, c.address.enterprise, c.address.key) for c in changes],
            )
            return
        self.store.insert_rows(
            "accounts",
            ("enterprise", "ssin", "username", "status", "created_at"),
            [
                (c.address.enterprise, c.address.key, self._username(as_text(_name(_after(c)))), "pending", at)
                for c in changes
            ],
            " ON CONFLICT (enterprise, ssin) DO UPDATE SET status = 'pending', created_at = excluded.created_at, "
            "codes_issued_at = NULL, activation_deadline = NULL, temporary_hash = NULL, password_hash = NULL, "
            "activated_at = NULL, deactivated_at = NULL, session_epoch = accounts.session_epoch + 1",
        )

    def accounts_follow_people(self, people: list[tuple[str, str, str | None]]) -> None:
        at = now_text(self.now)
        cursor = self.store.connection.cursor()
        present = [
            (enterprise, ssin, name)
            for enterprise, ssin, name in people
            if name is not None
            and not self.store._rows("SELECT 1 FROM accounts WHERE enterprise = ? AND ssin = ?", (enterprise, ssin))
        ]  # a user name is allocated only for an account that does not exist: names are never reused
        gone = [(at, enterprise, ssin) for enterprise, ssin, name in people if name is None]
        if present:
            cursor.executemany(
                self.store.q(
                    "INSERT INTO accounts (enterprise, ssin, username, status, created_at) "
                    "VALUES (?, ?, ?, 'pending', ?) ON CONFLICT (enterprise, ssin) DO NOTHING"
                ),
                [(enterprise, ssin, self._username(name), at) for enterprise, ssin, name in present],
            )
        if gone:
            cursor.executemany(
                self.store.q(
                    "UPDATE accounts SET status = 'deactivated', deactivated_at = ?, temporary_hash = NULL, "
                    "password_hash = NULL, session_epoch = session_epoch + 1 "
                    "WHERE enterprise = ? AND ssin = ? AND status <> 'deactivated'"
                ),
                gone,
            )

    def update_account(self, account: Account, **values: object) -> bool:
        assignments = ", ".join(f"{name} = ?" for name in values)
        cursor = self.store.connection.execute(
            self.store.q(
                f"UPDATE accounts SET {assignments}, session_epoch = session_epoch + 1 "
                "WHERE enterprise = ? AND ssin = ? AND session_epoch = ?"
            ),
            (*values.values(), account.enterprise, account.ssin, account.session_epoch),
        )
        return cursor.rowcount == 1

    def record_sync(
        self,
        number: str,
        files: tuple[tuple[str, str], ...],
        digest: str,
        version: int,
        next_expiry: str | None,
        facts: Mapping[str, str] | None = None,
    ) -> None:
        """Remember what the enterprise was applied from, if it is still at ``version``."""
        paths = [path for path, _ in files]
        facts = facts or {}
        self._run("DELETE FROM declared_files WHERE enterprise = ?", (number,))
        for chunk in batched(paths, CHUNK):
            self._run(f"DELETE FROM declared_files WHERE path IN ({', '.join('?' * len(chunk))})", chunk)
        self.store.connection.cursor().executemany(
            self.store.q("INSERT INTO declared_files (path, enterprise, sha256, facts) VALUES (?, ?, ?, ?)"),
            [(path, number, sha, facts.get(path)) for path, sha in files],
        )
        # Up to date: what was written by hand is in the trail now (as in ``bump_versions``, not
        # for an enterprise never applied before this transaction).
        self._run(
            "DELETE FROM hand_writes WHERE enterprise = ? AND EXISTS (SELECT 1 FROM enterprises "
            "WHERE number = ? AND version = ? AND applied_version >= 0 AND synced_version >= 0)",
            (number, number, version),
        )
        self._run(
            "UPDATE enterprises SET synced_digest = ?, synced_version = version, applied_version = version, "
            "next_expiry = ? WHERE number = ? AND version = ?",
            (digest, next_expiry, number, version),
        )

    def _username(self, name: str) -> str:
        """User names are unique in the registry (they are what people log in with) and never reused."""
        if self._usernames is None:
            self.store._lock_usernames()
            self._usernames = UsernameAllocator(
                lambda: (r[0] for r in self.store._rows("SELECT username FROM accounts"))
            )
        return self._usernames.allocate(name)
