"""First login and login, shared by the web page and ``reconciler activate``.

The flow is the portal's: user name and temporary password, then the national register
number declared for the account, then a new password twice.  A failed login never says
which part was wrong, and every failure (unknown user names included, so a lock-out
reveals nothing) counts towards a lock-out of that user name.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from reconciler.accounts.passwords import hash_password, password_problems, verify
from reconciler.store import audit
from reconciler.store.port import Account, Store, now_text

ATTEMPTS = 5  # failed attempts within WINDOW lock the user name for LOCK
WINDOW = timedelta(minutes=15)
LOCK = timedelta(minutes=15)


class LoginRefused(Exception):
    """The attempt failed; the message is safe to show as it is."""

    def __init__(self, message: str = "The user name or password is not correct."):
        super().__init__(message)


class LockedOut(LoginRefused):
    def __init__(self, until: str):
        self.until = until
        super().__init__(
            f"Too many failed attempts: logging in with this user name is locked until "
            f"{until[11:16]} UTC ({until[:10]}). Try again later."
        )


class CodesExpired(LoginRefused):
    def __init__(self, account: Account):
        self.account = account
        assert account.activation_deadline is not None  # an account expires only past its deadline
        super().__init__(
            f"Your temporary password expired on {account.activation_deadline[:10]}: accounts must be "
            "activated within 30 days. Ask the person who manages your access for new access codes."
        )


class IdentityMismatch(LoginRefused):
    def __init__(self) -> None:
        super().__init__("This national register number does not match the account.")


class PasswordRejected(Exception):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(" ".join(problems))


def key(username: str) -> str:
    return username.strip().lower()


def _guard(store: Store, username: str, now: datetime) -> None:
    until = store.login_locked_until(key(username))
    if until and until > now_text(now):
        raise LockedOut(until)


def _failed(store: Store, username: str, now: datetime, error: LoginRefused) -> LoginRefused:
    """Count a failure; the error to raise is the lock-out once there have been too many."""
    if store.count_login_failure(key(username), now, now - WINDOW) >= ATTEMPTS:
        until = now + LOCK
        store.lock_login(key(username), until)
        return LockedOut(now_text(until))
    return error


def start(store: Store, username: str, code: str, now: datetime) -> Account:
    """Step 1: the user name and temporary password from the two letters."""
    _guard(store, username, now)
    account = store.account(key(username))
    right = verify(account.temporary_hash if account else None, code, code=True)
    if account is None or account.status != "pending" or not right:
        raise _failed(store, username, now, LoginRefused())
    if account.effective_status(now) == "expired":
        raise CodesExpired(account)
    return account


def current(store: Store, username: str, epoch: int, now: datetime) -> Account:
    """The account of a first login in progress, if nothing happened to it since step 1."""
    account = store.account(username)
    if account is None or account.session_epoch != epoch or account.status != "pending":
        raise LoginRefused("This activation is no longer valid. Start again with the codes of your latest letters.")
    if account.effective_status(now) == "expired":
        raise CodesExpired(account)
    _guard(store, account.username, now)
    return account


def confirm_identity(store: Store, account: Account, typed: str, now: datetime) -> None:
    """Step 2: the national register number declared for the account, with or without separators."""
    if "".join(ch for ch in typed if ch.isdigit()) != account.ssin:
        raise _failed(store, account.username, now, IdentityMismatch())


def choose_password(
    store: Store, account: Account, password: str, confirmation: str, now: datetime, run: str
) -> Account:
    """Step 3: the new password, twice.  Activates the account and records it in the audit trail."""
    problems = password_problems(password, confirmation, account.username, account.ssin, account.name)
    if problems:
        raise PasswordRejected(problems)
    hashed = hash_password(password)
    shared = audit.context(now, account.ssin, run, "", ())
    with store.transaction(now, [account.enterprise], run) as transaction:
        if not transaction.update_account(
            account, status="active", password_hash=hashed, temporary_hash=None, activated_at=now_text(now)
        ):
            raise LoginRefused("This activation is no longer valid. Start again with the codes of your latest letters.")
        transaction.record_events(
            shared,
            account.enterprise,
            [("activate", f"account {account.username}", {"status": "pending"}, {"status": "active"})],
        )
    store.clear_login_failures(key(account.username))
    return store.account_of(account.enterprise, account.ssin) or account


def login(store: Store, username: str, password: str, now: datetime) -> Account:
    """A later login with the person's own password."""
    _guard(store, username, now)
    account = store.account(key(username))
    right = verify(account.password_hash if account else None, password)
    if account is None or account.status != "active" or not right:
        raise _failed(store, username, now, LoginRefused())
    store.clear_login_failures(key(username))
    return account


def signed_in(store: Store, username: str, epoch: int) -> Account | None:
    """The account of a session, unless it was deactivated or got new codes since (sessions end then).

    Sessions name the account by its user name, never by the national register number: a
    session cookie is signed, not encrypted.
    """
    account = store.account(username)
    if account is None or account.status != "active" or account.session_epoch != epoch:
        return None
    return account
