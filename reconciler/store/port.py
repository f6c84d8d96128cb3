"""The storage port: a narrow interface that every backend implements the same way.

The core reads snapshots and hands a plan's changes to a transaction; it never builds
SQL.  Backends import the types defined here; ``backends.open_store`` picks one from a URL.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from reconciler.records.change import Change
from reconciler.records.state import Address, StoredEnterprise
from reconciler.store.audit import AuditEntry, Context

DEFAULT_URL = "sqlite:///.reconciler/state.db"
ACTIVATION_DAYS = 30
DEFAULT_LOCK_TIMEOUT = 60.0


class StoreError(Exception):
    """The store cannot be opened or used; the message says why, for a person."""


class StalePlan(StoreError):
    """The store changed since the plan was computed."""


class LockTimeout(StoreError):
    """Another apply holds an enterprise's lock for longer than we were willing to wait."""


@dataclass(frozen=True)
class SyncRecord:
    """What the store remembers of an enterprise's last apply (for incremental planning)."""

    files: dict[str, str]  # path -> sha256
    digest: str
    synced_version: int
    version: int
    next_expiry: str | None = None  # the earliest end of a grant the last apply left (YYYY-MM-DD)


@dataclass(frozen=True)
class Listed:
    """An enterprise as the store lists it, without reading its records."""

    number: str
    name: str
    drifted: bool  # written outside reconciler since its last apply
    offboarded: bool  # nobody left in it: only its header (and its audit trail) remain


@dataclass(frozen=True)
class LockHolder:
    """Who holds, or last held, the apply lock of an enterprise."""

    enterprise: str
    holder: str
    run: str
    since: str
    held: bool  # False: the holder is gone and the row is only a leftover


@dataclass(frozen=True)
class Account:
    """Login state of one person's account in one enterprise.

    Hashes are argon2id; the codes and passwords themselves are never stored.  ``name``
    and ``email`` come from the declared person and are empty once the person is removed.
    """

    enterprise: str
    ssin: str
    name: str
    email: str
    username: str
    status: str  # pending, active or deactivated, as stored
    created_at: str
    codes_issued_at: str | None
    activation_deadline: str | None
    activated_at: str | None
    deactivated_at: str | None
    session_epoch: int  # moves whenever codes, password or status change: older sessions end
    temporary_hash: str | None = field(default=None, repr=False)
    password_hash: str | None = field(default=None, repr=False)
    language: str = ""  # nl, fr, de or en: the person's own, else the enterprise's default; "" when neither
    last_login_at: str | None = None  # the last login (first login included); None: none recorded

    def effective_status(self, now: datetime) -> str:
        """What the account is at ``now``: awaiting codes, pending, expired, active or deactivated."""
        if self.status != "pending":
            return self.status
        if self.codes_issued_at is None:
            return AWAITING_CODES
        if self.activation_deadline and self.activation_deadline < now_text(now):
            return "expired"
        return "pending"


AWAITING_CODES = "awaiting codes"
WAITING = ("pending", "expired", AWAITING_CODES)  # statuses of accounts not activated yet


def now_text(now: datetime) -> str:
    """Times are stored as ISO 8601 text in UTC, to the second, so they compare as text."""
    return now.astimezone(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ActivationNotices:
    """Accounts of some enterprises that wait for a first login: counts, and the first few by deadline."""

    counts: dict[str, dict[str, int]]  # enterprise -> status -> number of accounts
    first: list[Account]


class Transaction(Protocol):
    allow_broken_audit: bool  # set by a command given --allow-broken-audit-trail

    def check_audit(self, shared: Context, enterprises: Iterable[str]) -> None:
        """Raise ``audit.ChainBroken`` when an enterprise's chain does not verify (unless allowed, and recorded)."""

    def audit_head(self, enterprise: str) -> tuple[int, str]:
        """The number and hash of the enterprise's last audit entry."""

    def seal_audit(self, shared: Context, enterprise: str) -> bool:
        """End a plain chain that verifies with a keyed entry (``audit seal``); False if it ends keyed already."""

    def versions(self, numbers: Iterable[str]) -> dict[str, int]: ...

    def execute(self, changes: list[Change]) -> None:
        """Execute changes that share an action and a kind (consecutive in a plan)."""

    def bump_versions(self, numbers: Iterable[str]) -> None:
        """Count the apply as one write to each enterprise it touched."""

    def audit_adopted(self, shared: Context, adopted: Mapping[str, list[tuple]]) -> None:
        """Append to each enterprise's audit trail, in the same transaction, the events of the records
        it adopts (as ``record_events`` takes them); before any of its changes."""

    def audit_changes(self, shared: Context, changes: Sequence[Change]) -> None:
        """Append a batch of changes, in the order they are executed, to their enterprises' audit
        trails, in the same transaction (the caller hands the store their records first, so that
        the entries are made while the records are written).  The stored chain heads move with
        ``move_heads``, once every batch is in and the records are written."""

    def move_heads(self) -> None:
        """Store the head of every chain ``audit_adopted`` and ``audit_changes`` appended to."""

    def accounts_follow_people(self, people: list[tuple[str, str, str | None]]) -> None:
        """Accounts for people whose records came or went by other means: (enterprise, ssin, name, or
        None when removed). A missing account is created pending; a removed person's is deactivated."""

    def record_sync(
        self,
        number: str,
        files: tuple[tuple[str, str], ...],
        digest: str,
        version: int,
        next_expiry: str | None,
        facts: Mapping[str, str] | None = None,
    ) -> None:
        """Remember the files an enterprise was applied from, if it is still at ``version``, and what
        each gave (``plan.facts``, by path; a file without is read again by the next plan)."""

    def update_account(self, account: Account, **values: object) -> bool:
        """Change an account if nobody changed it since it was read (its session epoch); False if they did."""

    def record_events(
        self, shared: Context, enterprise: str, events: list[tuple[str, str, dict | None, dict | None]]
    ) -> None:
        """Append account events (action, subject, before, after) to the enterprise's audit chain."""


class Store(Protocol):
    url: str  # as shown to people: any password in it is replaced by ***

    def identity(self) -> str:
        """The registry's lineage: a random id given when it was created, kept by ``state migrate``."""

    def read(self, numbers: Iterable[str] | None = None) -> dict[str, StoredEnterprise]:
        """Snapshot of the given enterprises (all when None) with their versions."""

    def enterprise_names(self, numbers: Iterable[str]) -> dict[str, str]:
        """The names of enterprises, without reading their records (for letters)."""

    def applied_files(self, numbers: Iterable[str]) -> dict[str, list[str]]:
        """The files each enterprise was last applied from (as ``plan.desired.real_path`` names them)."""

    def listed(self) -> list[Listed]:
        """Every stored enterprise by number, without reading its records."""

    def accounts(self, number: str) -> list[Account]:
        """Every account of an enterprise, deactivated ones included, by name."""

    def account(self, username: str) -> Account | None:
        """The account a user name logs in to."""

    def account_of(self, enterprise: str, ssin: str) -> Account | None: ...

    def enterprises_of_person(self, ssin: str) -> list[str]:
        """The enterprises whose records name the person, or that keep an account of theirs (one
        they were removed from keeps it, deactivated), by number."""

    def awaiting_codes(self, numbers: Iterable[str] | None = None, limit: int | None = None) -> list[Account]:
        """Pending accounts whose codes were never issued (all enterprises when None)."""

    def activation_notices(self, numbers: Iterable[str], now: datetime, first: int) -> ActivationNotices: ...

    def reserve_login_attempt(
        self, username: str, now: datetime, window_start: datetime, attempts: int, locked_until: datetime
    ) -> tuple[int, str | None]:
        """Count an attempt for a typed user name *before* its answer is checked, atomically.

        Returns the attempt's number in the window (older failures are forgotten) and the
        end of the lock, which the ``attempts``-th attempt sets to ``locked_until``.
        """

    def release_login_attempt(self, username: str, attempts: int) -> None:
        """Take back a reserved attempt whose answer was right: it was no failure."""

    def login_locked_until(self, username: str) -> str | None: ...

    def clear_login_failures(self, username: str) -> None: ...

    def start_session(
        self, token_hash: str, account: Account, now: datetime, idle_since: datetime, started_since: datetime
    ) -> None:
        """Record a session (by its token's SHA-256) at the account's session epoch; remove sessions that ended."""

    def touch_session(
        self, token_hash: str, now: datetime, idle_since: datetime, started_since: datetime
    ) -> Account | None:
        """The account of a live session, now seen; None once idle, too old or its account's epoch moved."""

    def end_session(self, token_hash: str) -> None: ...

    def record_login(self, account: Account, now: datetime) -> None:
        """Remember that the account's person logged in at ``now``: no version moves, no audit entry."""

    def transaction(self, now: datetime, enterprises: Iterable[str], run: str) -> AbstractContextManager[Transaction]:
        """All-or-nothing unit of work holding the lock of each enterprise it writes."""

    def lock_holders(self) -> list[LockHolder]: ...

    def release_lock(self, enterprise: str, force: bool = False) -> LockHolder | None:
        """Forget a leftover holder; with ``force``, also end a live holder's session."""

    def audit_entries(self, enterprise: str | None = None) -> list[AuditEntry]: ...

    def audit_trail(self, enterprise: str) -> tuple[list[AuditEntry], tuple[int, str]]:
        """The enterprise's entries and the (seq, head) it records, read together: verified against
        each other, an apply committed between two reads would look like tampering."""

    def applied_records(
        self, enterprise: str, actions: Iterable[str], addresses: Iterable[str] | None = None
    ) -> dict[str, str | None]:
        """Per record address of the enterprise (of ``addresses`` only, when given), the ``after``
        (JSON, None once removed) of its newest audit entry among ``actions``: the records as the
        applies left them."""

    def written_by_hand(self, enterprise: str) -> set[Address] | None:
        """The records written outside reconciler since the enterprise's last apply, as the store's
        triggers listed them; None when any record may have been (nothing listed, or a write
        nobody listed, such as drift older than the list)."""

    def sync_records(self, paths: list[str]) -> tuple[dict[str, str], dict[str, SyncRecord]]:
        """Which enterprise each file was last applied to, and what those enterprises remember."""

    def file_facts(self, paths: Iterable[str]) -> dict[str, tuple[str, str | None]]:
        """For the files given that an apply recorded: their SHA-256 then, and the facts it kept of them."""

    def read_slice(
        self, number: str, users: Iterable[tuple[str, str]], persons: Iterable[str]
    ) -> tuple[StoredEnterprise, int] | None:
        """Part of an enterprise, for planning only the files a pull request changed: every record
        but its users and people, then those users (quality, SSIN) and people (SSIN) asked for; with
        the number of users it holds in all.  None when the enterprise is not stored."""

    def audit_heads(self) -> dict[str, tuple[int, str]]:
        """Per enterprise, the number and hash of the last audit entry it recorded."""

    def dump(self) -> dict[str, tuple[list[str], list[tuple]]]:
        """Every stored row, for copying a registry to another store."""

    def load(self, rows: dict[str, tuple[list[str], list[tuple]]], now: datetime) -> None:
        """Insert a dump into an empty registry."""

    def close(self) -> None: ...


CHUNK = 900  # bound parameters per statement, below SQLite's historical limit of 999


def batched(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
