"""The last login of an account (both stores) and dormant accounts.

A login is recorded cheaply: never a new version of the enterprise (a plan made before it is
not stale), never an audit entry, never a new session epoch (other sessions go on).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.accounts import firstlogin
from reconciler.accounts.delivery import LetterBox
from reconciler.accounts.lifecycle import issue_codes
from reconciler.plan.dormancy import DORMANT_AFTER_DAYS, account_status, idle_days, is_dormant, last_seen
from reconciler.store.port import Account, now_text
from reconciler.store.sql import migrations
from reconciler.web.app import create_app
from tests.test_firstlogin import JAN, PASSWORD, SMALL_FILE
from tests.test_lifecycle import NOW, SMALL, apply_paths, code_of
from tests.test_web import Clock, activate, token

DAY = timedelta(days=1)


@pytest.fixture
def issued(store, tmp_path: Path):
    """The small employer applied, codes sent as letters; the store and Jan's temporary password."""
    apply_paths(store, SMALL_FILE)
    letters = tmp_path / "letters"
    issue_codes(store, LetterBox(str(letters)), None, NOW, "http://login", "r")
    return store, code_of(letters, SMALL, "jmertens")


def written(store) -> tuple[int, int, bool]:
    """What a login must leave as it was: the enterprise's version, its audit trail's length, its drift."""
    stored = store.read([SMALL])[SMALL]
    return stored.version, len(store.audit_entries(SMALL)), stored.drifted


def test_the_migration_adds_the_column_in_both_dialects() -> None:
    for dialect in ("sqlite", "postgresql"):
        found = {m[0]: m for m in migrations(dialect)}
        assert found[11][1] == "0011_last_login"
        assert "ALTER TABLE accounts ADD COLUMN last_login_at TEXT" in found[11][2]


def test_the_first_login_and_each_login_are_recorded_without_a_write_to_the_enterprise(issued) -> None:
    store, code = issued
    account = firstlogin.start(store, "jmertens", code, NOW)
    assert account.last_login_at is None
    firstlogin.confirm_identity(store, account, JAN, NOW)
    version, entries, drifted = written(store)
    active = firstlogin.choose_password(store, account, PASSWORD, PASSWORD, NOW, "r")
    assert active.last_login_at == active.activated_at == now_text(NOW)
    # The activation is audited (it always was) but moves no version; the login in it adds nothing.
    assert written(store) == (version, entries + 1, drifted)
    [activation] = store.audit_entries(SMALL)[entries:]
    assert activation.action == "activate" and "last_login" not in (activation.after or "")

    later = NOW + 3 * DAY
    before = store.account_of(SMALL, JAN)
    signed = firstlogin.login(store, "jmertens", PASSWORD, later)
    assert signed.last_login_at == now_text(later)
    after = store.account_of(SMALL, JAN)
    assert after.last_login_at == now_text(later)
    assert after.session_epoch == before.session_epoch  # the person's other sessions go on
    assert written(store) == (version, entries + 1, drifted)
    assert not store.read([SMALL])[SMALL].drifted


def test_a_failed_login_is_no_login(issued) -> None:
    store, code = issued
    account = firstlogin.start(store, "jmertens", code, NOW)
    firstlogin.choose_password(store, account, PASSWORD, PASSWORD, NOW, "r")
    with pytest.raises(firstlogin.LoginRefused):
        firstlogin.login(store, "jmertens", "not the password", NOW + DAY)
    assert store.account_of(SMALL, JAN).last_login_at == now_text(NOW)


def test_the_last_login_never_moves_back(issued) -> None:
    store, code = issued
    account = firstlogin.start(store, "jmertens", code, NOW)
    firstlogin.choose_password(store, account, PASSWORD, PASSWORD, NOW, "r")
    account = store.account_of(SMALL, JAN)
    store.record_login(account, NOW + 2 * DAY)
    store.record_login(account, NOW + DAY)  # a slower server process, finishing late
    assert store.account_of(SMALL, JAN).last_login_at == now_text(NOW + 2 * DAY)


def test_the_web_page_records_the_first_login_and_each_login(store, store_url: str, tmp_path: Path) -> None:
    apply_paths(store, SMALL_FILE)
    letters = tmp_path / "letters"
    issue_codes(store, LetterBox(str(letters)), None, NOW, "l", "r")
    clock = Clock(NOW)
    web = create_app(store_url, secret_key="test", clock=clock).test_client()
    version, entries, _ = written(store)
    activate(web, letters, "jmertens", JAN)
    assert store.account_of(SMALL, JAN).last_login_at == now_text(NOW)
    web.post("/logout", data={"csrf_token": token(web.get("/me").text)})
    clock.advance(days=40)
    page = web.get("/login").text
    response = web.post("/login", data={"csrf_token": token(page), "username": "jmertens", "password": PASSWORD})
    assert response.location == "/me"
    assert store.account_of(SMALL, JAN).last_login_at == now_text(NOW + 40 * DAY)
    assert written(store)[:2] == (version, entries + 1)  # the activation's entry only


def account(**values: object) -> Account:
    base = Account(SMALL, JAN, "Jan", "", "jmertens", "active", now_text(NOW - 400 * DAY), None, None, None, None, 0)
    return replace(base, **values)


@pytest.mark.parametrize(
    ("values", "days", "dormant"),
    [
        ({"activated_at": now_text(NOW - 200 * DAY), "last_login_at": now_text(NOW - 89 * DAY)}, 90, False),
        ({"activated_at": now_text(NOW - 200 * DAY), "last_login_at": now_text(NOW - 90 * DAY)}, 90, True),
        ({"activated_at": now_text(NOW - 91 * DAY)}, 90, True),  # never logged in since the activation
        ({"activated_at": now_text(NOW - 10 * DAY)}, 90, False),
        ({"activated_at": now_text(NOW - 10 * DAY), "last_login_at": now_text(NOW - 300 * DAY)}, 90, False),
        ({}, 90, True),  # active, neither recorded: counted from its creation, 400 days ago
        ({"activated_at": now_text(NOW - 100 * DAY)}, 120, False),
        ({"activated_at": now_text(NOW - 100 * DAY)}, 30, True),
        ({"status": "pending", "created_at": now_text(NOW - 300 * DAY)}, 90, False),
        ({"status": "deactivated", "activated_at": now_text(NOW - 300 * DAY)}, 90, False),
        ({"activated_at": "written by hand", "created_at": "also by hand"}, 90, False),
    ],
)
def test_dormant_accounts(values: dict, days: int, dormant: bool) -> None:
    found = account(**values)
    assert is_dormant(found, NOW, days) is dormant
    expected = "dormant" if dormant else found.effective_status(NOW)
    assert account_status(found, NOW, days) == expected


def test_last_seen_and_idle_days() -> None:
    found = account(activated_at=now_text(NOW - 10 * DAY), last_login_at=now_text(NOW - 3 * DAY))
    assert last_seen(found) == now_text(NOW - 3 * DAY)
    assert idle_days(found, NOW) == 3
    assert last_seen(account()) is None and idle_days(account(), NOW) == 400
    assert DORMANT_AFTER_DAYS == 90
