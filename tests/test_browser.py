"""End to end: `reconciler serve` in a real server process, driven in headless Chromium.

Chromium is Debian's (``/usr/bin/chromium``, installed by ``make test``), driven by
Playwright; nothing is downloaded at test time.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import EXAMPLES, outside_write
from tests.test_lifecycle import code_of

CHROMIUM = os.environ.get("RECONCILER_TEST_CHROMIUM", "/usr/bin/chromium")
# As root and on a closed network: no sandbox, and none of Chromium's background connections.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
SS = "0999077729"
PASSWORD = "Zinnebeeld-Korst-1958"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """The examples applied with letters, and the page served on a free port: (base URL, state URL, letters)."""
    folder = tmp_path_factory.mktemp("site")
    state = f"sqlite:///{folder / 'state.db'}"
    letters = folder / "letters"
    command = [sys.executable, "-m", "reconciler"]
    env = {**os.environ, "RECONCILER_ARGON2_PROFILE": "cheapest"}
    applied = subprocess.run(
        [
            *command,
            "apply",
            str(EXAMPLES / "small-employer.yaml"),
            str(EXAMPLES / "social-secretariat"),
            "--state",
            state,
            "--auto-approve",
            "--delivery",
            f"letters:{letters}",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
    )
    assert applied.returncode == 0, applied.stderr
    port = free_port()
    server = subprocess.Popen(
        # More attempts per minute than the default 20: every test here posts from 127.0.0.1.
        [*command, "serve", "--state", state, "--port", str(port), "--attempts-per-minute", "1000"],
        env=env,
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"reconciler serve did not start: {server.stdout.read()}")
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}", state, letters
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    yield opened
    context.close()


def username_of(state: str, ssin: str) -> str:
    from reconciler.store.backends import open_store

    store = open_store(state)
    try:
        return store.account_of(SS, ssin).username
    finally:
        store.close()


def enter_codes(page: Page, base: str, username: str, code: str) -> None:
    page.goto(f"{base}/first-login")
    page.fill("#username", username)
    page.fill("#temporary_password", code)
    page.click("button[type=submit]")


def test_a_person_activates_their_account_and_sees_what_they_administer(site, page: Page) -> None:
    base, state, letters = site
    name = username_of(state, "87040208957")  # Sofie Claes, main access manager
    enter_codes(page, base, name, code_of(letters, SS, name))
    expect(page).to_have_url(f"{base}/first-login/identity")
    page.fill("#ssin", "87.04.02-089.57")
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/first-login/password")
    page.fill("#password", PASSWORD)
    page.fill("#confirmation", PASSWORD + "?")
    page.click("button[type=submit]")
    expect(page.locator("#error")).to_contain_text("The two passwords are not the same.")
    page.fill("#password", PASSWORD)
    page.fill("#confirmation", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/me")
    expect(page.locator(".notice")).to_contain_text("Your account is active.")
    expect(page.locator("#enterprise")).to_contain_text("Secretariaat Sociale Diensten Vlaanderen")
    expect(page.locator("#roles")).to_contain_text("main access manager")
    expect(page.locator("#roles")).to_contain_text("access manager of social-secretariat")
    expect(page.locator("#co-main")).to_contain_text("Olivier Dubois")
    expect(page.locator("#quality-employer")).to_contain_text("Ilse Jacobs")
    expect(page.locator("#quality-social-secretariat")).to_contain_text("Marc Wouters")
    expect(page.locator("#quality-social-secretariat")).to_contain_text("3 users")
    waiting = page.locator("#waiting")
    for person in ("Olivier Dubois", "Ilse Jacobs", "Marc Wouters", "Lien Goossens", "Nathalie Renard"):
        expect(waiting).to_contain_text(person)
    expect(waiting).not_to_contain_text("Sofie Claes")
    page.click("text=Log out")
    expect(page).to_have_url(f"{base}/login")
    page.goto(f"{base}/me")
    expect(page).to_have_url(f"{base}/login")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/me")


def test_a_copied_session_cookie_opens_nothing_after_logging_out(site, browser: Browser, page: Page) -> None:
    base, state, letters = site
    name = username_of(state, "82070324776")  # Olivier Dubois, co-main access manager
    enter_codes(page, base, name, code_of(letters, SS, name))
    page.fill("#ssin", "82070324776")
    page.click("button[type=submit]")
    page.fill("#password", PASSWORD)
    page.fill("#confirmation", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/me")
    copied = page.context.cookies()
    assert [c["httpOnly"] for c in copied] == [True]
    page.click("text=Log out")
    expect(page).to_have_url(f"{base}/login")
    thief = browser.new_context()
    try:
        thief.add_cookies(copied)
        replay = thief.new_page()
        replay.goto(f"{base}/me")
        expect(replay).to_have_url(f"{base}/login")
    finally:
        thief.close()


def test_a_wrong_national_register_number_is_refused(site, page: Page) -> None:
    base, state, letters = site
    name = username_of(state, "91020864669")  # Lien Goossens
    enter_codes(page, base, name, code_of(letters, SS, name))
    page.fill("#ssin", "87040208957")  # somebody else's
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/first-login/identity")
    expect(page.locator("#error")).to_have_text("This national register number does not match the account.")
    page.goto(f"{base}/first-login/password")  # the step cannot be skipped
    expect(page).to_have_url(f"{base}/first-login/identity")


def test_an_expired_account_is_told_to_ask_for_new_codes(site, page: Page) -> None:
    base, state, letters = site
    name = username_of(state, "95100259156")  # Karim Lambert
    outside_write(
        state, f"UPDATE accounts SET activation_deadline = '2020-01-01T00:00:00+00:00' WHERE username = '{name}'"
    )
    enter_codes(page, base, name, code_of(letters, SS, name))
    expect(page).to_have_url(f"{base}/first-login")
    expect(page.locator("#error")).to_contain_text("Your temporary password expired on 2020-01-01")
    expect(page.locator("#error")).to_contain_text("Ask the person who manages your access for new access codes.")
    enter_codes(page, base, name, "WRONG-CODE-WRONG-CODE")  # without the right code, nothing is revealed
    expect(page.locator("#error")).to_have_text("The user name or password is not correct.")


def test_repeated_failures_lock_the_user_name_out(site, page: Page) -> None:
    base, state, letters = site
    name = username_of(state, "92070222745")  # Zoë Vermeulen
    for _ in range(4):
        enter_codes(page, base, name, "WRONG-CODE-WRONG-CODE")
        expect(page.locator("#error")).to_have_text("The user name or password is not correct.")
    enter_codes(page, base, name, "WRONG-CODE-WRONG-CODE")
    expect(page.locator("#error")).to_contain_text(
        "Too many failed attempts: logging in with this user name is locked until"
    )
    enter_codes(page, base, name, code_of(letters, SS, name))  # the right code does not help while locked
    expect(page.locator("#error")).to_contain_text("Too many failed attempts")


def test_forms_without_their_csrf_token_are_refused(site, page: Page) -> None:
    base, _, _ = site
    response = page.request.post(f"{base}/first-login", form={"username": "x", "temporary_password": "y"})
    assert response.status == 400
    assert "The form expired" in response.text()
    assert response.headers["x-frame-options"] == "DENY"
