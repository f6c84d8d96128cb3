"""`make screenshots`: the first-login page in Dutch and French, and the overview, for the README.

Serves the examples as the end-to-end tests do, in Debian's Chromium, and writes PNG files
to the folder given (docs/screenshots/).  Deterministic but for the dates in the overview.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.test_browser import CHROMIUM, FLAGS, PASSWORD, SS, enter_codes, served_examples, username_of
from tests.test_lifecycle import code_of

SOFIE = "87040208957"  # main access manager of the social secretariat; she declared Dutch


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as scratch,
        served_examples(Path(scratch)) as (base, state, letters),
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        for locale, name in (("nl-BE", "first-login-nl.png"), ("fr-BE", "first-login-fr.png")):
            context = browser.new_context(locale=locale, viewport={"width": 900, "height": 640})
            page = context.new_page()
            page.goto(f"{base}/first-login")
            page.screenshot(path=str(folder / name))
            context.close()
        context = browser.new_context(locale="fr-BE", viewport={"width": 375, "height": 720}, device_scale_factor=2)
        page = context.new_page()
        page.goto(f"{base}/first-login")
        page.screenshot(path=str(folder / "first-login-fr-phone.png"))
        context.close()
        context = browser.new_context(locale="nl-BE", viewport={"width": 900, "height": 900})
        page = context.new_page()
        user = username_of(state, SOFIE)
        enter_codes(page, base, user, code_of(letters, SS, user))
        page.fill("#ssin", SOFIE)
        page.click("button[type=submit]")
        page.fill("#password", PASSWORD)
        page.fill("#confirmation", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/me")
        page.screenshot(path=str(folder / "overview-nl.png"))
        context.close()
        browser.close()
    for picture in sorted(folder.glob("*.png")):
        print(picture)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots"))
