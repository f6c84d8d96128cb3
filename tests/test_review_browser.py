"""End to end: the access review page of `reconciler serve`, in headless Chromium, with axe-core.

The main access manager and a co-main access manager see their enterprise's review; an access
manager and a user are refused (403); a visitor is sent to the login page.  The page, and the
refusal, have zero axe violations (WCAG 2.1 A and AA) and no horizontal scrolling on a phone.
Accounts are activated through ``firstlogin`` on the served store, then log in in the browser.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, Page, expect

from reconciler.accounts import firstlogin
from reconciler.store.backends import open_store
from tests.test_browser import (
    PASSWORD,
    SS,
    axe_source,
    browser,
    horizontal_overflow,
    served_examples,
    violations,
)
from tests.test_lifecycle import code_of

__all__ = ["axe_source", "browser"]  # module-scoped fixtures of tests/test_browser.py, used here

SOFIE, OLIVIER, ILSE, PIETER = "87040208957", "82070324776", "57092813789", "73070555405"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """The examples served, and four people of the secretariat activated: (base URL, SSIN -> user name)."""
    with served_examples(tmp_path_factory.mktemp("review-site")) as (base, state, letters):
        store = open_store(state)
        now = datetime.now(UTC)
        names = {}
        try:
            for ssin in (SOFIE, OLIVIER, ILSE, PIETER):
                username = store.account_of(SS, ssin).username
                account = firstlogin.start(store, username, code_of(letters, SS, username), now)
                firstlogin.confirm_identity(store, account, ssin, now)
                firstlogin.choose_password(store, account, PASSWORD, PASSWORD, now, "review-test")
                names[ssin] = username
        finally:
            store.close()
        yield base, names


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/me")


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 800})  # to add axe's script
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    yield opened
    context.close()


def test_the_main_access_manager_sees_the_review_and_it_passes_axe(site, page: Page, axe_source: str) -> None:
    base, names = site
    log_in(page, base, names[SOFIE])
    page.click("#review-link")
    expect(page).to_have_url(f"{base}/review")
    expect(page.locator("html")).to_have_attribute("lang", "nl")  # Sofie declared Dutch
    expect(page.locator("h1")).to_contain_text("Toegangsreview")
    grants = page.locator("#grants")
    for person in ("Olivier Dubois", "Ilse Jacobs", "Marc Wouters", "Pieter Hermans", "Karim Lambert"):
        expect(grants).to_contain_text(person)
    expect(grants).to_contain_text("hoedanigheid zonder co-toegangsbeheerder")
    expect(grants).not_to_contain_text("Els Mertens")  # the other enterprise of the store
    found = {"review (nl)": violations(page, axe_source)}
    overflow = {}
    for width in (375, 640):  # a phone; 200 % zoom of a 1280 px window
        page.set_viewport_size({"width": width, "height": 700})
        overflow[width] = horizontal_overflow(page)
    page.goto(f"{base}/language/en?next=/review")
    expect(page.locator("h1")).to_contain_text("Access review")
    found["review (en)"] = violations(page, axe_source)
    print("\naxe-core violations on the review page:", {label: len(rules) for label, rules in found.items()})
    assert {label: rules for label, rules in found.items() if rules} == {}
    assert {width: px for width, px in overflow.items() if px > 0} == {}


def test_a_co_main_access_manager_sees_the_review(site, page: Page) -> None:
    base, names = site
    log_in(page, base, names[OLIVIER])
    response = page.goto(f"{base}/review/0999.077.729")
    assert response is not None and response.status == 200
    expect(page.locator("html")).to_have_attribute("lang", "fr")  # Olivier declared French
    expect(page.locator("#grants")).to_contain_text("Sofie Claes")


@pytest.mark.parametrize("ssin", [ILSE, PIETER], ids=["access manager", "user"])
def test_an_access_manager_and_a_user_are_refused(site, page: Page, axe_source: str, ssin: str) -> None:
    base, names = site
    log_in(page, base, names[ssin])
    expect(page.locator("#review-link")).to_have_count(0)
    response = page.goto(f"{base}/review")
    assert response is not None and response.status == 403
    expect(page.locator("#grants")).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text("Pieter Hermans" if ssin == ILSE else "Ilse Jacobs")
    assert violations(page, axe_source) == []


def test_a_visitor_is_sent_to_the_login_page(site, page: Page) -> None:
    base, _ = site
    page.goto(f"{base}/review")
    expect(page).to_have_url(f"{base}/login")
