"""The web application through Flask's test client: sessions, steps and headers (both stores)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reconciler.accounts.delivery import LetterBox
from reconciler.accounts.lifecycle import issue_codes, reissue_codes
from reconciler.web.app import create_app
from tests.test_firstlogin import JAN, PASSWORD, SMALL_FILE
from tests.test_lifecycle import NOW, SMALL, apply_paths, code_of


def token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def error(html: str) -> str:
    return re.search(r'id="error">(.*?)</', html, re.S).group(1).strip()


@pytest.fixture
def client(store, store_url: str, tmp_path: Path):
    apply_paths(store, SMALL_FILE)
    letters = tmp_path / "letters"
    issue_codes(store, LetterBox(str(letters)), None, NOW, "l", "r")
    app = create_app(store_url, secret_key="test")
    return app.test_client(), store, letters


def activate(client, letters: Path, username: str, ssin: str) -> None:
    page = client.get("/first-login").text
    client.post(
        "/first-login",
        data={"csrf_token": token(page), "username": username, "temporary_password": code_of(letters, SMALL, username)},
    )
    page = client.get("/first-login/identity").text
    client.post("/first-login/identity", data={"csrf_token": token(page), "ssin": ssin})
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
    assert content["account"]["username"] == "jmertens" and JAN not in repr(content)  # signed, not encrypted
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
    assert re.findall(r"<li>(.*?)</li>", response.text) == [
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
