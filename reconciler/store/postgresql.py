"""PostgreSQL store through psycopg 3: one registry shared by many CI runners.

Correct behind PgBouncer in transaction mode: every setting is ``SET LOCAL`` and every
lock is transaction-scoped (``pg_advisory_xact_lock``), so nothing depends on keeping a
server session.  Locks are per enterprise, keyed by registry schema and enterprise
number, so applies to different enterprises run at the same time and registries in
different schemas never block each other.  Holders are written to ``lock_holders`` from
a second, autocommit connection so that waiting processes can name them.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import errors, pq, sql

from reconciler.store.port import LockHolder, LockTimeout, StoreError, now_text
from reconciler.store.sql import SqlStore, default_holder, lock_key, migrations
from reconciler.store.transaction import SqlTransaction
from reconciler.store.urls import redact_url, scrub

_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def split_url(url: str) -> tuple[str, str]:
    """Connection URL for libpq, and the registry's schema (``?schema=NAME``, default public)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError as error:
        raise StoreError(f"invalid state URL {redact_url(url)[:200]}: {scrub(str(error), url)}") from None
    query = dict(parse_qsl(parts.query))
    schema = query.pop("schema", "public")
    if not _SCHEMA_NAME.match(schema):
        raise StoreError(f"invalid schema name {schema[:70]!r} in {redact_url(url)}")
    scheme = "postgresql"
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), parts.fragment)), schema


POSTGRES_VALUES = 65_535


class PostgresStore(SqlStore):
    placeholder = "%s"
    row_lock = " FOR UPDATE"
    _connection: psycopg.Connection

    def __init__(self, url: str, lock_timeout: float):
        self.url = redact_url(url)
        self.verified_chains = {}
        self.conninfo, self.schema = split_url(url)
        self.namespace = self.schema
        self.lock_timeout = lock_timeout
        self._side: psycopg.Connection | None = None
        try:
            self.connection = psycopg.connect(self.conninfo, autocommit=True)
            self._migrate()
        except psycopg.Error as error:
            raise StoreError(f"cannot open state {self.url}: {scrub(str(error).strip(), url)}") from None

    def _search_path(self) -> None:
        self.connection.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(self.schema)))

    def _pending_migrations(self) -> list[tuple[int, str, str]]:
        """Migrations not applied yet, found by reading only, so a read-only role can plan."""
        db = self.connection
        with db.transaction():
            found = db.execute("SELECT to_regclass(%s)", (f'"{self.schema}".schema_migrations',)).fetchone()
            if not found or found[0] is None:
                return migrations("postgresql")
            self._search_path()
            done = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
        return [m for m in migrations("postgresql") if m[0] not in done]

    def _migrate(self) -> None:
        if not self._pending_migrations():
            return
        db = self.connection
        with db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(self.schema, "migrations"),))
            db.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
            self._search_path()
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            done = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
            for version, name, text in migrations("postgresql"):
                if version not in done:
                    db.execute(text)
                    db.execute(
                        "INSERT INTO schema_migrations VALUES (%s, %s, %s)",
                        (version, name, now_text(datetime.now(UTC))),
                    )

    def applied_migrations(self) -> list[tuple[int, str]]:
        with self._snapshot():
            return self._rows("SELECT version, name FROM schema_migrations ORDER BY version")

    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        with self.connection.transaction():
            self.connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            self._search_path()
            yield

    def _lock_usernames(self) -> None:
        """User names are unique across enterprises, whose applies otherwise run in parallel.

        Taken after every enterprise lock, so it can never close a cycle of waits.
        """
        try:
            self.connection.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(self.schema, "usernames"),))
        except errors.LockNotAvailable:
            raise LockTimeout(
                f"timed out waiting for another apply to finish handing out user names in {self.url}"
            ) from None

    @contextmanager
    def _write(self) -> Iterator[None]:
        with self.connection.transaction():
            self._search_path()
            yield

    @property
    def side(self) -> psycopg.Connection:
        """A second connection for holder rows, which must be visible before the apply commits."""
        if self._side is None or self._side.closed:
            self._side = psycopg.connect(self.conninfo, autocommit=True)
        return self._side

    def _table(self, name: str) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(name))

    @contextmanager
    def transaction(self, now: datetime, enterprises: Iterable[str], run: str) -> Iterator[SqlTransaction]:
        db = self.connection
        wanted = sorted(set(enterprises))
        try:
            with db.transaction():
                self._search_path()
                db.execute("SET LOCAL reconciler.applying = 'on'")
                db.execute(
                    sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(f"{int(self.lock_timeout * 1000)}ms"))
                )
                for enterprise in wanted:  # a fixed order: two applies never wait on each other in a cycle
                    try:
                        db.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(self.schema, enterprise),))
                    except errors.LockNotAvailable:
                        raise LockTimeout(self._timeout_message(enterprise)) from None
                self._record_holders(wanted, run, now)
                with self._writing_behind():
                    yield SqlTransaction(self, now)
        except errors.InsufficientPrivilege:
            raise StoreError(
                f"the role of {self.url} may not write to the registry (is it the read-only role of a plan "
                "job?); nothing was changed. Apply with a role that may write, from a protected environment"
            ) from None
        finally:
            if wanted:
                with contextlib.suppress(errors.InsufficientPrivilege):  # a read-only role wrote no holder
                    self.side.execute(
                        sql.SQL("DELETE FROM {} WHERE run = %s").format(self._table("lock_holders")), (run,)
                    )

    def _record_holders(self, enterprises: list[str], run: str, now: datetime) -> None:
        statement = sql.SQL(
            "INSERT INTO {} (enterprise, holder, run, since, lock_key) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (enterprise) DO UPDATE SET holder = EXCLUDED.holder, run = EXCLUDED.run, "
            "since = EXCLUDED.since, lock_key = EXCLUDED.lock_key"
        ).format(self._table("lock_holders"))
        with self.side.cursor() as cursor:
            cursor.executemany(
                statement, [(e, default_holder(), run, now_text(now), lock_key(self.schema, e)) for e in enterprises]
            )

    def _timeout_message(self, enterprise: str) -> str:
        holder = self.holder_of(enterprise)
        by = f" held by {holder.holder} (run {holder.run}) since {holder.since}" if holder else ""
        return f"timed out after {self.lock_timeout:g}s waiting for the lock of enterprise {enterprise}{by}"

    def lock_holders(self) -> list[LockHolder]:
        rows = self.side.execute(
            sql.SQL("SELECT enterprise, holder, run, since, lock_key FROM {} ORDER BY enterprise").format(
                self._table("lock_holders")
            )
        ).fetchall()
        return [
            LockHolder(e, holder, run, since, self._holding_pid(key) is not None) for e, holder, run, since, key in rows
        ]

    def _holding_pid(self, key: int) -> int | None:
        """The backend holding advisory lock ``key`` in this database, if any."""
        row = self.side.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND classid::bigint = %s AND objid::bigint = %s",
            ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF),
        ).fetchone()
        return row[0] if row else None

    def release_lock(self, enterprise: str, force: bool = False) -> LockHolder | None:
        holder = self.holder_of(enterprise)
        if holder is None:
            return None
        if holder.held:
            if not force:
                raise StoreError(
                    f"the lock of {enterprise} is held by {holder.holder} (run {holder.run}); "
                    "pass --force to end that session"
                )
            pid = self._holding_pid(lock_key(self.schema, enterprise))
            if pid is not None:
                self.side.execute("SELECT pg_terminate_backend(%s)", (pid,))
        self.side.execute(
            sql.SQL("DELETE FROM {} WHERE enterprise = %s").format(self._table("lock_holders")), (enterprise,)
        )
        return holder

    def _in_transaction(self) -> bool:
        return self._connection.info.transaction_status == pq.TransactionStatus.INTRANS

    def _values_limit(self) -> int:
        return POSTGRES_VALUES  # the wire protocol counts a statement's parameters in 16 bits

    def _loaded(self) -> None:
        # The runs were loaded with their ids: the next one the identity gives must come after them.
        self.connection.execute(
            "SELECT setval(pg_get_serial_sequence('audit_runs', 'id'), COALESCE(max(id), 0) + 1, false) FROM audit_runs"
        )

    def close(self) -> None:
        self.connection.close()
        if self._side is not None:
            self._side.close()
