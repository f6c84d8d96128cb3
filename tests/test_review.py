"""``reconciler review``: the access review in five formats (golden), its flags, signing it in the audit
trail, and every stored value kept as data in every output; the page of ``reconciler serve`` through
Flask's test client (who may see it).  The page in Chromium: tests/test_review_browser.py."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT, bypass_append_only, check_golden, outside_write
from jsonschema import Draft202012Validator

from reconciler.accounts import firstlogin
from reconciler.accounts.delivery import LetterBox
from reconciler.accounts.lifecycle import issue_codes
from reconciler.accounts.signing import sign_review
from reconciler.plan.review import (
    FLAG_ADDED,
    FLAG_DORMANT,
    FLAG_ENDING,
    FLAG_EXPIRED,
    FLAG_NO_CO_ACCESS_MANAGER,
    FLAG_NO_CO_MAIN,
    FLAG_PENDING,
    FLAG_SEVERAL,
    canonical_json,
    review_of,
)
from reconciler.records import clock
from reconciler.render import neutral
from reconciler.render.review import (
    render_review_csv,
    render_review_json,
    render_review_markdown,
    render_review_text,
    spreadsheet_cell,
)
from reconciler.render.review_html import render_review_html
from reconciler.web.app import create_app
from tests.test_hostile_names import HOSTILE, JAN, SMALL, SMALL_FILE, terminal_safe, write_rows
from tests.test_lifecycle import apply_paths, code_of
from tests.test_who import (
    ACTIVATED,
    CREATED,
    LEGAL,
    SOFIE,
    SS,
    apply_at,
    secretariat_with_sofie_active,
    sofie_made_a_user,
)

GOLDEN = Path(__file__).resolve().parent / "golden"
SCHEMA = Draft202012Validator(json.loads((ROOT / "schemas" / "review.schema.json").read_text(encoding="utf-8")))
SIGNED_AT = datetime(2026, 1, 21, 9, 0, tzinfo=UTC)  # Sofie signs the first review, the day after her login
ASKED = datetime(2026, 2, 20, 10, 0, tzinfo=UTC)
OLIVIER, ILSE, MARC, PIETER = "82070324776", "57092813789", "60091406166", "73070555405"
PASSWORD = "a long passphrase here"
FORMATS = ("text", "markdown", "csv", "json", "html")
SUFFIX = {"text": "txt", "markdown": "md", "csv": "csv", "json": "json", "html": "html"}


@pytest.fixture
def reviewed(store, tmp_path: Path):
    """The secretariat applied, Sofie activated and logged in, a review signed, then Sofie made a user."""
    declared = secretariat_with_sofie_active(store, tmp_path)
    sign_review(store, SS, SOFIE, SIGNED_AT, "run-review", 90, 14)
    sofie_made_a_user(store, declared)
    return declared


def review(run, url: str, *args: str, at: datetime = ASKED):
    with clock.frozen(at):
        return run("review", *args, "--state", url)


def review_json(run, url: str, *args: str, at: datetime = ASKED) -> dict:
    result = review(run, url, *args, "--format", "json", at=at)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert list(SCHEMA.iter_errors(document)) == []
    return document


def grants_by(enterprise: dict) -> dict[tuple[str, str | None, str], dict]:
    return {(g["role"], g["quality"], g["ssin"]): g for g in enterprise["grants"]}


def test_review_golden(run, reviewed, store_url: str, update_golden: bool) -> None:
    """The same five reports from both stores, under a frozen clock; nothing of the test's folder, no hash."""
    for output_format in FORMATS:
        result = review(run, store_url, SS, "--format", output_format, "--dormant-after", "30")
        assert result.exit_code == 0, result.output
        assert "/tmp" not in result.stdout and "$argon2" not in result.stdout
        check_golden(GOLDEN / f"review-social-secretariat.{SUFFIX[output_format]}", result.stdout, update_golden)


def test_each_flag_and_the_last_signature(run, reviewed, store_url: str) -> None:
    [enterprise] = review_json(run, store_url, "--dormant-after", "30")["enterprises"]  # every enterprise stored
    grants = grants_by(enterprise)
    assert grants[("main_access_manager", None, SOFIE)]["flags"] == [FLAG_DORMANT]
    assert grants[("user", "employer", SOFIE)]["flags"] == [FLAG_DORMANT, FLAG_ENDING, FLAG_ADDED]
    assert grants[("user", "employer", SOFIE)]["granted"]["actor"] == SOFIE
    assert grants[("access_manager", "employer", ILSE)]["flags"] == [FLAG_EXPIRED, FLAG_NO_CO_ACCESS_MANAGER]
    assert grants[("access_manager", "social-secretariat", SOFIE)]["flags"] == [FLAG_DORMANT]
    assert enterprise["flags"] == []
    signed = enterprise["last_signed_review"]
    assert (signed["at"], signed["actor"], signed["grants"], signed["unchanged_since"]) == (
        "2026-01-21T09:00:00+00:00",
        SOFIE,
        10,
        False,
    )
    # Before the codes expired, and within the dormancy period: pending, and nothing dormant.
    early = grants_by(review_json(run, store_url, SS, at=datetime(2026, 1, 22, tzinfo=UTC))["enterprises"][0])
    assert early[("co_main_access_manager", None, OLIVIER)]["flags"] == [FLAG_PENDING]
    assert early[("main_access_manager", None, SOFIE)]["flags"] == []


def test_several_qualities_and_no_co_main_access_manager(run, store, store_url: str, tmp_path: Path) -> None:
    declared = tmp_path / "secretariat"
    shutil.copytree(EXAMPLES / "social-secretariat", declared)
    employer = declared / "employer.yaml"  # Marc helps the employer quality too; Olivier leaves
    employer.write_text(
        employer.read_text(encoding="utf-8").replace(
            "      gitlab: ijacobs\n",
            '      gitlab: ijacobs\n    co_access_managers:\n      - ssin: "60091406166"\n'
            "        name: Marc Wouters\n        email: marc.wouters@ssdv.example\n        github: marc-wouters\n",
        ),
        encoding="utf-8",
    )
    header = declared / "enterprise.yaml"
    before, after = header.read_text(encoding="utf-8").split("co_main_access_managers:")
    header.write_text(before + after[after.index("# Profiles") :], encoding="utf-8")
    apply_at(store, CREATED, "run-0001", LEGAL, declared)
    [enterprise] = review_json(run, store_url, SS, at=CREATED)["enterprises"]
    grants = grants_by(enterprise)
    assert enterprise["flags"] == [FLAG_NO_CO_MAIN]
    assert FLAG_SEVERAL in grants[("co_access_manager", "employer", MARC)]["flags"]
    assert FLAG_SEVERAL in grants[("co_access_manager", "social-secretariat", MARC)]["flags"]
    assert FLAG_NO_CO_ACCESS_MANAGER not in grants[("access_manager", "employer", ILSE)]["flags"]
    shown = review(run, store_url, SS, at=CREATED).stdout
    assert "  enterprise flags:    no-co-main-access-manager\n" in shown
    assert shown.count("no-co-main-access-manager") == 1  # once per enterprise, not per grant


def test_signing_records_the_digest_and_moves_no_version(run, reviewed, store, store_url: str) -> None:
    before = store.read([SS])[SS].version
    document = review_json(run, store_url, SS)
    with clock.frozen(ASKED):
        signed = run("review", SS, "--sign", "--actor", OLIVIER, "--state", store_url)
    assert signed.exit_code == 0, signed.output
    digest = document["enterprises"][0]["digest"]
    assert f"signed by {OLIVIER}: 11 grants, digest {digest}." in signed.stdout
    assert store.read([SS])[SS].version == before
    entry = store.audit_entries(SS)[-1]
    assert (entry.action, entry.address, entry.actor) == ("review-signed", "review", OLIVIER)
    assert json.loads(entry.after) == {"actor": OLIVIER, "digest": digest, "grants": 11}
    assert run("audit", "verify", "--state", store_url).exit_code == 0
    again = review_json(run, store_url, SS)["enterprises"][0]
    assert again["last_signed_review"]["unchanged_since"] is True
    assert again["last_signed_review"]["entry"] == entry.seq
    assert all(FLAG_ADDED not in grant["flags"] for grant in again["grants"])
    assert "nothing changed since" in review(run, store_url, SS).stdout


def test_the_digest_is_the_sha256_of_the_canonical_json(reviewed, store) -> None:
    with clock.frozen(ASKED):
        found, missing = review_of(store, [SS], clock.now(), 90, 14)
    [enterprise] = found.enterprises
    assert missing == [] and enterprise.digest == hashlib.sha256(canonical_json(enterprise)).hexdigest()
    assert b'"last_signed_review"' not in canonical_json(enterprise) and FLAG_ADDED.encode() not in canonical_json(
        enterprise
    )


@pytest.mark.parametrize("actor", [ILSE, "58022754967"])  # an access manager; a person not declared
def test_only_the_main_and_co_main_access_managers_sign(run, reviewed, store, store_url: str, actor: str) -> None:
    heads = store.audit_heads()
    refused = review(run, store_url, SS, "--sign", "--actor", actor)
    assert refused.exit_code == 1
    assert f"{actor} may not sign the access review of 0999.077.729" in refused.stderr
    assert f"Sofie Claes ({SOFIE}, main access manager)" in refused.stderr
    assert f"Olivier Dubois ({OLIVIER}, co-main access manager)" in refused.stderr
    assert store.audit_heads() == heads


def test_sign_needs_one_enterprise_and_an_actor(run, reviewed, store_url: str) -> None:
    for args in ((SS, "--sign"), ("--sign", "--actor", SOFIE), (SS, SMALL, "--sign", "--actor", SOFIE)):
        result = review(run, store_url, *args)
        assert result.exit_code == 1 and "--sign takes exactly one ENTERPRISE" in result.stderr
    assert review(run, store_url, SS, "--actor", SOFIE).exit_code == 1
    missing = review(run, store_url, SMALL)
    assert missing.exit_code == 1 and "not in the store: 0999.055.557" in missing.stderr


def test_a_broken_chain_stops_the_signature(run, reviewed, store, store_url: str) -> None:
    bypass_append_only(store_url, f"UPDATE audit_log SET address = 'mallory' WHERE enterprise = '{SS}' AND seq = 2")
    refused = review(run, store_url, SS, "--sign", "--actor", SOFIE)
    assert refused.exit_code == 7, refused.output
    assert "entry 2 was altered" in refused.stderr
    assert [e.action for e in store.audit_entries(SS)].count("review-signed") == 1
    lifted = review(run, store_url, SS, "--sign", "--actor", SOFIE, "--allow-broken-audit-trail")
    assert lifted.exit_code == 0, lifted.output
    assert [e.action for e in store.audit_entries(SS)][-2:] == ["audit-override", "review-signed"]


@pytest.mark.parametrize("named", [(SS,), ()], ids=["named", "every enterprise"])
def test_a_broken_chain_stops_the_report_unless_lifted(run, reviewed, store_url: str, named: tuple) -> None:
    """Who granted what, when, and what was added since the last signature come from the trail: a
    trail that does not verify shows nothing (exit 7, as ``who``), and the override shows it with
    a warning; the problems are said as data."""
    assert review(run, store_url, *named).exit_code == 0
    bypass_append_only(
        store_url, f"UPDATE audit_log SET address = 'mallory' || char(27) WHERE enterprise = '{SS}' AND seq = 2"
    ) if store_url.startswith("sqlite") else bypass_append_only(
        store_url, f"UPDATE audit_log SET address = 'mallory' || chr(27) WHERE enterprise = '{SS}' AND seq = 2"
    )
    refused = review(run, store_url, *named)
    assert refused.exit_code == 7, refused.output
    assert refused.stdout == "" and "entry 2 was altered" in refused.stderr and "\x1b" not in refused.stderr
    assert "--allow-broken-audit-trail" in refused.stderr
    shown = review(run, store_url, *named, "--format", "json", "--allow-broken-audit-trail")
    assert shown.exit_code == 0, shown.output
    assert "entry 2 was altered" in shown.stderr and "may be false" in shown.stderr
    assert SS in {e["enterprise"] for e in json.loads(shown.stdout)["enterprises"]}


def test_out_writes_a_private_file(run, reviewed, store_url: str, tmp_path: Path) -> None:
    result = review(run, store_url, SS, "--format", "html", "--out", "reports/review.html")
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and "written to reports/review.html" in result.stderr
    written = tmp_path / "reports" / "review.html"
    assert stat.S_IMODE(os.stat(written).st_mode) == 0o600
    assert written.read_text(encoding="utf-8").startswith("<!doctype html>")


def test_offboarded_enterprises_are_left_out_unless_named(run, store, store_url: str, tmp_path: Path) -> None:
    apply_paths(store, SMALL_FILE, now=CREATED)
    assert [e["enterprise"] for e in review_json(run, store_url, at=CREATED)["enterprises"]] == [SMALL]
    offboard = tmp_path / "off.yaml"
    offboard.write_text(
        'enterprise:\n  number: "0999.055.557"\n  name: Bakkerij De Gouden Korst\n  offboard: true\n', encoding="utf-8"
    )
    with clock.frozen(CREATED):
        applied = run("apply", offboard, "--state", store_url, "--auto-approve", "--allow-offboarding", "--defer-codes")
    assert applied.exit_code == 0, applied.output
    assert review_json(run, store_url, at=CREATED)["enterprises"] == []
    assert review_json(run, store_url, SMALL, at=CREATED)["enterprises"][0]["grants"] == []


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\\x09x"),
        ("\rx", "'\\x0dx"),
        ("Jan", "Jan"),
        ("2026-01-05", "2026-01-05"),
        (None, ""),
    ],
)
def test_spreadsheet_formulas_are_defused(value: str | None, cell: str) -> None:
    assert spreadsheet_cell(value) == cell


def test_the_hostile_corpus_through_every_format(store, store_url: str) -> None:
    """Every name of the hostile corpus, written into the store as old data would hold it, in all five formats."""
    apply_paths(store, SMALL_FILE, now=CREATED)
    for case, name in HOSTILE.items():
        if case == "nul" and store_url.startswith("postgresql"):
            continue  # PostgreSQL cannot store NUL: the very reason validation refuses it
        write_rows(store_url, "UPDATE persons SET name = ? WHERE enterprise = ? AND ssin = ?", name, SMALL, JAN)
        write_rows(store_url, "UPDATE enterprises SET name = ? WHERE number = ?", "=cmd|' /C calc'!A0", SMALL)
        write_rows(store_url, "UPDATE users SET until = ? WHERE enterprise = ? AND ssin = ?", name, SMALL, JAN)
        found, _ = review_of(store, [SMALL], CREATED, 90, 14)
        for shown in (render_review_text(found), render_review_markdown(found), render_review_json(found)):
            assert terminal_safe(shown), case
        assert neutral.text(name) in render_review_text(found), case
        assert neutral.markdown(name) in render_review_markdown(found), case
        page = render_review_html(found)
        assert terminal_safe(page) and "<img" not in page and "<details" not in page and "<summary" not in page, case
        table = render_review_csv(found)
        assert terminal_safe(table.replace("\r\n", "")), case
        rows = list(csv.reader(io.StringIO(table)))
        assert {row[1] for row in rows[1:]} == {"'=cmd|' /C calc'!A0"}, case
        assert rows[4][5] == spreadsheet_cell(name), case  # Jan: after the enterprise and Els's two roles
        document = json.loads(render_review_json(found))
        assert list(SCHEMA.iter_errors(document)) == [], case
        assert [g["name"] for g in document["enterprises"][0]["grants"] if g["ssin"] == JAN] == [name], case


def test_a_name_that_is_markup_stays_text_in_html(reviewed, store, store_url: str) -> None:
    outside_write(store_url, f"UPDATE persons SET name = '<script>alert(1)</script>' WHERE ssin = '{ILSE}'")
    found, _ = review_of(store, [SS], ASKED, 90, 14)
    page = render_review_html(found)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<link" not in page and "src=" not in page and "@media print" in page
    assert "thead { display: table-header-group; }" in page


# The page of `reconciler serve`, through Flask's test client.


def token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def log_in(web, username: str) -> None:
    page = web.get("/login").text
    response = web.post("/login", data={"csrf_token": token(page), "username": username, "password": PASSWORD})
    assert response.location == "/me", response.text


def activate(store, letters: Path, ssin: str) -> str:
    """The person's account activated at first login; their user name."""
    username = store.account_of(SS, ssin).username
    account = firstlogin.start(store, username, code_of(letters, SS, username), ACTIVATED)
    firstlogin.confirm_identity(store, account, ssin, ACTIVATED)
    firstlogin.choose_password(store, account, PASSWORD, PASSWORD, ACTIVATED, "w1")
    return username


def test_the_page_is_for_the_main_and_co_main_access_managers_only(store, store_url: str, tmp_path: Path) -> None:
    apply_paths(store, EXAMPLES / "social-secretariat", SMALL_FILE, now=CREATED)
    letters = tmp_path / "letters"
    issue_codes(store, LetterBox(str(letters)), None, CREATED, "l", "r")
    people = [
        (activate(store, letters, ssin), allowed)
        for ssin, allowed in ((SOFIE, 1), (OLIVIER, 1), (ILSE, 0), (PIETER, 0))
    ]
    app = create_app(store_url, secret_key="test", clock=lambda: ACTIVATED)
    assert app.test_client().get("/review").location == "/login"
    for username, allowed in people:
        web = app.test_client()
        log_in(web, username)
        shown = web.get("/review")
        assert shown.status_code == (200 if allowed else 403), username
        allowed = bool(allowed)
        assert ('id="review-link"' in web.get("/me").text) is allowed
        if allowed:
            assert "Pieter Hermans" in shown.text and "Marc Wouters" in shown.text
            assert "Els Mertens" not in shown.text and "Bakkerij" not in shown.text  # another enterprise
            assert web.get(f"/review/{SS}").status_code == 200
            assert web.get("/review/0999.077.729").status_code == 200
            refused = web.get(f"/review/{SMALL}")
            assert refused.status_code == 403 and "Bakkerij" not in refused.text and "Els" not in refused.text
        else:
            assert "Pieter Hermans" not in shown.text
            assert web.get(f"/review/{SS}").status_code == 403


def test_the_page_speaks_the_readers_language(store, store_url: str, tmp_path: Path) -> None:
    apply_paths(store, EXAMPLES / "social-secretariat", now=CREATED)
    letters = tmp_path / "letters"
    issue_codes(store, LetterBox(str(letters)), None, CREATED, "l", "r")
    activate(store, letters, SOFIE)
    web = create_app(store_url, secret_key="test", clock=lambda: ACTIVATED).test_client()
    log_in(web, "sclaes")
    page = web.get("/review").text  # Sofie declared Dutch
    assert '<html lang="nl">' in page
    for text in ("Toegangsreview", "Laatste aanmelding", "hoedanigheid zonder co-toegangsbeheerder", "account nog"):
        assert text in page, text
    web.get("/language/fr?next=/review")
    page = web.get("/review").text
    assert "Revue des accès" in page and "qualité sans co-gestionnaire d&#39;accès" in page


def test_the_page_warns_when_the_trail_does_not_verify(store, store_url: str, tmp_path: Path) -> None:
    """Who granted what, and when, come from the audit trail: when it does not verify, the page says
    so above the grants, in the reader's language, as an alert; a trail that verifies says nothing."""
    apply_paths(store, EXAMPLES / "social-secretariat", now=CREATED)
    letters = tmp_path / "letters"
    issue_codes(store, LetterBox(str(letters)), None, CREATED, "l", "r")
    activate(store, letters, SOFIE)
    web = create_app(store_url, secret_key="test", clock=lambda: ACTIVATED).test_client()
    log_in(web, "sclaes")
    assert 'id="trail-warning"' not in web.get("/review").text
    bypass_append_only(store_url, f"UPDATE audit_log SET after = NULL WHERE enterprise = '{SS}' AND seq = 3")
    page = web.get("/review").text  # Sofie declared Dutch
    assert '<div class="error" role="alert" id="trail-warning">' in page
    assert "konden niet gecontroleerd worden" in page and "“Toegekend” en “Door”" in page
    assert page.index('id="trail-warning"') < page.index('id="grants"')
    web.get("/language/fr?next=/review")
    assert "Ne vous fiez pas aux dates" in web.get("/review").text
    web.get("/language/de?next=/review")
    assert "Verlassen Sie sich nicht auf die Daten" in web.get("/review").text
