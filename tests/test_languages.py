"""Dutch, French, German and English: complete catalogues, pages in the reader's language, letters in the
person's language (golden files), and who issues new access codes for whom."""

from __future__ import annotations

import gettext
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from reconciler.accounts import firstlogin
from reconciler.accounts.delivery import Letter, LetterBox
from reconciler.accounts.lifecycle import issue_codes
from reconciler.accounts.overview import (
    CO_MAIN,
    CONTACT_CENTER_PHONE,
    MAIN,
    CodeIssuers,
    Issuer,
    NewCodes,
    overview,
)
from reconciler.accounts.passwords import MAX_LENGTH, password_problems
from reconciler.declare.catalogue import shipped_catalogue
from reconciler.declare.catalogue_file import read_catalogue
from reconciler.locale import LANGUAGES, Phrase, translations
from reconciler.web.app import create_app
from tests.conftest import EXAMPLES, check_golden, outside_write
from tests.test_lifecycle import (
    ILSE,
    KARIM,
    MARC,
    NATHALIE,
    NOW,
    OLIVIER,
    PIETER,
    SOFIE,
    SS,
    apply_paths,
    code_of,
)
from tests.test_web import error, token

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "reconciler" / "locale"
GOLDEN = ROOT / "tests" / "golden" / "letters"
TRANSLATED = [language for language in LANGUAGES if language != "en"]


# The catalogues: complete, consistent, compiled.


def extracted() -> set[str]:
    """The texts to translate, found as `make messages` finds them (babel.cfg, the N_ keyword)."""
    method_map, options_map = [], {}
    section = None
    for line in (LOCALE / "babel.cfg").read_text().splitlines():
        found = re.fullmatch(r"\[(\w+): (.+)\]", line.strip())
        if found:
            section = found.group(2)
            method_map.append((section, found.group(1)))
            options_map[section] = {}
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    return {
        message[2] if isinstance(message[2], str) else message[2][0]
        for message in extract_from_dir(str(ROOT / "reconciler"), method_map, options_map, keywords)
    }


def catalogue_problems(po: Path, wanted: set[str]) -> list[str]:
    """What a catalogue lacks or gets wrong: missing, untranslated, fuzzy, stale and mismatched placeholders."""
    with po.open("rb") as file:
        catalog = read_po(file)
    found = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalog if m.id}
    problems = [f"missing: {text!r}" for text in sorted(wanted - found.keys())]
    problems += [f"no longer in the code: {text!r}" for text in sorted(found.keys() - wanted)]
    for text, message in sorted(found.items()):
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings):
            problems.append(f"untranslated: {text!r}")
        if message.fuzzy:
            problems.append(f"fuzzy: {text!r}")
        problems += [f"{text!r}: {error}" for error in message.check(catalog)]
    return problems


@pytest.fixture(scope="module")
def wanted() -> set[str]:
    texts = extracted()
    assert len(texts) > 90  # the extraction found the code's and the templates' texts
    return texts


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_catalogue_has_every_message(language: str, wanted: set[str]) -> None:
    problems = catalogue_problems(LOCALE / language / "LC_MESSAGES" / "messages.po", wanted)
    assert problems == [], "run `make messages`, translate, then `make translations`"


def test_a_catalogue_lacking_a_message_is_caught(tmp_path: Path, wanted: set[str]) -> None:
    text = (LOCALE / "nl" / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8")
    lacking = tmp_path / "messages.po"
    lacking.write_text(
        text.replace('msgid "Log out"\nmsgstr "Afmelden"\n', "").replace('"Verder"', '""'), encoding="utf-8"
    )
    assert catalogue_problems(lacking, wanted) == ["missing: 'Log out'", "untranslated: 'Continue'"]


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_shipped_compiled_catalogue_is_the_current_one(language: str) -> None:
    folder = LOCALE / language / "LC_MESSAGES"
    with (folder / "messages.po").open("rb") as file:
        compiled = io.BytesIO()
        write_mo(compiled, read_po(file))
    compiled.seek(0)
    expected = gettext.GNUTranslations(compiled)._catalog  # type: ignore[attr-defined]
    with (folder / "messages.mo").open("rb") as file:
        shipped = gettext.GNUTranslations(file)._catalog  # type: ignore[attr-defined]
    assert shipped == expected, "run `make translations`"


def test_phrases_put_values_in_after_translation() -> None:
    said = Phrase.of("To: %(name)s", name="%(name)s <b>").say("fr")
    assert said == "À\u00a0: %(name)s <b>"
    assert (
        Phrase.of("access manager of %(quality)s", quality=Phrase.named(en="Employer", nl="Werkgever")).say("nl")
        == "toegangsbeheerder voor Werkgever"
    )
    assert Phrase.either(Phrase("main access manager"), Phrase("co-main access manager")).say("de") == (
        "Hauptzugangsverwalter oder Co-Hauptzugangsverwalter"
    )
    assert Phrase("The user name or password is not correct.").say("xx") == "The user name or password is not correct."
    assert translations("en").gettext("Log in") == "Log in"


def test_every_password_problem_is_translated() -> None:
    cases = [
        ("same-as-the-other-one", "different", "jmertens", "58022754967", "Jan Mertens"),
        ("short", "short", "u", "1", "N"),
        ("x" * (MAX_LENGTH + 1),) * 2 + ("u", "1", "N"),
        ("jmertens-long-enough", "jmertens-long-enough", "jmertens", "58022754967", "Jan Mertens"),
        ("58022754967-long", "58022754967-long", "u", "58022754967", "N"),
        ("mertens-is-my-name", "mertens-is-my-name", "u", "1", "Jan Mertens"),
        ("password1234", "password1234", "u", "1", "N"),
    ]
    seen = {problem for case in cases for problem in password_problems(*case)}
    assert seen == set(firstlogin.PASSWORD_PROBLEMS)  # every problem the rules can give, and only those
    for language in TRANSLATED:
        said = {phrase.say(language) for phrase in firstlogin.PASSWORD_PROBLEMS.values()}
        assert not said & seen, language


def test_the_catalogue_names_every_quality_and_service_in_german(tmp_path: Path) -> None:
    catalogue = shipped_catalogue()
    for entry in [*catalogue.qualities.values(), *catalogue.services.values()]:
        assert entry.de and entry.label("de") == entry.de and entry.label("nl") == entry.nl, entry.code
    assert catalogue.qualities["employer"].label("de") == "Arbeitgeber LSS"
    assert catalogue.qualities["employer"].label("xx") == "Employer (NSSO)"
    own = tmp_path / "reconciler.yaml"
    own.write_text(yaml.safe_dump({"services": {"harbour": {"en": "Harbour register", "de": "Hafenregister"}}}))
    assert read_catalogue(own).services["harbour"].label("de") == "Hafenregister"
    assert read_catalogue(own).services["harbour"].label("fr") == "Harbour register"


# Who issues new access codes, for each role of the social secretariat example.


@pytest.fixture
def secretariat(store):
    apply_paths(store, EXAMPLES / "social-secretariat")
    return store


def said(new_codes: NewCodes, language: str = "en") -> str:
    return new_codes.phrase().say(language)


def test_new_codes_come_from_the_level_above(secretariat) -> None:
    book = CodeIssuers.read(secretariat, SS)
    assert book.of(SOFIE).contact_center
    assert CONTACT_CENTER_PHONE in said(book.of(SOFIE)) and "Monday to Friday, from 7:00 to 20:00" in said(
        book.of(SOFIE)
    )
    assert said(book.of(OLIVIER)) == "New access codes are issued by Sofie Claes (main access manager)."
    assert said(book.of(ILSE)) == (
        "New access codes are issued by Olivier Dubois (co-main access manager) or Sofie Claes (main access manager)."
    )
    assert said(book.of(MARC)) == (  # co-access manager of the social secretariat, whose access manager is Sofie
        "New access codes are issued by Olivier Dubois (co-main access manager) or Sofie Claes (main access manager)."
    )
    assert said(book.of(KARIM), "nl") == (
        "Nieuwe toegangscodes krijgt u van Marc Wouters (co-toegangsbeheerder voor Sociaal secretariaat), "
        "Olivier Dubois (co-hoofdtoegangsbeheerder) of Sofie Claes (hoofdtoegangsbeheerder)."
    )
    assert said(book.of(PIETER), "fr").startswith(
        "De nouveaux codes d'accès vous sont délivrés par Ilse Jacobs (gestionnaire d'accès pour Employeur ONSS), "
    )
    assert said(book.of("00000000000")) == (
        "Ask the person who manages your access in your enterprise for new access codes."
    )


# Letters and e-mails in each language: golden files.


def letter(language: str, main: bool) -> Letter:
    if main:
        issuers = NewCodes(contact_center=True)
    else:
        issuers = NewCodes(issuers=(Issuer("Olivier Dubois", Phrase(CO_MAIN)), Issuer("Sofie Claes", Phrase(MAIN))))
    return Letter(
        "0999077729",
        "Secretariaat Sociale Diensten Vlaanderen",
        "Sofie Claes" if main else "Marc Wouters",
        "sofie.claes@ssdv.example" if main else "marc.wouters@ssdv.example",
        "sclaes" if main else "mwouters",
        "ABCD-EFGH-JKLM-NPQR",
        "2026-12-02T08:00:00+00:00",
        "https://portal.example/first-login",
        language,
        issuers,
    )


@pytest.mark.parametrize("main", [True, False], ids=["main-access-manager", "co-access-manager"])
@pytest.mark.parametrize("language", LANGUAGES)
def test_letters_in_each_language(language: str, main: bool, update_golden: bool, tmp_path: Path) -> None:
    written = letter(language, main)
    transcript = "".join(f"Subject: {subject}\n\n{body}\n" for subject, body in written.messages())
    name = f"{language}-{'main-access-manager' if main else 'co-access-manager'}.txt"
    check_golden(GOLDEN / name, transcript, update_golden)
    LetterBox(str(tmp_path)).send(written)  # the sealed letters are the same texts
    folder = tmp_path / "0999077729" / written.username
    assert (folder / "1-user-name.txt").read_text(encoding="utf-8") == written.messages()[0][1]
    assert (folder / "2-temporary-password.txt").read_text(encoding="utf-8") == written.messages()[1][1]


def test_a_letter_without_a_language_is_english_and_names_no_one() -> None:
    plain = Letter("0999055557", "Bakkerij", "Jan", "j@x.example", "jmertens", "CODE", "2026-12-02T08:00:00+00:00", "u")
    assert plain.said_in == "en"
    assert plain.user_name_text().endswith(
        "If you do not activate your account by then, these codes stop working. Ask the person who manages your "
        "access in your enterprise for new access codes.\n"
    )


# Pages: the language of the browser, of the switch, and of the person once they proved who they are.


@pytest.fixture
def site(secretariat, store_url: str, tmp_path: Path):
    letters = tmp_path / "letters"
    issue_codes(secretariat, LetterBox(str(letters)), None, NOW, "l", "r")
    app = create_app(store_url, secret_key="test", clock=lambda: NOW)
    return app.test_client(), secretariat, letters


def html_lang(page: str) -> str:
    return re.search(r'<html lang="(\w+)">', page).group(1)


@pytest.mark.parametrize(
    ("header", "expected", "heading"),
    [
        ("nl-BE,nl;q=0.9,en;q=0.5", "nl", "Activeer uw account"),
        ("fr-BE,fr;q=0.9", "fr", "Activez votre compte"),
        ("de-BE", "de", "Aktivieren Sie Ihr Konto"),
        ("es-ES,de;q=0.5", "de", "Aktivieren Sie Ihr Konto"),
        ("es-ES", "en", "Activate your account"),
        ("", "en", "Activate your account"),
    ],
)
def test_the_browser_language_chooses_the_page(site, header: str, expected: str, heading: str) -> None:
    web, _, _ = site
    page = web.get("/first-login", headers={"Accept-Language": header} if header else {}).text
    assert html_lang(page) == expected
    assert f"<h1>{heading}</h1>" in page


def test_the_switch_is_kept_in_the_session_and_goes_back_to_the_page(site) -> None:
    web, _, _ = site
    switched = web.get("/language/fr?next=/login", headers={"Accept-Language": "nl"})
    assert switched.status_code == 302 and switched.location == "/login"
    for path in ("/login", "/first-login"):
        page = web.get(path, headers={"Accept-Language": "nl"}).text
        assert html_lang(page) == "fr"
    assert '<a href="/language/fr?next=/first-login" lang="fr" hreflang="fr" aria-current="true">' in page
    assert web.get("/language/de?next=https://evil.example/").location == "/"  # no open redirect
    assert web.get("/language/xx?next=/login").location == "/login"
    assert html_lang(web.get("/login").text) == "de"


def test_the_declared_language_speaks_once_the_person_proved_who_they_are(site) -> None:
    web, store, letters = site
    olivier = store.account_of(SS, OLIVIER)
    assert olivier.language == "fr"
    page = web.get("/first-login").text
    wrong = web.post(
        "/first-login", data={"csrf_token": token(page), "username": olivier.username, "temporary_password": "X"}
    )
    assert html_lang(wrong.text) == "en"  # before the right codes, nothing tells that the account exists
    web.post(
        "/first-login",
        data={
            "csrf_token": token(page),
            "username": olivier.username,
            "temporary_password": code_of(letters, SS, olivier.username),
        },
    )
    page = web.get("/first-login/identity").text
    assert html_lang(page) == "fr" and "<h1>Confirmez votre identité</h1>" in page
    wrong = web.post("/first-login/identity", data={"csrf_token": token(page), "ssin": "1"})
    assert error(wrong.text) == "Ce numéro de registre national ne correspond pas au compte."
    assert 'aria-describedby="ssin-hint error"' in wrong.text and 'aria-invalid="true"' in wrong.text


@pytest.mark.parametrize(
    ("ssin", "expected"),
    [
        (SOFIE, "appelez le 02 511 51 51, du lundi au vendredi, de 7 à 20 heures."),
        (NATHALIE, "<li><bdi>Olivier Dubois</bdi>, co-gestionnaire d&#39;accès principal</li>"),
    ],
)
def test_expired_codes_say_who_issues_new_ones(site, store_url: str, ssin: str, expected: str) -> None:
    web, store, letters = site
    account = store.account_of(SS, ssin)
    outside_write(
        store_url,
        f"UPDATE accounts SET activation_deadline = '2026-11-01T00:00:00+00:00' WHERE username = '{account.username}'",
    )
    web.get("/language/fr")  # Sofie declared Dutch: the switch, used on this visit, comes first
    page = web.get("/first-login").text
    response = web.post(
        "/first-login",
        data={
            "csrf_token": token(page),
            "username": account.username,
            "temporary_password": code_of(letters, SS, account.username),
        },
    )
    assert response.status_code == 401
    assert "Votre mot de passe temporaire a expiré le 2026-11-01" in error(response.text)
    assert expected in response.text


def sign_in_sofie(web, store, letters: Path) -> None:
    """Sofie's first login, to the end: her codes, her national register number, a new password."""
    sofie = store.account_of(SS, SOFIE)
    page = web.get("/first-login").text
    web.post(
        "/first-login",
        data={
            "csrf_token": token(page),
            "username": sofie.username,
            "temporary_password": code_of(letters, SS, "sclaes"),
        },
    )
    page = web.get("/first-login/identity").text
    web.post("/first-login/identity", data={"csrf_token": token(page), "ssin": SOFIE})
    page = web.get("/first-login/password").text
    password = "Zinnebeeld-Korst-1958"
    web.post("/first-login/password", data={"csrf_token": token(page), "password": password, "confirmation": password})


def test_the_overview_speaks_the_declared_language(site, store_url: str) -> None:
    web, store, letters = site
    assert store.account_of(SS, SOFIE).language == "nl"
    sign_in_sofie(web, store, letters)
    dormant(store_url, KARIM)
    page = web.get("/me", headers={"Accept-Language": "en"}).text
    assert html_lang(page) == "nl"
    assert "actief, maar al 90 dagen of langer niet aangemeld" in page  # Karim, gone quiet
    assert "Uw account is actief." in page
    assert '<span id="role">hoofdtoegangsbeheerder</span>' in page
    assert "<li>toegangsbeheerder voor Sociaal secretariaat</li>" in page
    assert "3 gebruikers" in page and "Werkgever RSZ" in page
    assert "Dimona (onmiddellijke aangifte van tewerkstelling)" in page


def dormant(store_url: str, ssin: str, days: int = 120) -> None:
    """The person's account active, its last login ``days`` before ``NOW`` (written as the pages would)."""
    at = (NOW - timedelta(days=days)).isoformat()
    outside_write(
        store_url,
        f"UPDATE accounts SET status = 'active', codes_issued_at = '{at}', activated_at = '{at}', "
        f"last_login_at = '{at}' WHERE enterprise = '{SS}' AND ssin = '{ssin}'",
    )


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "active, but no login for 90 days or more"),
        ("nl", "actief, maar al 90 dagen of langer niet aangemeld"),
        ("fr", "actif, mais aucune connexion depuis 90 jours ou plus"),
        ("de", "aktiv, aber seit 90 Tagen oder länger keine Anmeldung"),
    ],
)
def test_the_overview_names_accounts_nobody_logged_in_to_for_90_days(
    secretariat, store_url: str, language: str, expected: str
) -> None:
    """An access manager sees which of their people have not used their account for 90 days: the
    ones to ask whether it is still needed.  89 days is still active."""
    dormant(store_url, KARIM, days=120)
    dormant(store_url, PIETER, days=89)
    view = overview(secretariat, secretariat.account_of(SS, SOFIE), NOW, language)
    people = {p.username: p for q in view.qualities for p in [*q.users, *q.co_access_managers]}
    karim, pieter = (people[secretariat.account_of(SS, ssin).username] for ssin in (KARIM, PIETER))
    assert (karim.status, karim.status_phrase.say(language)) == ("dormant", expected)
    assert pieter.status == "active"
