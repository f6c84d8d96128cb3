"""First login and lock-out on both stores, the terminal flow, e-mail delivery, and the commands."""

from __future__ import annotations

import re
import socket
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from reconciler.accounts import firstlogin
from reconciler.accounts.delivery import DeliveryError, Letter, LetterBox, Mailer, open_delivery
from reconciler.accounts.lifecycle import issue_codes
from reconciler.store import audit
from reconciler.store.backends import open_store
from reconciler.store.sql import migrations
from tests.conftest import EXAMPLES, outside_write
from tests.test_lifecycle import NOW, SMALL, apply_paths, code_of

SMALL_FILE = EXAMPLES / "small-employer.yaml"
JAN = "58022754967"
PASSWORD = "a long passphrase here"


@pytest.fixture
def issued(store, tmp_path: Path):
    apply_paths(store, SMALL_FILE)
    letters = tmp_path / "letters"
    issue_codes(store, LetterBox(str(letters)), None, NOW, "http://login", "r")
    return store, code_of(letters, SMALL, "jmertens")


def test_the_whole_first_login(issued) -> None:
    store, code = issued
    account = firstlogin.start(store, " JMertens ", code.lower().replace("-", " "), NOW)
    firstlogin.confirm_identity(store, account, "58.02.27-549.67", NOW)
    with pytest.raises(firstlogin.PasswordRejected) as rejected:
        firstlogin.choose_password(store, account, PASSWORD, PASSWORD + "!", NOW, "r")
    assert rejected.value.problems == ["The two passwords are not the same."]
    active = firstlogin.choose_password(store, account, PASSWORD, PASSWORD, NOW, "r")
    assert (active.status, active.activated_at, active.temporary_hash) == ("active", "2026-11-02T08:00:00+00:00", None)
    with pytest.raises(firstlogin.LoginRefused):  # the temporary password works once
        firstlogin.start(store, "jmertens", code, NOW)
    assert firstlogin.login(store, "jmertens", PASSWORD, NOW).ssin == JAN
    entry = store.audit_entries(SMALL)[-1]
    assert (entry.action, entry.actor, entry.after) == ("activate", JAN, '{"status":"active"}')
    assert PASSWORD not in repr(store.dump())
    assert audit.verify(store.audit_entries(), store.audit_heads()) == []


def test_a_failed_login_never_says_what_was_wrong(issued) -> None:
    store, code = issued
    messages = set()
    for username, typed in (("jmertens", "WRONG-CODE"), ("nobody", code), ("emertens", code)):
        with pytest.raises(firstlogin.LoginRefused) as refused:
            firstlogin.start(store, username, typed, NOW)
        messages.add(str(refused.value))
    with pytest.raises(firstlogin.LoginRefused) as refused:
        firstlogin.login(store, "jmertens", code, NOW)  # a pending account has no password yet
    messages.add(str(refused.value))
    assert messages == {"The user name or password is not correct."}


@pytest.mark.parametrize("username", ["jmertens", "nobody-at-all"])
def test_five_failures_lock_a_user_name_out_known_or_not(issued, username: str) -> None:
    store, code = issued
    for attempt in range(firstlogin.ATTEMPTS - 1):
        with pytest.raises(firstlogin.LoginRefused) as refused:
            firstlogin.start(store, username, "WRONG", NOW + timedelta(seconds=attempt))
        assert type(refused.value) is firstlogin.LoginRefused
    with pytest.raises(firstlogin.LockedOut, match="locked until 08:15 UTC") as locked:
        firstlogin.start(store, username, "WRONG", NOW + timedelta(seconds=10))
    assert locked.value.until == "2026-11-02T08:15:10+00:00"
    with pytest.raises(firstlogin.LockedOut):  # even the right code, while locked
        firstlogin.start(store, username, code, NOW + timedelta(minutes=14))
    if username == "jmertens":
        assert firstlogin.start(store, username, code, NOW + timedelta(minutes=16)).ssin == JAN


def test_failures_outside_the_window_are_forgotten(issued) -> None:
    store, _ = issued
    for attempt in range(firstlogin.ATTEMPTS - 1):
        with pytest.raises(firstlogin.LoginRefused):
            firstlogin.start(store, "jmertens", "WRONG", NOW + timedelta(seconds=attempt))
    with pytest.raises(firstlogin.LoginRefused) as refused:
        firstlogin.start(store, "jmertens", "WRONG", NOW + firstlogin.WINDOW + timedelta(minutes=1))
    assert type(refused.value) is firstlogin.LoginRefused


def test_a_wrong_national_register_number_counts_towards_the_lock_out(issued) -> None:
    store, code = issued
    account = firstlogin.start(store, "jmertens", code, NOW)
    for _ in range(firstlogin.ATTEMPTS - 1):
        with pytest.raises(firstlogin.IdentityMismatch, match="does not match the account"):
            firstlogin.confirm_identity(store, account, "75031366754", NOW)
    with pytest.raises(firstlogin.LockedOut):
        firstlogin.confirm_identity(store, account, "75031366754", NOW)
    with pytest.raises(firstlogin.LockedOut):
        firstlogin.current(store, "jmertens", account.session_epoch, NOW)


def failure_rows(store) -> list[tuple]:
    return store.dump()["login_failures"][1]


@pytest.mark.parametrize("step", ["start", "login"])
def test_twenty_simultaneous_wrong_attempts_get_five_answers_checked(
    issued, store_url: str, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """Each attempt is counted before its (slow) check, so simultaneous guesses cannot outrun the count."""
    store, code = issued
    if step == "login":
        account = firstlogin.start(store, "jmertens", code, NOW)
        firstlogin.confirm_identity(store, account, JAN, NOW)
        firstlogin.choose_password(store, account, PASSWORD, PASSWORD, NOW, "r")
    checked = []
    real_verify = firstlogin.verify

    def slow_verify(*args, **kwargs) -> bool:
        checked.append(1)
        time.sleep(0.1)  # argon2 at full cost: the other attempts arrive while this one is checked
        return real_verify(*args, **kwargs)

    monkeypatch.setattr(firstlogin, "verify", slow_verify)
    opening, everyone = threading.Lock(), threading.Barrier(20)

    def attempt(number: int) -> str:
        with opening:  # one at a time: opening a store checks its migrations
            own = open_store(store_url)
        try:
            everyone.wait()
            getattr(firstlogin, step)(own, "jmertens", f"WRONG-GUESS-{number:04d}", NOW)
        except firstlogin.LoginRefused as refused:
            return type(refused).__name__
        finally:
            own.close()
        return "signed in"

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(attempt, range(20)))
    assert len(checked) == firstlogin.ATTEMPTS
    assert sorted(outcomes) == ["LockedOut"] * 16 + ["LoginRefused"] * 4


def test_right_answers_are_not_counted_as_failures(issued) -> None:
    store, code = issued
    for _ in range(2 * firstlogin.ATTEMPTS):
        account = firstlogin.start(store, "jmertens", code, NOW)
        firstlogin.confirm_identity(store, account, JAN, NOW)
    assert failure_rows(store) == []
    for _ in range(firstlogin.ATTEMPTS - 1):  # four failures, then the right codes: still not locked
        with pytest.raises(firstlogin.LoginRefused):
            firstlogin.start(store, "jmertens", "WRONG", NOW)
    account = firstlogin.start(store, "jmertens", code, NOW)
    with pytest.raises(firstlogin.LockedOut):  # the fifth failure locks, as before
        firstlogin.confirm_identity(store, account, "75031366754", NOW)


@pytest.mark.parametrize(
    ("username", "secret"),
    [
        ("x" * 400_000, "WRONG"),
        ("j" * (firstlogin.USERNAME_MAX + 1), "WRONG"),
        ("jmertens\x00", "WRONG"),
        ("jmértens", "WRONG"),
        ("\u202ejmertens", "WRONG"),
        ("", "WRONG"),
        ("jmertens", "W" * (firstlogin.SECRET_MAX + 1)),
    ],
    ids=["huge", "65 characters", "control character", "accent", "right-to-left mark", "empty", "long secret"],
)
def test_what_cannot_be_right_is_refused_without_a_store_write(issued, username: str, secret: str) -> None:
    store, _ = issued
    for step in (firstlogin.start, firstlogin.login):
        with pytest.raises(firstlogin.LoginRefused, match=r"^The user name or password is not correct\.$"):
            step(store, username, secret, NOW)
    assert failure_rows(store) == []


def test_an_over_long_national_register_number_costs_no_row(issued) -> None:
    store, code = issued
    account = firstlogin.start(store, "jmertens", code, NOW)
    with pytest.raises(firstlogin.IdentityMismatch):
        firstlogin.confirm_identity(store, account, "5" * 100_000, NOW)
    assert failure_rows(store) == []


def test_failure_counters_are_keyed_by_the_normalised_name_and_removed_when_over(issued) -> None:
    store, _ = issued
    for typed in ("Nobody", " NOBODY ", "nobody\t"):
        with pytest.raises(firstlogin.LoginRefused):
            firstlogin.login(store, typed, "WRONG", NOW)
    assert [(row[0], row[1]) for row in failure_rows(store)] == [("nobody", 3)]
    ten_past = NOW + timedelta(minutes=10)
    for _ in range(firstlogin.ATTEMPTS):
        with pytest.raises(firstlogin.LoginRefused):
            firstlogin.login(store, "locked", "WRONG", ten_past)
    assert firstlogin.WINDOW == firstlogin.LOCK == timedelta(minutes=15)
    with pytest.raises(firstlogin.LoginRefused):  # a new name at 08:16: the window of "nobody" is over
        firstlogin.login(store, "later", "WRONG", NOW + timedelta(minutes=16))
    assert sorted(row[0] for row in failure_rows(store)) == ["later", "locked"]  # locked until 08:25
    with pytest.raises(firstlogin.LoginRefused):  # at 09:00 every window and lock-out is over
        firstlogin.login(store, "latest", "WRONG", NOW + timedelta(hours=1))
    assert [row[0] for row in failure_rows(store)] == ["latest"]


def test_activate_on_a_terminal(run, tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 's.db'}"
    assert (
        run("apply", SMALL_FILE, "--state", state, "--auto-approve", "--delivery", f"letters:{tmp_path}/l").exit_code
        == 0
    )
    code = code_of(tmp_path / "l", SMALL, "jmertens")
    answers = f"jmertens\n{code}\n58022754967\nshort\nshort\n{PASSWORD}\n{PASSWORD}\n"
    result = run("activate", "--state", state, input=answers)
    assert result.exit_code == 0, result.output
    assert "Use at least 12 characters." in result.stderr
    assert result.stdout.endswith("Account jmertens is active. From now on, log in with your new password.\n")
    again = run("activate", "--state", state, input=f"jmertens\n{code}\n")
    assert again.exit_code == 1 and "error: The user name or password is not correct." in again.stderr


def test_deferred_codes_then_issue_and_reissue_commands(run, tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 's.db'}"
    applied = run("apply", SMALL_FILE, "--state", state, "--auto-approve", "--defer-codes")
    assert applied.exit_code == 0 and "Access codes sent" not in applied.stdout
    assert not (tmp_path / ".reconciler" / "letters").exists()
    # A plan that changes the enterprise lists its accounts still waiting for codes.
    changed = tmp_path / "changed.yaml"
    changed.write_text(SMALL_FILE.read_text().replace("administratie@", "hr@"))
    planned = run("plan", changed, "--state", state)
    assert "0999.055.557: 3 awaiting codes" in planned.stdout
    comment = run("plan", changed, "--state", state, "--format", "markdown").stdout
    assert (
        "| 0999.055.557 | 3 | 0 | 0 |" in comment and "- 0999.055.557 `emertens` Els Mertens: awaiting codes" in comment
    )
    issued = run("credentials", "issue", "--state", state)
    assert issued.stdout == "Access codes sent for 3 accounts: letters in .reconciler/letters.\n"
    assert run("credentials", "issue", "--state", state).stdout.startswith("Access codes sent for 0 accounts")
    old = code_of(tmp_path / ".reconciler" / "letters", SMALL, "jmertens")
    refused = run(
        "credentials", "reissue", "jmertens", "--enterprise", "0999.055.557", "--actor", JAN, "--state", state
    )
    assert refused.exit_code == 1
    assert "58022754967 may not issue new access codes for jmertens (user): they are issued by" in refused.stderr
    done = run(
        "credentials", "reissue", "jmertens", "--enterprise", "0999.055.557", "--actor", "75031366754", "--state", state
    )
    assert done.exit_code == 0 and done.stdout.startswith("New access codes sent for jmertens (letters in")
    assert code_of(tmp_path / ".reconciler" / "letters", SMALL, "jmertens") != old
    log = run("audit", "log", "0999.055.557", "--state", state).stdout
    assert "reissue-codes  account jmertens  by 75031366754" in log
    bad = run("credentials", "issue", "--state", state, "--delivery", "pigeon:coop")
    assert bad.exit_code == 1 and "unsupported delivery 'pigeon:coop'" in bad.stderr
    outside_write(
        state, "UPDATE accounts SET activation_deadline = '2026-01-31T00:00:00+00:00' WHERE username = 'felamrani'"
    )
    shown = run("show", "0999.055.557", "--state", state).stdout
    assert "user: Fatima El Amrani (61061906014) [felamrani, expired]" in shown
    assert "    felamrani  Fatima El Amrani  expired since 2026-01-31\n" in shown
    assert "accounts: 2 pending, 1 expired\n" in shown
    assert "0999.055.557: 1 expired, 2 pending" in run("plan", changed, "--state", state).stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=default)))
        return "250 OK"


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield f"smtp://127.0.0.1:{port}?from=access@portal.example", inbox
    controller.stop()


def test_codes_by_email_come_in_two_messages(store, smtp_server) -> None:
    url, inbox = smtp_server
    apply_paths(store, SMALL_FILE)
    delivery = open_delivery(url)
    try:
        assert issue_codes(store, delivery, None, NOW, "https://portal.example/first-login", "r") == 3
    finally:
        delivery.close()
    assert len(inbox.messages) == 6
    to_jan = [m for rcpt, m in inbox.messages if rcpt == ["jan@goudenkorst.example"]]
    assert [m["Subject"] for m in to_jan] == [
        "Your user name for the social-security portal",
        "Your temporary password for the social-security portal",
    ]
    first, second = (m.get_content() for m in to_jan)
    assert "Your user name: jmertens" in first and "temporary password:" not in first
    code = re.search(r"Your temporary password: (\S+)", second).group(1)
    assert "jmertens" not in second
    assert firstlogin.start(store, "jmertens", code, NOW).ssin == JAN
    assert {m["Content-Language"] for m in to_jan} == {"en"}  # nobody in the small employer declared a language


def test_an_email_in_the_persons_language(smtp_server) -> None:
    url, inbox = smtp_server
    delivery = open_delivery(url)
    letter = Letter(
        "0999077729", "SSDV", "Olivier Dubois", "o@x.example", "odubois", "CODE", "2026-12-02T08:00", "u", "fr"
    )
    try:
        delivery.send(letter)
    finally:
        delivery.close()
    messages = [m for _, m in inbox.messages]
    assert [m["Subject"] for m in messages] == [
        "Votre nom d'utilisateur pour le portail de la sécurité sociale",
        "Votre mot de passe temporaire pour le portail de la sécurité sociale",
    ]
    assert {m["Content-Language"] for m in messages} == {"fr"}
    assert "Votre mot de passe temporaire\u00a0: CODE" in messages[1].get_content()


def test_smtp_urls_and_unreachable_servers() -> None:
    with pytest.raises(DeliveryError, match="expected smtp://"):
        Mailer("smtp://127.0.0.1:25")
    mailer = Mailer("smtp://127.0.0.1:1?from=a@b.example")
    with pytest.raises(DeliveryError, match=r"cannot reach e-mail through smtp://127\.0\.0\.1:1"):
        mailer._connect()


def test_registries_from_before_accounts_are_migrated(tmp_path: Path) -> None:
    """A SQLite store made by the previous release keeps its accounts, user names and deadlines."""
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    from reconciler.store.sqlite import _statements

    for version, name, sql in migrations("sqlite")[:4]:
        for statement in _statements(sql):
            db.execute(statement)
        db.execute("INSERT INTO schema_migrations VALUES (?, ?, 'then')", (version, name))
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("BEGIN")
    for number in ("0999055557", "0999088815"):
        db.execute(
            "INSERT INTO enterprises (number, name, main_access_manager) VALUES (?, 'E', '75031366754')", (number,)
        )
        db.execute(
            "INSERT INTO persons VALUES (?, '75031366754', 'Els Mertens', 'els@x.example', 'emertens', "
            "'pending', '2026-10-01T00:00:00+00:00', '2026-10-31T00:00:00+00:00')",
            (number,),
        )
    db.execute("COMMIT")
    db.close()
    store = open_store(f"sqlite:///{path}")
    try:
        accounts = [store.account_of(n, "75031366754") for n in ("0999055557", "0999088815")]
        assert [a.username for a in accounts] == ["emertens", "emertens.0999088815"]
        assert {a.activation_deadline for a in accounts} == {"2026-10-31T00:00:00+00:00"}
        assert {a.effective_status(NOW) for a in accounts} == {"expired"}
        assert {a.name for a in accounts} == {"Els Mertens"}
        assert [v for v, _ in store.applied_migrations()] == [m[0] for m in migrations("sqlite")]
    finally:
        store.close()
