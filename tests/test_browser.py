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
from contextlib import contextmanager
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
SMALL = "0999055557"
LOG_OUT = "form[action='/logout'] button"
PASSWORD = "Zinnebeeld-Korst-1958"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def served_examples(folder: Path) -> Iterator[tuple[str, str, Path]]:
    """The examples applied with letters in ``folder``, and the page served on a free port:
    (base URL, state URL, letters).  Also what ``make screenshots`` photographs."""
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
                raise RuntimeError(f"reconciler serve did not start: {server.stdout.read()}") from None
            time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}", state, letters
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    with served_examples(tmp_path_factory.mktemp("site")) as served:
        yield served


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


def username_of(state: str, ssin: str, enterprise: str = SS) -> str:
    from reconciler.store.backends import open_store

    store = open_store(state)
    try:
        return store.account_of(enterprise, ssin).username
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
    # Sofie declared Dutch: once her codes are right, the pages speak Dutch (her browser says English).
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    expect(page.locator("#error")).to_contain_text("De twee wachtwoorden zijn niet dezelfde.")
    page.fill("#password", PASSWORD)
    page.fill("#confirmation", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/me")
    expect(page.locator(".notice")).to_contain_text("Uw account is actief.")
    expect(page.locator("#enterprise")).to_contain_text("Secretariaat Sociale Diensten Vlaanderen")
    expect(page.locator("#role")).to_have_text("hoofdtoegangsbeheerder")
    expect(page.locator("#enterprise-name")).to_have_text("Secretariaat Sociale Diensten Vlaanderen")
    expect(page.locator("#roles")).to_contain_text("hoofdtoegangsbeheerder")
    expect(page.locator("#roles")).to_contain_text("toegangsbeheerder voor Sociaal secretariaat")
    expect(page.locator("#co-main")).to_contain_text("Olivier Dubois")
    expect(page.locator("#quality-employer")).to_contain_text("Ilse Jacobs")
    expect(page.locator("#quality-social-secretariat")).to_contain_text("Marc Wouters")
    expect(page.locator("#quality-social-secretariat")).to_contain_text("3 gebruikers")
    waiting = page.locator("#waiting")
    for person in ("Olivier Dubois", "Ilse Jacobs", "Marc Wouters", "Lien Goossens", "Nathalie Renard"):
        expect(waiting).to_contain_text(person)
    expect(waiting).not_to_contain_text("Sofie Claes")
    page.click(LOG_OUT)
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
    page.click(LOG_OUT)
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
    expect(page.locator("#error")).to_have_text("Dit rijksregisternummer hoort niet bij deze account.")  # Lien: Dutch
    page.goto(f"{base}/first-login/password")  # the step cannot be skipped
    expect(page).to_have_url(f"{base}/first-login/identity")


def test_an_expired_account_is_told_who_issues_new_codes(site, page: Page) -> None:
    base, state, letters = site
    name = username_of(state, "95100259156")  # Karim Lambert
    outside_write(
        state, f"UPDATE accounts SET activation_deadline = '2020-01-01T00:00:00+00:00' WHERE username = '{name}'"
    )
    enter_codes(page, base, name, code_of(letters, SS, name))
    expect(page).to_have_url(f"{base}/first-login")
    # Karim is a user of the social secretariat, whose language is Dutch; the level above him is named.
    expect(page.locator("#error")).to_contain_text("Uw tijdelijke wachtwoord is verlopen op 2020-01-01")
    expect(page.locator("#new-codes li")).to_have_text(
        [
            "Marc Wouters, co-toegangsbeheerder voor Sociaal secretariaat",
            "Olivier Dubois, co-hoofdtoegangsbeheerder",
            "Sofie Claes, hoofdtoegangsbeheerder",
        ]
    )
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


# Languages: by declaration, by the browser's header, by the switch.


def test_a_declared_language_speaks_once_the_codes_are_right(site, page: Page) -> None:
    base, state, letters = site
    name = username_of(state, "62101057413")  # Nathalie Renard declared French; the browser asks for English
    page.goto(f"{base}/first-login")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    enter_codes(page, base, name, code_of(letters, SS, name))
    expect(page).to_have_url(f"{base}/first-login/identity")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.locator("h1")).to_have_text("Confirmez votre identité")
    expect(page.locator("label[for=ssin]")).to_have_text("Numéro de registre national")


@pytest.mark.parametrize(
    ("locale", "lang", "heading"),
    [
        ("nl-BE", "nl", "Activeer uw account"),
        ("fr-BE", "fr", "Activez votre compte"),
        ("de-DE", "de", "Aktivieren Sie Ihr Konto"),
    ],
)
def test_the_browser_language_chooses_the_page(site, browser: Browser, locale: str, lang: str, heading: str) -> None:
    base, _, _ = site
    context = browser.new_context(locale=locale)
    try:
        page = context.new_page()
        page.goto(f"{base}/first-login")
        expect(page.locator("html")).to_have_attribute("lang", lang)
        expect(page.locator("h1")).to_have_text(heading)
    finally:
        context.close()


def test_the_language_switch_is_on_every_page_and_kept(site, page: Page) -> None:
    base, _, _ = site
    page.goto(f"{base}/login")
    page.click("nav.languages >> text=Deutsch")
    expect(page).to_have_url(f"{base}/login")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("h1")).to_have_text("Anmelden")
    expect(page.locator("nav.languages [aria-current=true]")).to_have_text("Deutsch")
    page.click("text=Aktivieren Sie Ihr Konto")
    expect(page.locator("h1")).to_have_text("Aktivieren Sie Ihr Konto")


# Accessibility: axe-core on every page, the keyboard alone, phones and zoom, reduced motion.

AXE_VERSION = "4.14.1"  # pinned in the Makefile (`make axe`, part of `make test`)
AXE = Path(__file__).resolve().parent.parent / ".reconciler" / f"axe-{AXE_VERSION}" / "node_modules" / "axe-core"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.fixture(scope="module")
def axe_source() -> str:
    script = Path(os.environ.get("RECONCILER_TEST_AXE", AXE / "axe.min.js"))
    if not script.exists():
        pytest.fail(f"{script} is missing: `make axe` (part of `make test`) installs axe-core {AXE_VERSION} from npm")
    return script.read_text(encoding="utf-8")


def test_the_makefile_pins_the_axe_core_the_tests_load() -> None:
    makefile = (Path(__file__).resolve().parent.parent / "Makefile").read_text(encoding="utf-8")
    assert f"AXE_VERSION = {AXE_VERSION}\n" in makefile


def violations(page: Page, axe_source: str) -> list[str]:
    """axe-core's WCAG 2.1 A and AA violations on the page as it is: rule id and the first element."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source)
    found = page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}})).violations"
        ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))",
        WCAG_21_AA,
    )
    assert page.evaluate("axe.version") == AXE_VERSION
    return found


def horizontal_overflow(page: Page) -> int:
    """CSS pixels the page is wider than its window (0: no horizontal scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_every_page_passes_axe_and_fits_a_phone(site, browser: Browser, axe_source: str) -> None:
    """Every page, in each state a person meets, and in each language: zero axe violations (WCAG 2.1 AA),
    no horizontal scrolling at 375 px nor at 200 % zoom (a 1280 px screen: 640 CSS px)."""
    base, state, letters = site
    found: dict[str, list[str]] = {}
    overflow: dict[str, int] = {}
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 800})  # to add axe's script
    page = context.new_page()
    page.set_default_timeout(10_000)

    def check(label: str) -> None:
        found[label] = violations(page, axe_source)
        for width in (375, 640):  # a phone; 200 % zoom of a 1280 px window
            page.set_viewport_size({"width": width, "height": 700})
            overflow[f"{label} at {width}px"] = horizontal_overflow(page)
        page.set_viewport_size({"width": 1280, "height": 800})

    try:
        for lang in ("nl", "fr", "de", "en"):
            page.goto(f"{base}/language/{lang}?next=/first-login")
            check(f"first login ({lang})")
        page.goto(f"{base}/login")
        check("login")
        page.fill("#username", "nobody")
        page.fill("#password", "wrong")
        page.click("button[type=submit]")
        check("login refused")
        enter_codes(page, base, "nobody.axe", "WRONG")
        check("first login refused")
        for _ in range(4):
            enter_codes(page, base, "nobody.axe", "WRONG")
        expect(page.locator("#error")).to_contain_text("Too many failed attempts")
        check("lock-out")
        pieter = username_of(state, "73070555405")  # Pieter Hermans, user of the employer quality
        outside_write(
            state, f"UPDATE accounts SET activation_deadline = '2020-01-01T00:00:00+00:00' WHERE username = '{pieter}'"
        )
        enter_codes(page, base, pieter, code_of(letters, SS, pieter))
        expect(page.locator("#new-codes")).to_be_visible()
        check("codes expired")
        els = username_of(state, "75031366754", SMALL)  # Els Mertens, main access manager: the contact center
        outside_write(
            state, f"UPDATE accounts SET activation_deadline = '2020-01-01T00:00:00+00:00' WHERE username = '{els}'"
        )
        enter_codes(page, base, els, code_of(letters, SMALL, els))
        expect(page.locator("#new-codes")).to_contain_text("02 511 51 51")
        check("codes expired, main access manager")
        ilse = username_of(state, "57092813789")  # Ilse Jacobs, access manager of the employer quality
        enter_codes(page, base, ilse, code_of(letters, SS, ilse))
        check("first login, national register number")
        page.fill("#ssin", "1")
        page.click("button[type=submit]")
        check("national register number refused")
        page.fill("#ssin", "57092813789")
        page.click("button[type=submit]")
        check("first login, new password")
        page.fill("#password", "short")
        page.fill("#confirmation", "short")
        page.click("button[type=submit]")
        check("new password refused")
        page.fill("#password", PASSWORD)
        page.fill("#confirmation", PASSWORD)
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{base}/me")
        check("overview")
        page.evaluate("document.querySelector('form[action=\\'/logout\\'] input[name=csrf_token]').remove()")
        page.click(LOG_OUT)
        expect(page.locator("h1")).to_have_text("The form expired")  # English: the switch was used last
        check("error page")
    finally:
        context.close()
    print("\naxe-core violations per page:", {label: len(rules) for label, rules in found.items()})
    assert {label: rules for label, rules in found.items() if rules} == {}
    assert {label: px for label, px in overflow.items() if px > 0} == {}


def test_errors_are_announced_and_tied_to_their_fields(site, page: Page) -> None:
    base, _, _ = site
    enter_codes(page, base, "nobody.announced", "WRONG")
    expect(page.locator("#error")).to_have_attribute("role", "alert")
    for field in ("#username", "#temporary_password"):
        expect(page.locator(field)).to_have_attribute("aria-describedby", "error")
        expect(page.locator(field)).to_have_attribute("aria-invalid", "true")


def focused(page: Page) -> str:
    return page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()")


def test_an_account_is_activated_with_the_keyboard_alone(site, page: Page) -> None:
    base, state, letters = site
    name = username_of(state, "60091406166")  # Marc Wouters
    page.goto(f"{base}/first-login")
    assert focused(page) == "username"
    page.keyboard.type(name)
    page.keyboard.press("Tab")
    assert focused(page) == "temporary_password"
    page.keyboard.type(code_of(letters, SS, name))
    page.keyboard.press("Tab")
    assert focused(page) == "Continue"
    style = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert style != "none"  # where the focus is can be seen
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{base}/first-login/identity")
    expect(page.locator("#ssin")).to_be_focused()  # waits: the address changes before the page has loaded
    page.keyboard.type("60.09.14-061.66")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{base}/first-login/password")
    expect(page.locator("#password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    assert focused(page) == "confirmation"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    expect(page).to_have_url(f"{base}/me")
    for _ in range(12):  # the skip link, the languages, then logging out
        page.keyboard.press("Tab")
        if focused(page) == "Afmelden":
            break
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{base}/login")


@pytest.mark.parametrize(("motion", "duration"), [("reduce", "0s"), ("no-preference", "0.15s, 0.15s")])
def test_reduced_motion_is_respected(site, browser: Browser, motion: str, duration: str) -> None:
    base, _, _ = site
    context = browser.new_context(reduced_motion=motion)
    try:
        page = context.new_page()
        page.goto(f"{base}/login")
        assert page.evaluate("getComputedStyle(document.querySelector('button')).transitionDuration") == duration
    finally:
        context.close()
