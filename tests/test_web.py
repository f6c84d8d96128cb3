"""The web application through Flask's test client: sessions, steps, headers and limits (both stores)."""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from reconciler.accounts import firstlogin
from reconciler.accounts.delivery import LetterBox
from reconciler.accounts.lifecycle import issue_codes, reissue_codes
from reconciler.store.postgresql import split_url
from reconciler.web.app import FORM_LIMIT, create_app
from reconciler.web.throttle import ATTEMPTS_PER_MINUTE, AddressThrottle
from tests.test_firstlogin import JAN, PASSWORD, SMALL_FILE
from tests.test_lifecycle import NOW, SMALL, apply_paths, code_of


def token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def error(html: str) -> str:
    """The text of the page's error (announced with role=alert), its markup removed."""
    found = re.search(r'<(p|div|ul) class="error" role="alert" id="error">(.*?)</\1>', html, re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(2)).split())


def problems(html: str) -> list[str]:
    """The reasons listed in the page's error."""
    found = re.search(r'id="error">(.*?)</div>', html, re.S)
    return re.findall(r"<li>(.*?)</li>", found.group(1))


class Clock:
    """The application's clock, which a test moves forward."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def client(store, store_url: str, tmp_path: Path, clock: Clock):
    """The small employer applied, codes issued as letters, and a test client on its store."""
    apply_paths(store, SMALL_FILE)
    letters = tmp_path / "letters"
    issue_codes(store, LetterBox(str(letters)), None, NOW, "l", "r")
    app = create_app(store_url, secret_key="test", clock=clock)
    return app.test_client(), store, letters


def first_two_steps(client, letters: Path, username: str, ssin: str) -> None:
    """The codes from the letters, then the national register number."""
    page = client.get("/first-login").text
    client.post(
        "/first-login",
        data={"csrf_token": token(page), "username": username, "temporary_password": code_of(letters, SMALL, username)},
    )
    page = client.get("/first-login/identity").text
    client.post("/first-login/identity", data={"csrf_token": token(page), "ssin": ssin})


def activate(client, letters: Path, username: str, ssin: str) -> None:
    first_two_steps(client, letters, username, ssin)
    page = client.get("/first-login/password").text
    response = client.post(
        "/first-login/password", data={"csrf_token": token(page), "password": PASSWORD, "confirmation": PASSWORD}
    )
    assert response.location == "/me"


def test_steps_cannot_be_skipped(client) -> None:
    web, _, _ = client
    for path in ("/first-login/identity", "/first-login/password"):
        response = web.get(path)
        assert response.status_code == 401
        assert error(response.text) == "Start with your user name and temporary password."
    assert web.get("/me").location == "/login"


def test_new_codes_end_the_open_session(client) -> None:
    web, store, letters = client
    activate(web, letters, "jmertens", JAN)
    assert web.get("/me").status_code == 200
    app = web.application
    cookie = web.get_cookie("session").value
    content = app.session_interface.get_signing_serializer(app).loads(cookie)
    assert set(content) == {"_permanent", "csrf_token", "token"}  # signed, not encrypted: a random token, no person
    assert JAN not in repr(content) and "jmertens" not in repr(content)
    reissue_codes(store, LetterBox(str(letters)), "75031366754", SMALL, "jmertens", NOW, "l", "r")
    assert web.get("/me").location == "/login"


def test_a_password_refused_by_the_rules_lists_every_reason(client) -> None:
    web, _, letters = client
    page = web.get("/first-login").text
    web.post(
        "/first-login",
        data={
            "csrf_token": token(page),
            "username": "felamrani",
            "temporary_password": code_of(letters, SMALL, "felamrani"),
        },
    )
    page = web.get("/first-login/identity").text
    web.post("/first-login/identity", data={"csrf_token": token(page), "ssin": "61061906014"})
    page = web.get("/first-login/password").text
    response = web.post(
        "/first-login/password", data={"csrf_token": token(page), "password": "felamrani", "confirmation": "felamrani"}
    )
    assert response.status_code == 400
    assert problems(response.text) == [
        "Use at least 12 characters.",
        "Do not use your user name in your password.",
        "Do not use your name in your password.",
    ]


def test_every_page_forbids_framing_and_caching(client) -> None:
    web, _, _ = client
    headers = web.get("/first-login").headers  # the first page sets the session cookie (CSRF token)
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "HttpOnly" in headers["Set-Cookie"] and "SameSite=Lax" in headers["Set-Cookie"]


def test_forms_larger_than_any_answer_are_refused_before_they_are_read(client) -> None:
    web, store, _ = client
    page = web.get("/login").text
    response = web.post("/login", data={"csrf_token": token(page), "username": "x" * 400_000, "password": "p"})
    assert response.status_code == 413 and "The form is too large" in response.text
    assert response.headers["X-Frame-Options"] == "DENY"
    assert store.dump()["login_failures"][1] == []


def failure_footprint(url: str) -> tuple[int, int, int]:
    """Rows of login_failures, their longest user name, and the bytes the store uses for them.

    SQLite: the database file once its write-ahead log is folded in (the log itself is
    reused, its size says how busy the store was, not what it holds).  PostgreSQL: the
    table with its indexes.
    """
    if url.startswith("sqlite"):
        path = url.split("://", 1)[1][1:]
        with sqlite3.connect(path) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            rows, longest = db.execute(
                "SELECT count(*), coalesce(max(length(username)), 0) FROM login_failures"
            ).fetchone()
        return rows, longest, Path(path).stat().st_size
    conninfo, schema = split_url(url)
    with psycopg.connect(conninfo, autocommit=True) as db:
        db.execute(f'SET search_path TO "{schema}"')
        rows, longest = db.execute("SELECT count(*), coalesce(max(length(username)), 0) FROM login_failures").fetchone()
        size = db.execute("SELECT pg_total_relation_size('login_failures')").fetchone()[0]
    return rows, longest, size


def hostile_names() -> list[str]:
    """1,000 user names as an attacker would post them, and how many distinct rows they may cost (200)."""
    huge = [f"{i:03d}" + "a" * 399_997 for i in range(100)]  # larger than any form: refused unread
    long = [f"{i:03d}" + "b" * (62 + 20 * i) for i in range(200)]  # 65 to 4,045 characters
    foreign = [f"jmertens{chr(0xE0 + i)}" for i in range(50)] + [f"ＪＭＥＲＴＥＮＳ{i}" for i in range(50)]
    foreign += [f"😀{i}" for i in range(50)] + [f"\u202ejmertens{i}" for i in range(50)]  # emoji, right-to-left
    control = [f"spray{i}\x00" for i in range(50)] + [f"\x1b[2J{i}" for i in range(50)]
    control += [f"a\r\nSet-Cookie: b{i}" for i in range(50)] + [f"jmer\x08tens{i}" for i in range(50)]
    plain = [f"spray{i:03d}" for i in range(200)]  # could be user names: each costs one row
    variants = [f"  SPRAY{i:03d}\t" for i in range(100)]  # the same names, as typed: no new rows
    names = huge + long + foreign + control + plain + variants
    assert len(names) == 1000 and len(set(names)) == 1000
    return names


def test_a_thousand_hostile_user_names_leave_the_store_bounded(store, store_url: str, clock: Clock) -> None:
    """Before: every typed name became a row, as long as it was typed (400,000 characters: 13 MB).

    The bound: one row per name that could be a user name (at most 64 characters of
    [a-z0-9._-], normalised), so 200 here; at most 1 KiB each, indexes and page slack
    included (about 150 bytes of data: the name, two times, a count), so at most 200 KiB
    more on disk, where the 400,000-character names alone are 40 MB of input.
    """
    apply_paths(store, SMALL_FILE)
    app = create_app(store_url, secret_key="test", clock=clock, attempts_per_minute=100_000)
    web = app.test_client()
    csrf = token(web.get("/login").text)
    _, _, before = failure_footprint(store_url)
    statuses = {
        web.post("/login", data={"csrf_token": csrf, "username": name, "password": "guess"}).status_code
        for name in hostile_names()
    }
    rows, longest, after = failure_footprint(store_url)
    assert after - before <= 200 * 1024, f"the store grew by {after - before} bytes"
    assert rows == 200 and longest <= firstlogin.USERNAME_MAX
    assert statuses == {401, 413}  # refused, or too large to be read
    clock.advance(minutes=31)  # every window and lock-out is over: the next new name removes those rows
    web.post("/login", data={"csrf_token": csrf, "username": "latecomer", "password": "guess"})
    assert failure_footprint(store_url)[0] == 1


def login_attempt(web, csrf: str, name: str, address: str = "127.0.0.1"):
    data = {"csrf_token": csrf, "username": name, "password": "guess"}
    return web.post("/login", data=data, environ_base={"REMOTE_ADDR": address})


def test_a_spray_of_names_from_one_address_is_slowed_down(client, clock: Clock) -> None:
    web, store, _ = client
    csrf = token(web.get("/login").text)
    statuses = [login_attempt(web, csrf, f"spray{i}").status_code for i in range(ATTEMPTS_PER_MINUTE + 5)]
    assert statuses == [401] * ATTEMPTS_PER_MINUTE + [429] * 5
    refused = login_attempt(web, csrf, "jmertens")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
    assert "Too many attempts from your network address" in error(refused.text)
    assert len(store.dump()["login_failures"][1]) == ATTEMPTS_PER_MINUTE  # refused posts reached nothing
    assert login_attempt(web, csrf, "spray", address="192.0.2.7").status_code == 401  # others go on
    clock.advance(seconds=30)
    assert login_attempt(web, csrf, "spray").status_code == 429
    clock.advance(seconds=31)  # the window slid past the first attempts
    assert login_attempt(web, csrf, "spray").status_code == 401
    page = web.get("/first-login").text  # every form that checks what was typed counts
    data = {"csrf_token": token(page), "username": "spray", "temporary_password": "guess"}
    assert [web.post("/first-login", data=data).status_code for _ in range(ATTEMPTS_PER_MINUTE)][-1] == 429


def test_the_throttle_remembers_a_bounded_number_of_addresses() -> None:
    throttle = AddressThrottle(limit=2, period=timedelta(minutes=1), tracked=100)
    for i in range(10_000):
        assert throttle.attempt(f"10.0.{i // 256}.{i % 256}", NOW) is None
    assert len(throttle) == 100  # the least recently active are forgotten first
    assert throttle.attempt("10.0.39.15", NOW) is None  # the last address seen (9,999): its second attempt
    assert throttle.attempt("10.0.39.15", NOW + timedelta(seconds=59)) == 1


def test_behind_trusted_proxies_the_forwarded_address_counts(store, store_url: str, clock: Clock) -> None:
    apply_paths(store, SMALL_FILE)
    for proxies, expected in ((0, [401, 401, 429]), (1, [401, 401, 401])):
        web = create_app(
            store_url, secret_key="test", clock=clock, attempts_per_minute=2, trusted_proxies=proxies
        ).test_client()
        csrf = token(web.get("/login").text)
        statuses = [
            web.post(
                "/login",
                data={"csrf_token": csrf, "username": "spray", "password": "guess"},
                headers={"X-Forwarded-For": f"203.0.113.{i}"},  # three people behind one proxy
            ).status_code
            for i in (1, 2, 3)
        ]
        assert statuses == expected, proxies


def test_form_limit_is_above_what_the_forms_take() -> None:
    """The largest honest form: a CSRF token and two passwords of 128 characters, each 4 bytes of UTF-8 sent as %XX."""
    longest = 200 + 2 * firstlogin.SECRET_MAX * 4 * 3
    assert longest < FORM_LIMIT


def test_secure_cookies_are_host_only_cookies(store_url: str) -> None:
    """With --secure-cookies the cookie is named __Host-: browsers then insist on HTTPS, this host and path /."""
    web = create_app(store_url, secret_key="test", secure_cookies=True).test_client()
    cookie = web.get("/login", base_url="https://portal.example").headers["Set-Cookie"]
    assert cookie.startswith("__Host-session=") and "Secure" in cookie and "Path=/" in cookie
    assert "Domain" not in cookie


def test_activation_waits_while_the_audit_trail_is_broken(client, store_url: str) -> None:
    """No audit, no request: the page says to come back, and the account stays pending."""
    from conftest import bypass_append_only

    web, store, letters = client
    first_two_steps(web, letters, "jmertens", JAN)
    bypass_append_only(store_url, "DELETE FROM audit_log WHERE seq = 1")
    page = web.get("/first-login/password").text
    response = web.post(
        "/first-login/password", data={"csrf_token": token(page), "password": PASSWORD, "confirmation": PASSWORD}
    )
    assert response.status_code == 503
    assert "cannot be activated right now" in response.text
    assert store.account_of(SMALL, JAN).status == "pending"
