"""Hostile review of three changes: ``reconciler review`` verifies the audit trail of every enterprise
in its report (exit 7, or the report under a warning with --allow-broken-audit-trail; the review
page's ``trail-warning``), ``who`` verifies the trails it read (``verified_presence_of``), and
python-stdnum imported lazily (the dotted fast path, ``is_enterprise_number``, the cache salt).

Attacked as a neighbour who may write the store (triggers dropped: ``bypass_append_only``), a web
visitor, and a YAML author.  A test whose docstring starts with "Found in review" failed on the
changes as first written, and says what happened, why it mattered, how to see it and how it was
mended; the others document a defence held from the start.
"""

from __future__ import annotations

import json
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT, bypass_append_only, outside_write
from hypothesis import example, given, settings
from hypothesis import strategies as st
from stdnum.be import vat
from stdnum.exceptions import ValidationError

from reconciler.accounts.delivery import LetterBox
from reconciler.accounts.lifecycle import issue_codes
from reconciler.accounts.signing import sign_review
from reconciler.declare import identifiers
from reconciler.plan import verdicts
from reconciler.plan.grants import verified_presence_of
from reconciler.plan.review import FLAG_ADDED, review_of
from reconciler.render import neutral
from reconciler.store import audit
from reconciler.store.backends import open_store
from reconciler.web.app import create_app
from reconciler.web.review import review_page
from tests.test_attacks_audit_runs import forge_plain
from tests.test_hostile_names import SMALL, SMALL_FILE, terminal_safe, write_rows
from tests.test_lifecycle import apply_paths
from tests.test_review import (  # noqa: F401 - ``reviewed`` is a fixture
    ASKED,
    FORMATS,
    SIGNED_AT,
    activate,
    log_in,
    review,
    reviewed,
)
from tests.test_who import CREATED, KARIM, LEGAL, SOFIE, SS, karim_removed, who
from tests.test_who import SCHEMA as WHO_SCHEMA

ESC, RLO, LRI = "\x1b", "\u202e", "\u2066"
SOFIE_AS_USER = f"enterprise[{SS}].quality[employer].user[{SOFIE}]"  # entry 39, after the signature (38)
KARIM_AS_USER = f"enterprise[{SS}].quality[social-secretariat].user[{KARIM}]"
WARNING = 'id="trail-warning"'


def sqlite_only(url: str) -> None:
    if not url.startswith("sqlite"):
        pytest.skip("SQLite keeps text in an INTEGER column; PostgreSQL refuses it")


def run_of(seq: int, enterprise: str = SS) -> str:
    return f"(SELECT run_id FROM audit_log WHERE enterprise = '{enterprise}' AND seq = {seq})"


def break_runs(url: str, enterprise: str) -> None:
    """Every apply of ``enterprise`` credited to someone else: audit_runs only, audit_log untouched."""
    bypass_append_only(
        url,
        "UPDATE audit_runs SET actor = 'mallory' "
        f"WHERE id IN (SELECT run_id FROM audit_log WHERE enterprise = '{enterprise}')",
    )


def verified_by_audit_verify(run, url: str) -> bool:
    return run("audit", "verify", "--state", url).exit_code == 0


@pytest.fixture
def two(reviewed, store):  # noqa: F811 - the fixture imported above
    """``reviewed`` (the secretariat, a signature, then Sofie made a user) and the small employer."""
    apply_paths(store, SMALL_FILE, now=CREATED)
    return store


# --- 1. What the report reads from the trail is what the verification covers -----------------------


TAMPERED = {
    # audit_runs: the apply's own fields, shared by its entries (entry 39: Sofie made a user)
    "runs-at": f"UPDATE audit_runs SET at = '2025-01-01T00:00:00+00:00' WHERE id = {run_of(39)}",
    "runs-actor": f"UPDATE audit_runs SET actor = '{LEGAL}' WHERE id = {run_of(39)}",
    "runs-actor-null": f"UPDATE audit_runs SET actor = NULL WHERE id = {run_of(39)}",
    "runs-run": f"UPDATE audit_runs SET run = 'run-0001' WHERE id = {run_of(39)}",
    "runs-plan": f"UPDATE audit_runs SET plan_hash = '' WHERE id = {run_of(39)}",
    "runs-commit": f"UPDATE audit_runs SET commit_sha = 'deadbeef' WHERE id = {run_of(39)}",
    "runs-overrides": f"UPDATE audit_runs SET overrides = '--allow-x' WHERE id = {run_of(39)}",
    "runs-row-gone": f"DELETE FROM audit_runs WHERE id = {run_of(39)}",
    "signature-actor": f"UPDATE audit_runs SET actor = '{LEGAL}' WHERE id = {run_of(38)}",
    "signature-at": f"UPDATE audit_runs SET at = '2026-02-19T00:00:00+00:00' WHERE id = {run_of(38)}",
    # audit_log
    "log-run-id": f"UPDATE audit_log SET run_id = {run_of(1)} WHERE enterprise = '{SS}' AND seq = 39",
    "log-action": f"UPDATE audit_log SET action = 'adopt' WHERE enterprise = '{SS}' AND seq = 39",
    "log-address": f"UPDATE audit_log SET address = 'review' WHERE enterprise = '{SS}' AND seq = 39",
    "log-signature-moved": f"UPDATE audit_log SET action = 'create' WHERE enterprise = '{SS}' AND seq = 38",
    "log-after": f"UPDATE audit_log SET after = '{{\"digest\": \"x\"}}' WHERE enterprise = '{SS}' AND seq = 38",
    "log-entry-gone": f"DELETE FROM audit_log WHERE enterprise = '{SS}' AND seq = 39",
    "log-tail-entry": "INSERT INTO audit_log (enterprise, seq, run_id, action, address, before, after, hash) "
    f"VALUES ('{SS}', 40, {run_of(38)}, 'review-signed', 'review', NULL, NULL, 'forged')",
    "log-swapped": (  # the signature moved after Sofie's grant: "added since" goes
        f"UPDATE audit_log SET seq = 1038 WHERE enterprise = '{SS}' AND seq = 38",
        f"UPDATE audit_log SET seq = 38 WHERE enterprise = '{SS}' AND seq = 39",
        f"UPDATE audit_log SET seq = 39 WHERE enterprise = '{SS}' AND seq = 1038",
    ),
    # the head the enterprise recorded (a table the trail's entries are not in)
    "head-seq-cut": f"UPDATE enterprises SET audit_seq = 38 WHERE number = '{SS}'",
    "head-seq-ahead": f"UPDATE enterprises SET audit_seq = 40 WHERE number = '{SS}'",
    "head-hash": f"UPDATE enterprises SET audit_head = 'x' WHERE number = '{SS}'",
    "head-none": f"UPDATE enterprises SET audit_seq = 0, audit_head = '' WHERE number = '{SS}'",
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_every_value_the_report_takes_from_the_trail_is_verified(run, reviewed, store_url, case) -> None:  # noqa: F811
    """Attacked: each column of audit_runs, audit_log and the recorded head that the report's
    "granted", "by", "added since the last signed review" and "last signed review" come from,
    rewritten by hand.  Must hold: `review` refuses (exit 7, nothing on standard output), as
    `audit verify` does, and the same report with the override says it may be false."""
    statements = TAMPERED[case] if isinstance(TAMPERED[case], tuple) else (TAMPERED[case],)
    bypass_append_only(store_url, statements[0])
    for statement in statements[1:]:
        outside_write(store_url, statement)
    assert not verified_by_audit_verify(run, store_url)
    refused = review(run, store_url, SS)
    assert (refused.exit_code, refused.stdout) == (7, ""), refused.output
    assert "does not verify" in refused.stderr
    shown = review(run, store_url, SS, "--format", "json", "--allow-broken-audit-trail")
    assert shown.exit_code == 0 and "may be false" in shown.stderr
    assert json.loads(shown.stdout)["enterprises"][0]["enterprise"] == SS


def test_one_broken_trail_among_several_stops_the_whole_report(run, two, store_url) -> None:
    """Attacked: the small employer's applies credited to someone else (audit_runs only), the
    secretariat's trail intact.  Must hold: every report that holds the small employer, named or
    not, in any order, refuses and names only its problems; the secretariat alone is shown."""
    for named in ((), (SS, SMALL), (SMALL, SS), (SMALL,)):
        assert review(run, store_url, *named).exit_code == 0
    break_runs(store_url, SMALL)
    for named in ((), (SS, SMALL), (SMALL, SS), (SMALL,)):
        refused = review(run, store_url, *named)
        assert (refused.exit_code, refused.stdout) == (7, ""), named
        assert f"{SMALL}: entry 1 was altered" in refused.stderr and f"{SS}:" not in refused.stderr
        assert "mallory" not in refused.stderr
    assert review(run, store_url, SS).exit_code == 0


def test_a_broken_trail_writes_no_report_file_in_any_format(run, two, store_url, tmp_path: Path) -> None:
    """Attacked: `review --out FILE` in every format with a trail that does not verify.  Must hold:
    no file is created, an existing one keeps what it held.  With the override the file is written
    and the warning goes to standard error only: the file itself says nothing of it (see the
    report's remarks)."""
    break_runs(store_url, SMALL)
    kept = tmp_path / "kept"
    kept.write_text("what the last report said", encoding="utf-8")
    for output_format in FORMATS:
        fresh = tmp_path / f"fresh.{output_format}"
        for out in (fresh, kept):
            refused = review(run, store_url, "--format", output_format, "--out", str(out))
            assert (refused.exit_code, refused.stdout) == (7, ""), output_format
        assert not fresh.exists() and kept.read_text(encoding="utf-8") == "what the last report said"
    out = tmp_path / "anyway.json"
    shown = review(run, store_url, "--format", "json", "--out", str(out), "--allow-broken-audit-trail")
    assert shown.exit_code == 0 and "may be false" in shown.stderr and "written to" in shown.stderr
    document = json.loads(out.read_text(encoding="utf-8"))
    assert {e["enterprise"] for e in document["enterprises"]} == {SS, SMALL}
    assert "may be false" not in out.read_text(encoding="utf-8")


def test_sign_behaves_as_before(run, reviewed, store, store_url) -> None:  # noqa: F811
    """--allow-broken-audit-trail now also goes with a read-only report; --actor still needs --sign;
    signing an intact trail works and what it signs is what `review` shows; a broken trail stops it
    (exit 7) and the override records itself before the signature."""
    assert review(run, store_url, SS, "--actor", SOFIE).exit_code == 1
    shown = review(run, store_url, SS, "--format", "json", "--allow-broken-audit-trail")
    assert shown.exit_code == 0 and shown.stderr == ""  # nothing broken: no warning
    digest = json.loads(shown.stdout)["enterprises"][0]["digest"]
    signed = review(run, store_url, SS, "--sign", "--actor", SOFIE)
    assert signed.exit_code == 0 and f"digest {digest}." in signed.stdout
    break_runs(store_url, SS)
    heads = store.audit_heads()
    refused = review(run, store_url, SS, "--sign", "--actor", SOFIE)
    assert refused.exit_code == 7 and store.audit_heads() == heads
    lifted = review(run, store_url, SS, "--sign", "--actor", SOFIE, "--allow-broken-audit-trail")
    assert lifted.exit_code == 0, lifted.output
    assert [e.action for e in store.audit_entries(SS)][-2:] == ["audit-override", "review-signed"]


# --- 2. Entries numbered oddly (SQLite keeps text and reals in an INTEGER column) ---------------------


def numbered_by_hand(url: str, seq: object, action: str, address: str, after: str | None = None) -> None:
    bypass_append_only(url, "SELECT 1")
    write_rows(
        url,
        "INSERT INTO audit_log (enterprise, seq, run_id, action, address, before, after, hash) "
        f"VALUES (?, ?, {run_of(39)}, ?, ?, NULL, ?, 'forged')",
        SS,
        seq,
        action,
        address,
        after,
    )


@pytest.mark.parametrize(
    "action, address",
    [("review-signed", "review"), ("create", SOFIE_AS_USER)],
    ids=["a-signature", "a-grant"],
)
def test_an_entry_numbered_with_text_is_refused_not_a_traceback(run, reviewed, store_url, action, address) -> None:  # noqa: F811
    """Found in review (SQLite). An entry numbered 'x' by hand, which verification names ("entry 'x' is
    numbered out of sequence"), crashes `review` with a TypeError before the trail is judged:
    ``review_of`` builds the report (``review_enterprise``) of every enterprise before the CLI looks
    at ``trail_problems``, and ``last_signature`` compares ``entry.seq > found.seq`` ('x' > 38) for a
    second ``review-signed`` entry; a ``create`` numbered 'x' becomes the grant's origin (``in_order``
    puts it last) and ``grant.entry > signed.entry`` compares 'x' with 38.  So the neighbour turns
    the promised "exit 7, the problems on standard error" into a traceback, with or without
    --allow-broken-audit-trail (`who` was fixed for the same entry; `review` was not).

    No trigger stands in the way: the append-only triggers stop UPDATE and DELETE, not INSERT.
    Reproduce (after an apply and a signature): sqlite3 state.db "INSERT INTO audit_log (enterprise,
    seq, run_id, action, address, before, after, hash) VALUES ('0999077729', 'x', 1, 'review-signed',
    'review', NULL, NULL, 'h')"; reconciler review 0999077729 --state sqlite:///state.db ->
    TypeError: '>' not supported between instances of 'str' and 'int'.
    Mended: the report reads only entries numbered by a whole number (``audit.numbered``), in
    ``last_signature`` and ``_origins``."""
    sqlite_only(store_url)
    numbered_by_hand(store_url, "x", action, address, json.dumps({"digest": "forged", "grants": 1}))
    try:
        refused = review(run, store_url, SS)
        shown = review(run, store_url, SS, "--format", "json", "--allow-broken-audit-trail")
    except TypeError as error:
        pytest.fail(f"review crashed instead of refusing: {error!r}")
    assert (refused.exit_code, refused.stdout) == (7, "")
    assert "entry 'x' is numbered out of sequence" in refused.stderr
    assert shown.exit_code == 0 and "may be false" in shown.stderr


@pytest.mark.parametrize(
    "action, address",
    [("review-signed", "review"), ("create", SOFIE_AS_USER)],
    ids=["a-signature", "a-grant"],
)
def test_who_refuses_an_entry_numbered_with_text(run, reviewed, store_url, action, address) -> None:  # noqa: F811
    """The same entries through `who` (``verified_presence_of``): refused, exit 7, no traceback, and
    shown under the warning with the override."""
    sqlite_only(store_url)
    numbered_by_hand(store_url, "x", action, address, json.dumps({"digest": "forged", "grants": 1}))
    refused = who(run, store_url, SOFIE)
    assert (refused.exit_code, refused.stdout) == (7, "")
    assert "entry 'x' is numbered out of sequence" in refused.stderr
    for output_format in ("text", "json"):
        shown = who(run, store_url, SOFIE, "--format", output_format, "--allow-broken-audit-trail")
        assert shown.exit_code == 0 and "may be false" in shown.stderr, shown.output


def test_who_json_under_the_override_keeps_to_its_schema(run, reviewed, store_url) -> None:  # noqa: F811
    """Found in review (SQLite, minor; mended by ``audit.numbered`` in ``_origins``). With
    --allow-broken-audit-trail, `who --format json` dated Sofie's grant from a ``create`` entry
    numbered 'x' by hand and wrote ``"entry": "x"``, which schemas/who.schema.json (an integer)
    refuses: a program reading the documented format failed.  ``_former`` left out entries not
    numbered by a whole number; ``_origins``, which dates grants, did not.  The same entry is what
    crashed `review` above.
    Reproduce: the INSERT of the 'x' test with action 'create' and address
    'enterprise[0999077729].quality[employer].user[87040208957]'; reconciler who 87040208957
    --format json --allow-broken-audit-trail."""
    sqlite_only(store_url)
    numbered_by_hand(store_url, "x", "create", SOFIE_AS_USER)
    shown = who(run, store_url, SOFIE, "--format", "json", "--allow-broken-audit-trail")
    assert shown.exit_code == 0
    assert [error.message[-60:] for error in WHO_SCHEMA.iter_errors(json.loads(shown.stdout))] == []


def test_the_page_warns_about_an_entry_numbered_with_text(store, store_url, tmp_path: Path) -> None:
    """Found in review (SQLite; mended as above), the page's side of the one above: a second
    ``review-signed`` entry numbered 'x' made /review answer 500 (the same TypeError in
    ``review_enterprise``, which ``review_page`` runs before it verifies), so the manager saw an
    error page instead of the grants under the trail warning.  Reproduce as above, then open /review as Sofie."""
    sqlite_only(store_url)
    web = page_of_sofie(store, store_url, tmp_path)
    sign_review(store, SS, SOFIE, SIGNED_AT, "run-review", 90, 14)
    assert WARNING not in web.get("/review").text
    bypass_append_only(store_url, "SELECT 1")
    write_rows(
        store_url,
        "INSERT INTO audit_log (enterprise, seq, run_id, action, address, before, after, hash) "
        "VALUES (?, 'x', 1, 'review-signed', 'review', NULL, NULL, 'forged')",
        SS,
    )
    try:
        page = web.get("/review")
    except TypeError as error:
        pytest.fail(f"the page crashed: {error!r}")
    assert page.status_code == 200 and WARNING in page.text


def test_sign_refuses_a_trail_with_an_entry_numbered_with_text(run, reviewed, store, store_url) -> None:  # noqa: F811
    """Found in review (SQLite, older than these changes, which `review --sign` kept; mended: the head
    read up to counts numbered entries only, and the chain check names the others).
    An entry numbered 'x' (action 'update', which the report itself survives) makes ``sign_review``
    fail on ``max(entry.seq for entry in entries)`` (str against int) before it checks the chain:
    a traceback instead of exit 7, and with --allow-broken-audit-trail no signature at all.
    Reproduce: the INSERT above with action 'update' and address 'enterprise[0999077729]';
    reconciler review 0999077729 --sign --actor 87040208957 --state sqlite:///state.db."""
    sqlite_only(store_url)
    numbered_by_hand(store_url, "x", "update", f"enterprise[{SS}]")
    assert review(run, store_url, SS).exit_code == 7  # the report itself refuses, as it should
    heads = store.audit_heads()
    try:
        refused = review(run, store_url, SS, "--sign", "--actor", SOFIE)
    except TypeError as error:
        pytest.fail(f"review --sign crashed instead of refusing: {error!r}")
    assert refused.exit_code == 7 and "numbered out of sequence" in refused.stderr
    assert store.audit_heads() == heads


@pytest.mark.parametrize("seq", [38.5, 0, -1, 2**62], ids=["real", "zero", "negative", "huge"])
def test_entries_numbered_oddly_with_numbers_are_refused(run, reviewed, store_url, seq) -> None:  # noqa: F811
    """A signature numbered 38.5 (SQLite keeps the real) would sit between the real signature and
    Sofie's grant, and take her grant's "added since the last signed review" away; numbered 0,
    -1 or far ahead, it is outside the chain.  Must hold: refused, the number named."""
    if isinstance(seq, float):
        sqlite_only(store_url)
    numbered_by_hand(store_url, seq, "review-signed", "review", json.dumps({"digest": "f", "grants": 1}))
    refused = review(run, store_url, SS)
    assert (refused.exit_code, refused.stdout) == (7, ""), refused.output
    assert "does not verify" in refused.stderr


def test_a_sequence_of_another_type_in_postgresql_is_refused(run, reviewed, store_url) -> None:  # noqa: F811
    """Found in review (PostgreSQL; the same cause as the 'x' above, mended the same way). The
    neighbour who may disable the
    triggers (the table's owner) may also change the column's type: ``ALTER TABLE audit_log ALTER
    COLUMN seq TYPE numeric``.  Every seq then reads as a ``Decimal``, which ``verify`` names ("entry
    Decimal('1') is numbered out of sequence"), but ``review_enterprise`` runs first and its digest
    (``orjson.dumps`` of the canonical JSON, whose grants hold the entry's number) raises
    "TypeError: Type is not JSON serializable: decimal.Decimal": `review` ends in a traceback, not
    exit 7, and the page in a 500.
    Reproduce: psql -c 'ALTER TABLE audit_log ALTER COLUMN seq TYPE numeric'; reconciler review
    0999077729 --state postgresql://...
    Mended: every entry that is not numbered by an ``int`` is outside the chain wherever the report
    reads it."""
    if not store_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    outside_write(store_url, "ALTER TABLE audit_log ALTER COLUMN seq TYPE numeric")
    try:
        refused = review(run, store_url, SS)
    except TypeError as error:
        pytest.fail(f"review crashed instead of refusing: {error!r}")
    assert (refused.exit_code, refused.stdout) == (7, ""), refused.output
    for output_format in FORMATS:
        shown = review(run, store_url, SS, "--format", output_format, "--allow-broken-audit-trail")
        assert shown.exit_code == 0, (output_format, shown.output)


# --- 3. A trail that verifies, and a report that is still false ------------------------------------


def test_a_grant_put_back_by_hand_is_not_dated_by_the_apply_a_later_apply_undid(
    run,
    reviewed,  # noqa: F811
    store,
    store_url,
    tmp_path: Path,
) -> None:
    """Found in review (in ``plan.grants._origins``, older than these changes, and what the new guarantee
    rests on). Karim's user grant was made by the first apply (entry 24, 5 January, by the legal
    representative), reviewed and signed (entry 38), then removed by Sofie's apply (a ``delete``
    entry).  The neighbour puts his person and user rows back by hand, after the signature.  The
    trail is intact and verifies (no entry was touched) and `review` exits 0, but it reports the
    grant as "granted 2026-01-05 by legal-representative", from entry 24, with no "added since the
    last signed review": ``_origins`` takes the last ``create`` of an address and ignores the
    ``delete`` after it.  The reviewer reads a hand-made grant as one an apply made and a review
    already approved.  By the same reading of the code, a main or quality access manager given
    back by hand is dated by the entry that first made them holder (``became`` ignores later holders).
    No trigger is dropped: this is a plain write to the record tables (``drift`` sees it; `review`
    and the page do not).
    Reproduce: apply, sign, remove a user by apply, INSERT the persons and users rows back, then
    reconciler review --format json: the grant's "granted" is the first apply's entry.
    Mended: a record the trail removes loses its origin, so written back by hand it is "not in the
    audit trail"."""
    karim_removed(store, tmp_path)
    removal = max(e.seq for e in store.audit_entries(SS) if e.address == KARIM_AS_USER and e.action == "delete")
    outside_write(
        store_url,
        "INSERT INTO persons (enterprise, ssin, name, email) "
        f"VALUES ('{SS}', '{KARIM}', 'Karim Lambert', 'karim.lambert@ssdv.example')",
    )
    outside_write(
        store_url,
        "INSERT INTO users (enterprise, quality, ssin, services, protected, profiles) "
        f"VALUES ('{SS}', 'social-secretariat', '{KARIM}', 'dimona dmfa mahis', 0, 'declarations')",
    )
    assert verified_by_audit_verify(run, store_url)
    shown = review(run, store_url, SS, "--format", "json")
    assert shown.exit_code == 0
    [grant] = [g for g in json.loads(shown.stdout)["enterprises"][0]["grants"] if g["ssin"] == KARIM]
    granted = grant["granted"]
    assert granted is None or granted["entry"] > removal, (
        f"a grant written by hand after entry {removal} removed it is reported as granted at "
        f"{granted['at']} by {granted['actor']} (entry {granted['entry']}), flags {grant['flags']}"
    )


def test_a_cut_tail_with_a_rewritten_head_is_caught_by_a_kept_head(run, reviewed, store, store_url) -> None:  # noqa: F811
    """The known limit: cutting the tail (Sofie's grant, entry 39) and rewriting the recorded head
    passes verification, and `review` then shows her grant as "not in the audit trail" without
    "added since the last signed review".  What holds: the grant is not dated falsely, and
    `audit verify --head` with the head printed by the apply (kept in a CI log) catches it."""
    kept = store.audit_heads()[SS][1]
    bypass_append_only(store_url, f"DELETE FROM audit_log WHERE enterprise = '{SS}' AND seq = 39")
    outside_write(
        store_url,
        f"UPDATE enterprises SET audit_seq = 38, audit_head = (SELECT hash FROM audit_log "
        f"WHERE enterprise = '{SS}' AND seq = 38) WHERE number = '{SS}'",
    )
    shown = review(run, store_url, SS, "--format", "json")
    assert shown.exit_code == 0  # the limit
    grants = json.loads(shown.stdout)["enterprises"][0]["grants"]
    [sofie] = [g for g in grants if g["ssin"] == SOFIE and g["role"] == "user"]
    assert sofie["granted"] is None and FLAG_ADDED not in sofie["flags"]
    assert "not in the audit trail" in review(run, store_url, SS).stdout
    caught = run("audit", "verify", "--state", store_url, "--head", kept)
    assert caught.exit_code == 1 and "is not in the audit trail" in caught.stderr


@pytest.fixture
def keyed(monkeypatch, store, tmp_path: Path):
    """``reviewed`` with every entry chained under RECONCILER_AUDIT_KEY."""
    monkeypatch.setenv(audit.KEY_ENV, "the key the neighbour does not have")
    from tests.test_who import secretariat_with_sofie_active, sofie_made_a_user

    declared = secretariat_with_sofie_active(store, tmp_path)
    sign_review(store, SS, SOFIE, SIGNED_AT, "run-review", 90, 14)
    sofie_made_a_user(store, declared)
    return store


def test_a_keyed_trail_rewritten_in_plain_sha256_is_refused(run, keyed, store_url, monkeypatch) -> None:
    """Without the key, the neighbour credits Sofie's grant to the legal representative in
    audit_runs, hashes the whole chain again in plain SHA-256 and records the new head.  Must hold:
    `review` with the key refuses ("does not end in a keyed entry").  The limit, as documented: a
    reviewer without the key cannot tell (plain SHA-256 is anyone's), though on the intact keyed
    trail they are refused rather than shown what they cannot check."""
    monkeypatch.delenv(audit.KEY_ENV)
    unchecked = review(run, store_url, SS)
    assert unchecked.exit_code == 7 and f"set {audit.KEY_ENV}" in unchecked.stderr
    monkeypatch.setenv(audit.KEY_ENV, "the key the neighbour does not have")
    assert review(run, store_url, SS).exit_code == 0
    bypass_append_only(store_url, f"UPDATE audit_runs SET actor = '{LEGAL}' WHERE id = {run_of(39)}")
    forge_plain(store_url, SS, range(1, 40), {}, head=True)
    refused = review(run, store_url, SS)
    assert (refused.exit_code, refused.stdout) == (7, ""), refused.output
    assert "does not end in a keyed entry" in refused.stderr
    monkeypatch.delenv(audit.KEY_ENV)
    assert review(run, store_url, SS).exit_code == 0  # the limit


# --- 4. Read at two moments: an apply in between -------------------------------------------------------


class AnApplyAfterEachRead:
    """Wraps a store's audit reads so that a signature of the secretariat commits right after the
    first of them returns: whatever the trail is verified with that was read apart from the entries
    then disagrees with them."""

    READS = ("audit_heads", "audit_entries", "audit_trail")

    def __init__(self, store, url: str) -> None:
        self.store, self.other, self.done = store, open_store(url), False
        for name in self.READS:
            setattr(store, name, self._wrapped(getattr(store, name)))

    def _wrapped(self, read):
        def wrapped(*args, **kwargs):
            found = read(*args, **kwargs)
            if not self.done:
                self.done = True
                sign_review(self.other, SS, SOFIE, ASKED, "run-meanwhile", 90, 14)
            return found

        return wrapped

    def close(self) -> None:
        self.other.close()
        for name in self.READS:
            delattr(self.store, name)


def test_an_apply_while_review_reads_is_not_a_broken_trail(run, reviewed, store, store_url) -> None:  # noqa: F811
    """Found in review (a race, new with the verification): ``review_of`` read every head first and
    each enterprise's entries later, each in a snapshot of its own, so an apply committed in between
    (here a signature) made `review` say "the trail ends at entry 40 but the enterprise recorded 39:
    entries were deleted" and exit 7: a false alarm of tampering, which teaches reviewers to pass
    --allow-broken-audit-trail.  Mended: each enterprise's entries and head are read together
    (``Store.audit_trail``)."""
    meanwhile = AnApplyAfterEachRead(store, store_url)
    try:
        found, missing = review_of(store, [SS], ASKED, 90, 14)
    finally:
        meanwhile.close()
    assert meanwhile.done  # the apply did come in between
    assert verified_by_audit_verify(run, store_url)  # nobody touched the trail
    assert missing == [] and found.trail_problems == ()


def test_an_apply_while_the_page_reads_is_not_a_broken_trail(run, reviewed, store, store_url) -> None:  # noqa: F811
    """Found in review (the same race on the page, the other way round): ``review_page`` read the
    entries, then the heads; a signature committed in between made the head run ahead of the
    entries read, and the manager was told the record "may have been changed" and to call their IT
    department.  Mended as above."""
    meanwhile = AnApplyAfterEachRead(store, store_url)
    try:
        page = review_page(store, store.account_of(SS, SOFIE), ASKED)
    finally:
        meanwhile.close()
    assert meanwhile.done
    assert verified_by_audit_verify(run, store_url)
    assert page is not None and page.trail_verifies


def test_an_apply_while_who_reads_is_not_a_broken_trail(run, reviewed, store, store_url) -> None:  # noqa: F811
    """The same race for `who`, which read every head before the entries too."""
    meanwhile = AnApplyAfterEachRead(store, store_url)
    try:
        found, problems = verified_presence_of(store, SOFIE)
    finally:
        meanwhile.close()
    assert meanwhile.done and found and problems == []


# --- 5. Problems on standard error are data ---------------------------------------------------------------


def ghost_enterprise(url: str, number: str) -> None:
    """An enterprise row and one entry, numbered by hand with what a terminal or a reader obeys."""
    write_rows(
        url,
        "INSERT INTO enterprises (number, name, version, audit_seq, audit_head) VALUES (?, ?, 1, 1, ?)",
        number,
        f"Ghost{ESC}[2J",
        f"head{RLO}",
    )
    write_rows(
        url, "INSERT INTO persons (enterprise, ssin, name, email) VALUES (?, ?, 'G', 'g@x.example')", number, SOFIE
    )
    write_rows(url, "UPDATE enterprises SET main_access_manager = ? WHERE number = ?", SOFIE, number)  # listed
    write_rows(
        url,
        "INSERT INTO audit_log (enterprise, seq, run_id, action, address, before, after, hash) "
        f"VALUES (?, 1, {run_of(1)}, 'create', ?, NULL, NULL, ?)",
        number,
        f"enterprise[{number}]",
        f"forged{ESC}]0;owned\x07",
    )


HOSTILE_NUMBER = f"0{ESC}{RLO}{LRI}\u200f\u0085\u2028<\r9"  # ten characters, as the schema checks


def test_the_problems_of_a_hostile_enterprise_are_data_on_standard_error(run, reviewed, store_url) -> None:  # noqa: F811
    """Attacked: `review` of every enterprise, one of them written by hand with a number holding an
    escape sequence, bidirectional controls, a next-line, a line separator and a carriage return.
    Must hold: refused, every character of it escaped on standard error; with the override, the
    report's own output is terminal-safe too."""
    ghost_enterprise(store_url, HOSTILE_NUMBER)
    refused = review(run, store_url)
    assert (refused.exit_code, refused.stdout) == (7, ""), refused.output
    assert terminal_safe(refused.stderr), ascii(refused.stderr)
    assert f"{neutral.text(HOSTILE_NUMBER)}: entry 1 was altered" in refused.stderr
    anyway = review(run, store_url, "--allow-broken-audit-trail")
    assert anyway.exit_code == 0 and terminal_safe(anyway.stderr) and terminal_safe(anyway.stdout)


def test_a_sequence_number_that_is_hostile_text_is_data(run, reviewed, store_url) -> None:  # noqa: F811
    """SQLite: an entry numbered with an escape sequence and a right-to-left override (action
    'update', which the report survives).  Must hold: its number is named as data."""
    sqlite_only(store_url)
    numbered_by_hand(store_url, f"7{ESC}[31m{RLO}{LRI}", "update", f"enterprise[{SS}]")
    refused = review(run, store_url, SS)
    assert (refused.exit_code, refused.stdout) == (7, "")
    assert terminal_safe(refused.stderr) and "numbered out of sequence" in refused.stderr


# --- 6. The page ------------------------------------------------------------------------------------------


def page_of_sofie(store, store_url: str, tmp_path: Path, small: bool = False):
    """Sofie signed in on the secretariat's review page; the small employer applied after, in an
    apply of its own (an apply of both would share its audit_runs row between their trails)."""
    apply_paths(store, EXAMPLES / "social-secretariat", now=CREATED)
    letters = tmp_path / "letters"
    issue_codes(store, LetterBox(str(letters)), None, CREATED, "l", "r")
    activate(store, letters, SOFIE)
    if small:
        apply_paths(store, SMALL_FILE, now=CREATED)
    web = create_app(store_url, secret_key="test", clock=lambda: ASKED).test_client()
    log_in(web, "sclaes")
    web.get("/language/en?next=/review")
    return web


HOSTILE_ACTOR = "<script>alert(1)</script>\u202e<img src=x onerror=alert(2)>"


@pytest.mark.parametrize(
    "where",
    ["runs-actor", "runs-at", "head"],
)
def test_the_page_warns_when_the_trail_is_broken_outside_audit_log(store, store_url, tmp_path, where) -> None:
    """Attacked: the trail broken only in audit_runs (an actor that is markup, a date) or only in
    the head the enterprise recorded.  Must hold: the warning, above the grants; the forged actor
    shown as text; nothing of the problems (entry numbers, hashes) on the page."""
    web = page_of_sofie(store, store_url, tmp_path)
    assert WARNING not in web.get("/review").text
    statement = {
        "runs-actor": "UPDATE audit_runs SET actor = ? WHERE id = (SELECT min(id) FROM audit_runs)",
        "runs-at": "UPDATE audit_runs SET at = '2020-01-01T00:00:00+00:00' WHERE id = (SELECT min(id) FROM audit_runs)",
        "head": f"UPDATE enterprises SET audit_head = 'x' WHERE number = '{SS}'",
    }[where]
    bypass_append_only(store_url, "SELECT 1")
    write_rows(store_url, statement, *((HOSTILE_ACTOR,) if "?" in statement else ()))
    page = web.get("/review")
    assert page.status_code == 200
    text = page.text
    assert WARNING in text and text.index(WARNING) < text.index('id="grants"')
    assert "<script>" not in text and "<img" not in text and RLO not in text
    assert "was altered" not in text and "does not match" not in text and "entries were deleted" not in text
    if where == "runs-actor":
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_the_page_tells_nothing_of_another_enterprise(store, store_url, tmp_path) -> None:
    """Attacked: the small employer's trail broken, then the secretariat's too.  Must hold: Sofie's
    page warns only about her own enterprise's trail and shows nothing of the small employer."""
    web = page_of_sofie(store, store_url, tmp_path, small=True)
    break_runs(store_url, SMALL)
    page = web.get("/review").text
    assert WARNING not in page and "Bakkerij" not in page and SMALL not in page and "0999.055.557" not in page
    assert web.get(f"/review/{SMALL}").status_code == 403
    assert WARNING not in web.get(f"/review/{SMALL}").text
    break_runs(store_url, SS)
    page = web.get("/review").text
    assert WARNING in page and "Bakkerij" not in page and SMALL not in page and "Els Mertens" not in page


# --- 7. who -----------------------------------------------------------------------------------------------


def test_who_verifies_the_trails_it_shows_and_only_those(run, two, store_url) -> None:
    """A broken trail elsewhere does not stop `who` for a person it does not concern; the trail of an
    enterprise the person is declared in does, and only its problems are named."""
    break_runs(store_url, SMALL)
    assert who(run, store_url, SOFIE).exit_code == 0
    refused = who(run, store_url, "75031366754")  # the small employer's main access manager
    assert (refused.exit_code, refused.stdout) == (7, "") and f"{SMALL}: entry 1 was altered" in refused.stderr
    assert f"{SS}:" not in refused.stderr


def test_who_of_a_former_person_verifies_that_trail(run, reviewed, store, store_url, tmp_path) -> None:  # noqa: F811
    """Karim removed by apply keeps his account: the trail that says who removed him is verified."""
    karim_removed(store, tmp_path)
    assert who(run, store_url, KARIM).exit_code == 1  # shown, declared nowhere any more
    bypass_append_only(store_url, "UPDATE audit_runs SET actor = 'mallory' WHERE run = 'run-0003'")
    refused = who(run, store_url, KARIM)
    assert (refused.exit_code, refused.stdout) == (7, "") and "mallory" not in refused.stderr


# --- 8. Enterprise numbers without stdnum ------------------------------------------------------------------


def outcome(check, number: str) -> str | None:
    try:
        return check(number)
    except (identifiers.InvalidIdentifier, ValidationError):
        return None


# Every character str.isdigit() accepts, by script; the decimal ones by value.
ALL_DIGITS = "".join(chr(c) for c in range(0x110000) if chr(c).isdigit())
BY_VALUE = {d: [c for c in ALL_DIGITS if unicodedata.decimal(c, None) == d] for d in range(10)}
DOT_LIKE = [".", ".", ".", "\u2024", "\uff0e", "\u3002", "\u00b7", "\ufe52", "\u2027", ",", "-", " ", "/", ""]
SPACE_LIKE = ["", "", " ", "\u00a0", "\t", "\u2007", "\u202f", "\n", "\u3000"]
PREFIXES = ["", "", "BE", "be", "Be", "BE ", "BE.", "(0)", "0"]


def valid_compact(draw) -> str:
    first = draw(st.sampled_from([0, 1, 0, 1, 2, 9]))
    base = first * 10_000_000 + draw(st.integers(0, 9_999_999))
    check = 97 - base % 97
    if draw(st.integers(0, 9)) == 0:
        check = draw(st.integers(0, 99))  # wrong check digits, sometimes
    return f"{base:08d}{check:02d}"


def other_script(draw, number: str) -> str:
    return "".join(
        draw(st.sampled_from(BY_VALUE[int(d)])) if d.isdigit() and draw(st.integers(0, 3)) == 0 else d for d in number
    )


@st.composite
def dotted_odd(draw) -> str:
    """A dotted number as a hostile author writes it: other dots, other digits, spaces around, a
    prefix, a digit more or less (lengths 11 to 13 around the fast path's 12)."""
    number = valid_compact(draw)
    cut = draw(st.sampled_from([None, None, "drop", "add"]))
    if cut == "drop":
        number = number[1:]
    elif cut == "add":
        number = number + draw(st.sampled_from("0123456789"))
    number = other_script(draw, number) if draw(st.booleans()) else number
    first, second = draw(st.sampled_from([(4, 7), (4, 7), (4, 7), (3, 6), (4, 8), (3, 7)]))
    text = (
        number[:first] + draw(st.sampled_from(DOT_LIKE)) + number[first:second] + draw(st.sampled_from(DOT_LIKE))
    ) + number[second:]
    return (
        draw(st.sampled_from(SPACE_LIKE)) + draw(st.sampled_from(PREFIXES)) + text + draw(st.sampled_from(SPACE_LIKE))
    )


ODD_CHARACTERS = [c for c in DOT_LIKE + SPACE_LIKE + list("BE0123456789") + list(ALL_DIGITS[::7]) if c]


@st.composite
def dotted_mutated(draw) -> str:
    """``dddd.ddd.ddd`` (the fast path's shape, right or wrong check digits) with one character
    replaced, inserted or deleted: lengths 11 to 13, right at the fast path's edges."""
    number = valid_compact(draw)
    text = f"{number[:4]}.{number[4:7]}.{number[7:]}"
    where = draw(st.integers(0, len(text)))
    how = draw(st.sampled_from(["keep", "replace", "insert", "delete"]))
    odd = draw(st.sampled_from(ODD_CHARACTERS))
    if how == "replace" and where < len(text):
        return text[:where] + odd + text[where + 1 :]
    if how == "insert":
        return text[:where] + odd + text[where:]
    if how == "delete" and where < len(text):
        return text[:where] + text[where + 1 :]
    return text


@settings(max_examples=3000, deadline=None)
@given(
    st.one_of(
        dotted_mutated(),
        dotted_odd(),
        st.text(
            st.sampled_from([c for c in list("0123456789.. B E") + DOT_LIKE + list(ALL_DIGITS[::12]) if c]),
            min_size=11,
            max_size=13,
        ),
    )
)
@example("0403.019.261")
@example(" 0403.019.261")
@example("0403.019.261 ")
@example("BE0403.019.261")
@example("0403\u2024019\u2024261")
@example("0403\uff0e019\uff0e261")
@example("０４０３.０１９.２６１")
@example("0403.019.26١")
@example("0000.000.000")
@example("1000.000.097")
@example("403.019.261")  # nine digits: stdnum adds the 0
@example("0403.019.2610")
@example("0403..19.261")
@example("0403.019.261\n")
@example("04030.19.261")
def test_the_dotted_fast_path_agrees_with_stdnum_on_odd_input(number: str) -> None:
    assert outcome(identifiers.enterprise_number, number) == outcome(vat.validate, number)


def previous_is_enterprise_number(text: str) -> bool:
    return vat.is_valid(text) and text.isdigit() and len(text) == 10


@st.composite
def ten_digits_any_script(draw) -> str:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.text(st.sampled_from(ALL_DIGITS), min_size=10, max_size=10))
    if kind == 1:
        return f"{draw(st.integers(0, 9_999_999_999)):010d}"
    number = valid_compact(draw)
    return other_script(draw, number) if kind == 2 else number


@settings(max_examples=3000, deadline=None)
@given(ten_digits_any_script())
@example("0403019261")
@example("０４０３０１９２６１")
@example("٠٤٠٣٠١٩٢٦١")
@example("0000000000")
@example("0000000097")
@example("²403019261")
@example("0403019261\u0660"[:10])
def test_is_enterprise_number_agrees_with_its_previous_definition(text: str) -> None:
    assert identifiers.is_enterprise_number(text) == previous_is_enterprise_number(text)


def test_compact_and_dotted_numbers_do_not_import_stdnum_and_others_do() -> None:
    code = (
        "import sys\n"
        "from reconciler.declare import identifiers as i\n"
        "assert i.enterprise_number('0403.019.261') == '0403019261'\n"
        "assert i.enterprise_number('0403019261') == '0403019261'\n"
        "assert i.is_enterprise_number('0403019261') and not i.is_enterprise_number('0403019262')\n"
        "assert i.ssin('87040208957') == '87040208957'\n"
        "print('stdnum' in sys.modules)\n"
        "assert i.enterprise_number('BE 0403.019.261') == '0403019261'\n"
        "print('stdnum' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]


def test_the_cache_salt_names_the_stdnum_that_is_installed() -> None:
    import stdnum

    assert verdicts._stdnum_version() == stdnum.__version__
    assert f"stdnum={stdnum.__version__}".encode() in verdicts.salt()
