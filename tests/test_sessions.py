"""Server-side sessions of the web page (OWASP ASVS 4.0, section 3.3), on both stores.

A session is a random token in the cookie and its SHA-256 in the store; it ends on the
server when the person logs out, after 30 idle minutes, 8 hours after signing in whatever
the activity, and when the account's session epoch moves.  Times come from the
application's clock, which these tests move.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from reconciler.accounts import firstlogin
from reconciler.accounts.delivery import LetterBox
from reconciler.accounts.lifecycle import issue_codes, reissue_codes
from reconciler.web.app import create_app
from tests.conftest import outside_write
from tests.test_firstlogin import JAN, PASSWORD, SMALL_FILE
from tests.test_lifecycle import NOW, SMALL, apply_paths, code_of
from tests.test_web import Clock, activate, error, token


@pytest.fixture
def site(store, store_url: str, tmp_path: Path):
    """The small employer with codes issued, Jan Mertens active, and the application on a movable clock."""
    apply_paths(store, SMALL_FILE)
    letters = tmp_path / "letters"
    issue_codes(store, LetterBox(str(letters)), None, NOW, "l", "r")
    clock = Clock(NOW)
    app = create_app(store_url, secret_key="test", clock=clock)
    activate(app.test_client(), letters, "jmertens", JAN)
    return app, store, clock, letters


def log_in(app, username: str = "jmertens", password: str = PASSWORD):
    """A browser of its own that logs in; returns its test client."""
    browser = app.test_client()
    page = browser.get("/login").text
    response = browser.post("/login", data={"csrf_token": token(page), "username": username, "password": password})
    assert response.location == "/me", response.text
    return browser


def session_rows(store) -> list[tuple]:
    """(token_hash, enterprise, ssin, session_epoch, created_at, last_seen_at) of every stored session."""
    with store._snapshot():
        return store._rows(
            "SELECT token_hash, enterprise, ssin, session_epoch, created_at, last_seen_at FROM sessions ORDER BY 5, 1"
        )


def cookie_token(app, browser) -> str:
    content = app.session_interface.get_signing_serializer(app).loads(browser.get_cookie("session").value)
    return content["token"]


def logged_out(response) -> bool:
    return response.status_code == 302 and response.location == "/login"


def test_a_copied_cookie_opens_nothing_after_logging_out(site) -> None:
    app, store, _, _ = site
    browser = log_in(app)
    copied = browser.get_cookie("session").value
    stored = firstlogin.token_hash(cookie_token(app, browser))
    page = browser.get("/me")
    assert page.status_code == 200
    assert logged_out(browser.post("/logout", data={"csrf_token": token(page.text)}))
    assert stored not in [row[0] for row in session_rows(store)]  # ended on the server
    replay = app.test_client()
    replay.set_cookie("session", copied)
    response = replay.get("/me")
    assert logged_out(response)
    refreshed = response.headers.get("Set-Cookie", "")
    assert "token" not in refreshed and copied not in refreshed  # the server does not renew what ended
    assert logged_out(replay.get("/me"))


def test_only_the_hash_of_the_token_is_stored(site) -> None:
    app, store, _, _ = site
    browser = log_in(app)
    secret = cookie_token(app, browser)
    assert len(secret) >= 43  # secrets.token_urlsafe(32): 256 random bits
    hashes = [row[0] for row in session_rows(store)]
    assert hashlib.sha256(secret.encode()).hexdigest() in hashes
    assert secret not in repr(session_rows(store)) and secret not in repr(store.dump())
    assert all(row[2] == JAN and row[1] == SMALL for row in session_rows(store))


def test_a_session_idle_for_30_minutes_ends(site) -> None:
    app, store, clock, _ = site
    browser = log_in(app)
    for _ in range(4):  # used every 29 minutes: goes on
        clock.advance(minutes=29)
        assert browser.get("/me").status_code == 200
    seen = {row[0]: row[5] for row in session_rows(store)}
    assert firstlogin.token_hash(cookie_token(app, browser)) in seen
    assert max(seen.values()) == "2026-11-02T09:56:00+00:00"
    clock.advance(minutes=30)
    assert logged_out(browser.get("/me"))
    assert firstlogin.token_hash(cookie_token(app, log_in(app))) in {row[0] for row in session_rows(store)}


def test_a_session_ends_8_hours_after_signing_in_however_busy(site) -> None:
    app, _, clock, _ = site
    browser = log_in(app)
    for _ in range(int(firstlogin.LIFETIME / firstlogin.IDLE) * 2 - 1):  # every 15 minutes, for 7 h 45
        clock.advance(minutes=15)
        assert browser.get("/me").status_code == 200
    clock.advance(minutes=15)
    assert logged_out(browser.get("/me"))


@pytest.mark.parametrize(
    "what",
    [
        "UPDATE accounts SET status = 'deactivated', session_epoch = session_epoch + 1 WHERE username = 'jmertens'",
        "UPDATE accounts SET session_epoch = session_epoch + 1 WHERE username = 'jmertens'",
        "UPDATE accounts SET status = 'pending' WHERE username = 'jmertens'",
    ],
    ids=["deactivated", "epoch moved", "no longer active"],
)
def test_a_session_ends_when_its_account_changes(site, store_url: str, what: str) -> None:
    app, store, _, _ = site
    browser = log_in(app)
    stored = firstlogin.token_hash(cookie_token(app, browser))
    assert browser.get("/me").status_code == 200
    outside_write(store_url, what)
    assert logged_out(browser.get("/me"))
    assert stored not in [row[0] for row in session_rows(store)]  # an ended session is removed once found


def test_new_codes_end_every_session_of_the_account(site) -> None:
    app, store, _, letters = site
    browsers = [log_in(app), log_in(app)]
    reissue_codes(store, LetterBox(str(letters)), "75031366754", SMALL, "jmertens", NOW, "l", "r")
    assert all(logged_out(browser.get("/me")) for browser in browsers)


def test_each_sign_in_gets_a_token_of_its_own(site) -> None:
    app, store, _, _ = site
    first, second = log_in(app), log_in(app)
    assert cookie_token(app, first) != cookie_token(app, second)
    page = first.get("/me")
    first.post("/logout", data={"csrf_token": token(page.text)})
    assert logged_out(first.get("/me"))
    assert second.get("/me").status_code == 200  # logging out ends that session, not the others
    again = log_in(app)  # signing in again on the same browser: a new token
    before = cookie_token(app, again)
    page = again.get("/login").text
    again.post("/login", data={"csrf_token": token(page), "username": "jmertens", "password": PASSWORD})
    assert cookie_token(app, again) != before
    assert len(session_rows(store)) == 3


def test_sessions_that_ended_are_removed_when_a_session_starts(site) -> None:
    app, store, clock, _ = site
    for _ in range(3):
        log_in(app)
    idle = log_in(app)
    assert len(session_rows(store)) == 5  # with the one the activation opened
    clock.advance(minutes=31)
    log_in(app)
    assert len(session_rows(store)) == 1
    assert logged_out(idle.get("/me"))


def test_the_first_login_steps_end_with_new_codes(site) -> None:
    app, store, _, letters = site
    browser = app.test_client()
    page = browser.get("/first-login").text
    code = code_of(letters, SMALL, "felamrani")
    data = {"csrf_token": token(page), "username": "felamrani", "temporary_password": code}
    assert browser.post("/first-login", data=data).location == "/first-login/identity"
    reissue_codes(store, LetterBox(str(letters)), "75031366754", SMALL, "felamrani", NOW, "l", "r")
    response = browser.get("/first-login/identity")
    assert response.status_code == 401 and "no longer valid" in error(response.text)


def test_the_first_login_steps_expire_after_30_minutes(site) -> None:
    app, _, clock, letters = site
    browser = app.test_client()
    page = browser.get("/first-login").text
    code = code_of(letters, SMALL, "felamrani")
    browser.post("/first-login", data={"csrf_token": token(page), "username": "felamrani", "temporary_password": code})
    clock.advance(minutes=29)
    assert browser.get("/first-login/identity").status_code == 200
    clock.advance(minutes=1)
    response = browser.get("/first-login/identity")
    assert response.status_code == 401 and "no longer valid" in error(response.text)
