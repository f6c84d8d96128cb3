"""Dormant accounts: active, yet nobody logged in to them for a long time.

An account nobody uses is a door nobody watches: its password may be known to someone who
left, and its grants are no longer reviewed by the one person who would notice them used.
An active account is *dormant* once ``days`` (90 unless told otherwise) have passed since
the person last logged in (``Account.last_login_at``; the first login counts), or since
its activation when they never logged in after it.  An active account with neither
recorded (activated before either was kept) counts from its creation, so that it is
never taken for a fresh one.

Here rather than in ``accounts``: every view of the stored state says whether an account
is dormant (``render.who`` too, which may not import ``accounts``).  Time comes from the
caller, who asks the one clock (``records.clock``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reconciler.store.port import Account

DORMANT_AFTER_DAYS = 90
DORMANT = "dormant"


def last_seen(account: Account) -> str | None:
    """When the account was last used, as stored (ISO 8601, UTC): its last login or its activation."""
    # Stored as text in UTC to the second: text order is time order.  Anything else was written by
    # hand (SQLite keeps any type in any column): it says nothing of when.
    known = [at for at in (account.last_login_at, account.activated_at) if at and isinstance(at, str)]
    return max(known) if known else None


def _moment(stored: object) -> datetime | None:
    if not isinstance(stored, str):
        return None
    try:
        found = datetime.fromisoformat(stored)
    except ValueError:  # a value written by hand: no moment to measure from
        return None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def idle_days(account: Account, now: datetime) -> int | None:
    """Whole days since the account was last used (``last_seen``, else its creation); None if unknown."""
    since = _moment(last_seen(account) or account.created_at or "")
    return None if since is None else (now - since) // timedelta(days=1)


def is_dormant(account: Account, now: datetime, days: int = DORMANT_AFTER_DAYS) -> bool:
    """Whether ``account`` is active and nobody logged in to it for ``days`` days by ``now``."""
    if account.status != "active":
        return False
    idle = idle_days(account, now)
    return idle is not None and idle >= days


def account_status(account: Account, now: datetime, days: int = DORMANT_AFTER_DAYS) -> str:
    """What the account is at ``now``: awaiting codes, pending, expired, active, dormant or deactivated."""
    return DORMANT if is_dormant(account, now, days) else account.effective_status(now)
