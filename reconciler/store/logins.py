"""What logging in writes to a SQL store: failure counters, server-side sessions, the last login.

Both tables are written by people who are not signed in yet (failures) or by every page
a signed-in person opens (sessions), so each statement here is short, touches one row
through its key, and removes what has expired, so neither table grows without bound.

Failure counters are reserved *before* a secret is checked: one atomic upsert returns
the attempt's number, so 40 simultaneous guesses get 5 checks, not 40.  Sessions are
stored by the SHA-256 of their token; the token itself lives only in the browser's cookie.

The statements are written once with ``?`` placeholders and run through the host store's
``q``, as in ``sql``; ``INSERT ... ON CONFLICT ... RETURNING`` needs SQLite 3.35 or later.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from reconciler.store.port import Account, now_text

# A row is stale when its window passed without a lock, or its lock ended: the next attempt
# starts counting again from 1.  Written out in each statement (the same three lines), since
# every value is a bound parameter and no SQL is assembled from strings.
RESERVE_ATTEMPT = (
    "INSERT INTO login_failures (username, failures, first_failed_at, locked_until) "
    "VALUES (?, 1, ?, CASE WHEN 1 >= ? THEN ? END) "
    "ON CONFLICT (username) DO UPDATE SET "
    "failures = CASE "
    "WHEN (login_failures.locked_until IS NULL AND login_failures.first_failed_at < ?) "
    "OR login_failures.locked_until <= ? THEN 1 "
    "ELSE login_failures.failures + 1 END, "
    "first_failed_at = CASE "
    "WHEN (login_failures.locked_until IS NULL AND login_failures.first_failed_at < ?) "
    "OR login_failures.locked_until <= ? THEN excluded.first_failed_at "
    "ELSE login_failures.first_failed_at END, "
    "locked_until = CASE "
    "WHEN (login_failures.locked_until IS NULL AND login_failures.first_failed_at < ?) "
    "OR login_failures.locked_until <= ? THEN excluded.locked_until "
    "WHEN login_failures.locked_until IS NULL AND login_failures.failures + 1 >= ? THEN ? "
    "ELSE login_failures.locked_until END "
    "RETURNING failures, locked_until"
)
# Locked rows started at most one window before their lock, so the index on first_failed_at
# finds every stale row (those on the boundary go at the next clean-up).
FORGET_STALE_FAILURES = (
    "DELETE FROM login_failures WHERE first_failed_at < ? AND (locked_until IS NULL OR locked_until <= ?)"
)
RELEASE_ATTEMPT = (
    "UPDATE login_failures SET failures = failures - 1, "
    "locked_until = CASE WHEN failures - 1 < ? THEN NULL ELSE locked_until END "
    "WHERE username = ? AND failures > 0"
)
FORGET_RELEASED = "DELETE FROM login_failures WHERE username = ? AND failures <= 0"
TOUCH_SESSION = (
    "UPDATE sessions SET last_seen_at = ? "
    "WHERE token_hash = ? AND last_seen_at > ? AND created_at > ? "
    "RETURNING enterprise, ssin, session_epoch"
)
FORGET_EXPIRED_SESSIONS = "DELETE FROM sessions WHERE last_seen_at <= ? OR created_at <= ?"


class LoginStore(ABC):
    """Login failures and sessions, mixed into ``sql.SqlStore``, which supplies what is abstract here."""

    @abstractmethod
    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]: ...

    @abstractmethod
    def _execute(self, sql: str, params: Iterable[Any] = ()) -> None: ...

    @abstractmethod
    def _snapshot(self) -> AbstractContextManager[None]: ...

    @abstractmethod
    def _write(self) -> AbstractContextManager[None]: ...

    @abstractmethod
    def account_of(self, enterprise: str, ssin: str) -> Account | None: ...

    def reserve_login_attempt(
        self, username: str, now: datetime, window_start: datetime, attempts: int, locked_until: datetime
    ) -> tuple[int, str | None]:
        """Count an attempt before its answer is checked; (its number in the window, the lock's end if any).

        The attempt that reaches ``attempts`` sets the lock at once, so that attempts made
        while it is being checked are refused; a right answer takes it back
        (``release_login_attempt``) or clears the counter (``clear_login_failures``).
        """
        at, start, until = now_text(now), now_text(window_start), now_text(locked_until)
        with self._write():
            number, locked = self._rows(
                RESERVE_ATTEMPT,
                (username, at, attempts, until, start, at, start, at, start, at, attempts, until),
            )[0]
        if number == 1:  # a new row, perhaps for a new name: the moment to remove those that expired
            with self._write():
                self._execute(FORGET_STALE_FAILURES, (start, at))
        return number, locked

    def release_login_attempt(self, username: str, attempts: int) -> None:
        """Take back an attempt whose answer was right: it was no failure (and ends a lock it set)."""
        with self._write():
            self._execute(RELEASE_ATTEMPT, (attempts, username))
            self._execute(FORGET_RELEASED, (username,))

    def login_locked_until(self, username: str) -> str | None:
        with self._snapshot():
            found = self._rows("SELECT locked_until FROM login_failures WHERE username = ?", (username,))
        return found[0][0] if found else None

    def clear_login_failures(self, username: str) -> None:
        with self._write():
            self._execute("DELETE FROM login_failures WHERE username = ?", (username,))

    def start_session(
        self, token_hash: str, account: Account, now: datetime, idle_since: datetime, started_since: datetime
    ) -> None:
        """Record a new session of ``account`` at its current session epoch; sessions that ended are removed."""
        with self._write():
            self._execute(FORGET_EXPIRED_SESSIONS, (now_text(idle_since), now_text(started_since)))
        with self._write():
            self._execute(
                "INSERT INTO sessions (token_hash, enterprise, ssin, session_epoch, created_at, last_seen_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (token_hash, account.enterprise, account.ssin, account.session_epoch, now_text(now), now_text(now)),
            )

    def touch_session(
        self, token_hash: str, now: datetime, idle_since: datetime, started_since: datetime
    ) -> Account | None:
        """The account of a live session, which is seen now; None (and the row removed) once it ended.

        A session ends when it was idle since ``idle_since``, started before ``started_since``,
        or its account's session epoch moved (new codes, a new password, a deactivation).
        """
        with self._write():
            found = self._rows(
                TOUCH_SESSION, (now_text(now), token_hash, now_text(idle_since), now_text(started_since))
            )
            if not found:
                self._execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))
                return None
        enterprise, ssin, epoch = found[0]
        account = self.account_of(enterprise, ssin)
        if account is None or account.session_epoch != epoch:
            self.end_session(token_hash)
            return None
        return account

    def end_session(self, token_hash: str) -> None:
        with self._write():
            self._execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    def record_login(self, account: Account, now: datetime) -> None:
        """Remember when the person last logged in: one row, by its key, never moved back in time.

        Only ``accounts`` is written, which has no version trigger, and the session epoch
        stays: a login neither makes plans stale nor ends the person's other sessions.
        """
        at = now_text(now)
        with self._write():
            self._execute(
                "UPDATE accounts SET last_login_at = ? WHERE enterprise = ? AND ssin = ? "
                "AND (last_login_at IS NULL OR last_login_at < ?)",
                (at, account.enterprise, account.ssin, at),
            )
