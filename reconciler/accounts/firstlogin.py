"""First login and login, shared by the web page and ``reconciler activate``.

The flow is the portal's: user name and temporary password, then the national register
number declared for the account, then a new password twice.  A failed login never says
which part was wrong, and every failure (unknown user names included, so a lock-out
reveals nothing) counts towards a lock-out of that user name.

Each attempt is counted in the store *before* its answer is checked (argon2 takes a tenth
of a second), so simultaneous guesses cannot slip past the count: however they overlap,
five are checked and the others refused unchecked.  A right answer takes its count back.  What is typed is
checked for length and shape before anything reaches the store, so a name that cannot be
a user name costs no row.

The web page's sessions are kept here too: a random token for the browser, its SHA-256
in the store, ended by logging out, by 30 idle minutes, after 8 hours whatever the
activity, and by anything that moves the account's session epoch.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import replace
from datetime import datetime, timedelta

from reconciler.accounts.overview import NewCodes, new_codes_for
from reconciler.accounts.passwords import MAX_LENGTH, MIN_LENGTH, hash_password, password_problems, verify
from reconciler.locale import N_, Phrase
from reconciler.store import audit
from reconciler.store.port import Account, Store, now_text

ATTEMPTS = 5  # failed attempts within WINDOW lock the user name for LOCK
WINDOW = timedelta(minutes=15)
LOCK = timedelta(minutes=15)

# Every user name ever handed out is ASCII letters (at most 16) and a number, or such a name,
# a dot and an enterprise number (two enterprises' names merged by the accounts migration):
# under 40 characters.  Anything longer, or of other characters than these and the dashes
# and underscores people may add, is refused before it reaches the store.
USERNAME_MAX = 64
USERNAME_SHAPE = re.compile(r"[a-z0-9._-]{1,64}")
SECRET_MAX = MAX_LENGTH  # passwords are at most 128 characters; a typed code is far shorter
SSIN_TYPED_MAX = 32  # 11 digits, with dots, dashes or spaces as people write them

IDLE = timedelta(minutes=30)  # a session nobody used for this long ends
LIFETIME = timedelta(hours=8)  # and every session ends this long after signing in
TOKEN_MAX = 64  # secrets.token_urlsafe(32) is 43 characters


NOT_CORRECT = N_("The user name or password is not correct.")
START_AGAIN = N_("This activation is no longer valid. Start again with the codes of your latest letters.")


class LoginRefused(Exception):
    """The attempt failed; the message is safe to show as it is, in any language (``phrase.say``)."""

    def __init__(self, message: str | Phrase = NOT_CORRECT):
        self.phrase = message if isinstance(message, Phrase) else Phrase(message)
        super().__init__(str(self.phrase))


class LockedOut(LoginRefused):
    def __init__(self, until: str):
        self.until = until
        super().__init__(
            Phrase.of(
                N_(
                    "Too many failed attempts: logging in with this user name is locked until "
                    "%(time)s UTC (%(date)s). Try again later."
                ),
                time=until[11:16],
                date=until[:10],
            )
        )


class CodesExpired(LoginRefused):
    """Told only to whoever typed the right codes, with who issues new ones (``new_codes``)."""

    def __init__(self, account: Account, new_codes: NewCodes | None = None):
        self.account = account
        self.new_codes = new_codes or NewCodes()
        assert account.activation_deadline is not None  # an account expires only past its deadline
        self.expired = Phrase.of(
            N_("Your temporary password expired on %(date)s: accounts must be activated within 30 days."),
            date=account.activation_deadline[:10],
        )
        super().__init__(
            Phrase.of(N_("%(expired)s %(guidance)s"), expired=self.expired, guidance=self.new_codes.phrase())
        )


class IdentityMismatch(LoginRefused):
    def __init__(self) -> None:
        super().__init__(N_("This national register number does not match the account."))


# What ``passwords.password_problems`` says, as phrases a catalogue translates.
PASSWORD_PROBLEMS = {
    "The two passwords are not the same.": Phrase(N_("The two passwords are not the same.")),
    f"Use at least {MIN_LENGTH} characters.": Phrase.of(N_("Use at least %(count)d characters."), count=MIN_LENGTH),
    f"Use at most {MAX_LENGTH} characters.": Phrase.of(N_("Use at most %(count)d characters."), count=MAX_LENGTH),
    "Do not use your user name in your password.": Phrase(N_("Do not use your user name in your password.")),
    "Do not use your national register number or your date of birth in your password.": Phrase(
        N_("Do not use your national register number or your date of birth in your password.")
    ),
    "Do not use your name in your password.": Phrase(N_("Do not use your name in your password.")),
    "This password is one of the most common passwords; choose another one.": Phrase(
        N_("This password is one of the most common passwords; choose another one.")
    ),
}


class PasswordRejected(Exception):
    def __init__(self, problems: list[str]):
        self.problems = problems
        self.phrases = [PASSWORD_PROBLEMS.get(problem, Phrase(problem)) for problem in problems]
        super().__init__(" ".join(problems))


def key(username: str) -> str:
    """What a typed user name is counted and looked up as: without surrounding blanks, in lower case."""
    return username.strip().lower()


def _typed_name(username: str, secret: str) -> str:
    """The user name as looked up; refused, before the store, when it or the secret cannot be right."""
    if len(username) > USERNAME_MAX or len(secret) > SECRET_MAX:
        raise LoginRefused()
    name = key(username)
    if not USERNAME_SHAPE.fullmatch(name):
        raise LoginRefused()
    return name


def _guard(store: Store, username: str, now: datetime) -> None:
    until = store.login_locked_until(key(username))
    if until and until > now_text(now):
        raise LockedOut(until)


class _Attempt:
    """One attempt, counted before its answer is checked; ``failed`` or ``succeeded`` settles it."""

    def __init__(self, store: Store, name: str, now: datetime):
        self.store, self.name = store, name
        self.number, self.until = store.reserve_login_attempt(name, now, now - WINDOW, ATTEMPTS, now + LOCK)
        if self.number > ATTEMPTS:  # refused unchecked: the lock-out began, or is about to
            raise LockedOut(self.until or now_text(now + LOCK))

    def failed(self, error: LoginRefused) -> LoginRefused:
        """The error to raise: the lock-out when this was the last attempt allowed."""
        if self.number >= ATTEMPTS and self.until:
            return LockedOut(self.until)
        return error

    def succeeded(self) -> None:
        """A right answer is no failure; it also lifts the lock this attempt set while it was checked."""
        self.store.release_login_attempt(self.name, ATTEMPTS)


def start(store: Store, username: str, code: str, now: datetime) -> Account:
    """Step 1: the user name and temporary password from the two letters."""
    name = _typed_name(username, code)
    attempt = _Attempt(store, name, now)
    account = store.account(name)
    right = verify(account.temporary_hash if account else None, code, code=True)
    if account is None or account.status != "pending" or not right:
        raise attempt.failed(LoginRefused())
    attempt.succeeded()
    if account.effective_status(now) == "expired":
        raise CodesExpired(account, new_codes_for(store, account))
    return account


def current(store: Store, username: str, epoch: int, now: datetime) -> Account:
    """The account of a first login in progress, if nothing happened to it since step 1."""
    account = store.account(username)
    if account is None or account.session_epoch != epoch or account.status != "pending":
        raise LoginRefused(START_AGAIN)
    if account.effective_status(now) == "expired":
        raise CodesExpired(account, new_codes_for(store, account))
    _guard(store, account.username, now)
    return account


def confirm_identity(store: Store, account: Account, typed: str, now: datetime) -> None:
    """Step 2: the national register number declared for the account, with or without separators."""
    if len(typed) > SSIN_TYPED_MAX:
        raise IdentityMismatch()  # cannot be right: not worth a row
    attempt = _Attempt(store, key(account.username), now)
    if "".join(ch for ch in typed if ch.isdigit()) != account.ssin:
        raise attempt.failed(IdentityMismatch())
    attempt.succeeded()


def choose_password(
    store: Store, account: Account, password: str, confirmation: str, now: datetime, run: str
) -> Account:
    """Step 3: the new password, twice.  Activates the account and records it in the audit trail.

    Activating signs the person in, so it is their last login too (``last_login_at``).
    """
    problems = password_problems(password, confirmation, account.username, account.ssin, account.name)
    if problems:
        raise PasswordRejected(problems)
    hashed = hash_password(password)
    shared = audit.context(now, account.ssin, run, "", ())
    with store.transaction(now, [account.enterprise], run) as transaction:
        if not transaction.update_account(
            account,
            status="active",
            password_hash=hashed,
            temporary_hash=None,
            activated_at=now_text(now),
            last_login_at=now_text(now),
        ):
            raise LoginRefused(START_AGAIN)
        transaction.record_events(
            shared,
            account.enterprise,
            [("activate", f"account {account.username}", {"status": "pending"}, {"status": "active"})],
        )
    store.clear_login_failures(key(account.username))
    return store.account_of(account.enterprise, account.ssin) or account


def login(store: Store, username: str, password: str, now: datetime) -> Account:
    """A later login with the person's own password; its time is recorded (``Store.record_login``)."""
    name = _typed_name(username, password)
    attempt = _Attempt(store, name, now)
    account = store.account(name)
    right = verify(account.password_hash if account else None, password)
    if account is None or account.status != "active" or not right:
        raise attempt.failed(LoginRefused())
    store.clear_login_failures(name)
    store.record_login(account, now)
    return replace(account, last_login_at=now_text(now))


def signed_in(store: Store, username: str, epoch: int) -> Account | None:
    """The account, if a session signed in at ``epoch`` may go on: active, and no new codes since."""
    account = store.account(username)
    if account is None or account.status != "active" or account.session_epoch != epoch:
        return None
    return account


def token_hash(token: str) -> str:
    """What the store keeps of a session token: a random 256-bit token needs no slow hash."""
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(store: Store, account: Account, now: datetime) -> str:
    """A new session for a person who just proved who they are; the token goes to their browser only."""
    token = secrets.token_urlsafe(32)
    store.start_session(token_hash(token), account, now, now - IDLE, now - LIFETIME)
    return token


def session_account(store: Store, token: str, now: datetime) -> Account | None:
    """The account of a session token, if the session is still on (using it keeps it from idling out)."""
    if not token or len(token) > TOKEN_MAX:
        return None
    account = store.touch_session(token_hash(token), now, now - IDLE, now - LIFETIME)
    if account is not None and account.status != "active":  # the store saw to the epoch; this, to the status
        close_session(store, token)
        return None
    return account


def close_session(store: Store, token: str) -> None:
    """Logging out: the session ends on the server, so a copy of the cookie opens nothing."""
    if token and len(token) <= TOKEN_MAX:
        store.end_session(token_hash(token))
