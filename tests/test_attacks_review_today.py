"""Hostile review of three changes: thousand-row inserts and SQLite's temp_store during an apply,
``who`` showing enterprises that removed a person (former), and dormant accounts on the overview.

Each test is a defence that holds.  Five were defects when written, fixed since (their docstrings
say what had happened).
"""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import EXAMPLES, outside_write
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.accounts.delivery import LetterBox
from reconciler.accounts.lifecycle import issue_codes
from reconciler.accounts.overview import overview
from reconciler.store import behind
from reconciler.store.backends import open_store
from reconciler.store.usernames import base_username
from reconciler.web.app import create_app
from tests.test_hostile_names import write_rows
from tests.test_languages import sign_in_sofie
from tests.test_lifecycle import NOW, PIETER, apply_paths
from tests.test_who import (
    KARIM,
    SCHEMA,
    SOFIE,
    SS,
    secretariat_with_sofie_active,
    sofie_made_a_user,
    who,
)

E = "0999055557"
RUN = ("id", "at", "actor", "run", "plan_hash", "commit_sha", "overrides")  # audit_runs: no parents
AT = datetime(2026, 11, 30, tzinfo=UTC)
GHOST = "0000000097"  # an enterprise number no enterprise row holds
NOBODY = "58022754967"  # a valid SSIN the examples do not declare
ESC, RLO = "\x1b", "\u202e"


def outside(url: str, statement: str, params: tuple = ()) -> None:
    """A write made with another tool, with parameters (so any text, bytes too in SQLite, goes in)."""
    write_rows(url, statement, *params)


def sqlite_only(url: str) -> None:
    if not url.startswith("sqlite"):
        pytest.skip("SQLite only")


# --- 1. Thousand-row statements ------------------------------------------------------------------


def count_runs(store) -> int:
    with store._snapshot():
        return store._rows("SELECT count(*) FROM audit_runs")[0][0]


def temp_store(store) -> int | None:
    if not store.url.startswith("sqlite"):
        return None
    return store.connection.execute("PRAGMA temp_store").fetchone()[0]


def test_a_values_limit_below_the_column_count_goes_row_by_row(store, monkeypatch) -> None:
    """A limit smaller than one row's values: one row a statement (nothing divides by zero rows)."""
    monkeypatch.setattr(type(store), "_values_limit", lambda self: 3)
    sizes: list[int] = []
    real_q = store.q

    def counting(sql: str) -> str:
        if sql.startswith("INSERT INTO audit_runs"):
            sizes.append(sql.count("(") - 1)
        return real_q(sql)

    monkeypatch.setattr(store, "q", counting)
    rows = [(n, f"at {n}", None, "r", "p", None, "") for n in range(1, 26)]
    with store.transaction(AT, [E], "r"):
        store.insert_rows("audit_runs", RUN, rows)
    monkeypatch.undo()
    assert set(sizes) == {1}
    assert count_runs(store) == 25


@pytest.mark.parametrize("duplicate_at", [700, 1050], ids=["in-the-thousand", "in-the-hundreds-after"])
def test_a_failure_inside_a_large_statement_leaves_the_store_as_it_was(store, duplicate_at: int) -> None:
    """A key repeated deep inside a statement of a thousand rows (or of the hundreds after it): the
    whole transaction rolls back, rows written before it stay, temp_store is the default again, and
    the store takes the next apply."""
    with store.transaction(AT, [E], "before"):
        store.insert_rows("audit_runs", RUN, [(50_000, "kept", None, "r", "p", None, "")])
    rows = [(n, f"at {n}", None, "r", "p", None, "") for n in range(1, 1101)]
    rows[duplicate_at - 1] = (3, "again", None, "r", "p", None, "")  # the key of row 3
    with pytest.raises(Exception, match=r"UNIQUE|unique|duplicate"), store.transaction(AT, [E], "r"):
        store.insert_rows("audit_runs", RUN, rows)
        store.later("INSERT INTO registry (lineage) VALUES ('after the failure')")
    assert store._behind is None
    assert count_runs(store) == 1
    assert temp_store(store) in (None, 0)
    with store.transaction(AT, [E], "next"):
        store.insert_rows("audit_runs", RUN, [(n, "t", None, "r", "p", None, "") for n in range(1, 1002)])
    assert count_runs(store) == 1002


def test_nulls_huge_and_odd_text_go_through_a_thousand_row_statement(store) -> None:
    huge = "é" * 2_000_000 + RLO + "\n'); DROP TABLE audit_runs; --"
    rows = [
        (n, f"{n}\t'\"?%s$1", None if n % 2 else f"actor {n}", "r" * (n % 7), "p", None, "ö" * (n % 13))
        for n in range(1, 1002)
    ]
    rows[499] = (500, huge, None, "r", "p", None, "")
    with store.transaction(AT, [E], "r"):
        store.insert_rows("audit_runs", RUN, rows)
    with store._snapshot():
        back = store._rows(f"SELECT {', '.join(RUN)} FROM audit_runs ORDER BY id")
    assert [tuple(row) for row in back] == rows


def test_the_postgresql_values_limit_is_one_postgresql_accepts(store, monkeypatch) -> None:
    """65,535 values in one statement (reached when more rows would go to a statement)."""
    if store.url.startswith("sqlite"):
        pytest.skip("PostgreSQL only")
    monkeypatch.setattr(behind, "ROWS_PER_STATEMENT", 100_000)
    columns = RUN[:5]  # id, at, actor, run, plan_hash: 65,535 // 5 = 13,107 rows a statement
    rows = [(n, "t", None, "r", "p") for n in range(1, 13_108)]
    with store.transaction(AT, [E], "r"):
        store.insert_rows("audit_runs", (*columns, "overrides"), [(*row, "") for row in rows])
    assert count_runs(store) == 13_107


# --- 1b. temp_store = MEMORY only while an apply writes --------------------------------------------


@pytest.fixture
def lite(tmp_path: Path):
    opened = open_store(f"sqlite:///{tmp_path / 'state.db'}", lock_timeout=0.05)
    yield opened
    opened.close()


def test_temp_store_is_reset_after_an_interrupt_in_the_body(lite) -> None:
    with pytest.raises(KeyboardInterrupt), lite.transaction(AT, [E], "r"):
        lite.insert_rows("audit_runs", RUN, [(n, "t", None, "r", "p", None, "") for n in range(1, 1500)])
        raise KeyboardInterrupt
    assert (lite.connection.in_transaction, temp_store(lite), count_runs(lite)) == (False, 0, 0)


def test_temp_store_is_reset_when_the_commit_itself_fails(lite) -> None:
    """A deferred foreign key fails at COMMIT: the transaction rolls back and temp_store is reset."""
    with pytest.raises(sqlite3.IntegrityError), lite.transaction(AT, [E], "r"):
        lite.connection.execute(
            f"INSERT INTO persons (enterprise, ssin, name, email) VALUES ('{GHOST}', '{NOBODY}', 'x', 'x@x.example')"
        )
    assert (lite.connection.in_transaction, temp_store(lite)) == (False, 0)
    with lite._snapshot():
        assert lite._rows("SELECT count(*) FROM persons") == [(0,)]


class InterruptedAfterBegin:
    """The connection, with Ctrl-C arriving just as BEGIN IMMEDIATE returns (after a wait for the lock:
    CPython raises a pending KeyboardInterrupt at the first check after the C call)."""

    def __init__(self, real: sqlite3.Connection) -> None:
        self.real = real

    def __getattr__(self, name: str):
        return getattr(self.real, name)

    def execute(self, sql: str, *args):
        result = self.real.execute(sql, *args)
        if sql == "BEGIN IMMEDIATE":
            raise KeyboardInterrupt
        return result


def test_temp_store_and_the_lock_after_an_interrupt_just_after_begin(lite) -> None:
    """Was a defect: the interrupt landed between BEGIN IMMEDIATE and the ``try`` that rolls back and
    resets, so the connection stayed in the transaction (the write lock held) with temp_store MEMORY."""
    real = lite._connection
    lite._connection = InterruptedAfterBegin(real)
    try:
        with pytest.raises(KeyboardInterrupt), lite.transaction(AT, [E], "r"):
            pass
    finally:
        lite._connection = real
    state = (real.in_transaction, real.execute("PRAGMA temp_store").fetchone()[0])
    if real.in_transaction:
        real.execute("ROLLBACK")
    assert state == (False, 0)


# --- 1c. ASCII names skip decomposition ------------------------------------------------------------


def old_base_username(name: str) -> str:
    """base_username before the change."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    words = re.findall(r"[a-z]+", ascii_name)
    if not words:
        return "user"
    return (words[0][0] + "".join(words[1:]))[:16] if len(words) > 1 else words[0][:16]


CORPUS = [
    "",
    " ",
    "Els Van den Broeck",
    "ELS VAN DEN BROECK",
    "\x00\x1b[2J\x7f",
    "O'Brien-Smith Jr.",
    "Zoë Ĳsselmeer",
    "ﬁona Ǆuric",
    "Kelvin \u212a",
    "İlkay Işık",
    "Straße Groß",
    "ＡＢＣ ｄｅｆ",
    "١٢٣ عربي",
    "Ǆ\u0301\u0327",
    "a" * 100,
    "x " * 50,
    "\u202eevil\u202c name",
    "Ω ω µ",
]


@pytest.mark.parametrize("name", CORPUS)
def test_user_names_are_those_made_before_the_fast_path(name: str) -> None:
    assert base_username(name) == old_base_username(name)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=40) | st.text(alphabet=st.characters(max_codepoint=127), max_size=40))
def test_user_names_are_those_made_before_for_any_text(name: str) -> None:
    assert base_username(name) == old_base_username(name)


# --- 2. who: former enterprises ----------------------------------------------------------------------


@pytest.fixture
def trail(store, tmp_path: Path):
    """The secretariat applied, Sofie active and a user for four weeks (test_who's history)."""
    sofie_made_a_user(store, secretariat_with_sofie_active(store, tmp_path))
    return store


def karim_removed_by_hand(url: str) -> None:
    outside_write(url, f"DELETE FROM users WHERE ssin = '{KARIM}'")
    outside_write(url, f"DELETE FROM persons WHERE ssin = '{KARIM}'")


KARIM_ADDRESS = f"enterprise[{SS}].person[{KARIM}]"


def forge_entry(url: str, run_id: int, seq: int = 100_000, before=None, after=None, action: str = "delete") -> None:
    outside(
        url,
        "INSERT INTO audit_log (enterprise, seq, run_id, action, address, before, after, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (SS, seq, run_id, action, KARIM_ADDRESS, before, after, "forged"),
    )


def forge_run(url: str, run_id: int, at: str, actor: str | None, run: str, plan_hash: str) -> None:
    outside(
        url,
        "INSERT INTO audit_runs (id, at, actor, run, plan_hash, commit_sha, overrides) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (run_id, at, actor, run, plan_hash, None, ""),
    )


def who_both(run, url: str, ssin: str):
    """Text and JSON of `who`, with exit codes; the JSON parsed.

    Entries written by hand, outside the chain, make a trail that does not verify: `who` then
    refuses to show it (exit 7, nothing on standard output), and shows it when told to, with
    --allow-broken-audit-trail; what is attacked here is what it then shows.
    """
    shown, as_json = who(run, url, ssin), who(run, url, ssin, "--format", "json")
    if 7 in (shown.exit_code, as_json.exit_code):
        assert (shown.exit_code, shown.stdout, as_json.exit_code, as_json.stdout) == (7, "", 7, "")
        shown = who(run, url, ssin, "--allow-broken-audit-trail")
        as_json = who(run, url, ssin, "--format", "json", "--allow-broken-audit-trail")
    return shown, as_json, (json.loads(as_json.stdout) if as_json.stdout else None)


def schema_errors(document: dict) -> list[str]:
    return [f"{list(error.absolute_path)}: {error.message}" for error in SCHEMA.iter_errors(document)]


def test_a_removal_entry_whose_apply_row_is_missing_still_gives_a_valid_document(run, trail, store_url) -> None:
    """Was a defect: an audit entry whose audit_runs row is gone (or never was: nothing keeps run_id
    pointing at a row) reads with NULL at and run.  `who` printed "None by unknown actor" in text and
    "at": null, "run": null in JSON, which schemas/who.schema.json refused (both were "string")."""
    karim_removed_by_hand(store_url)
    forge_entry(store_url, run_id=987_654, before=json.dumps({"name": "Karim Lambert"}))
    shown, as_json, document = who_both(run, store_url, KARIM)
    assert (shown.exit_code, as_json.exit_code) == (1, 1)
    [former] = document["enterprises"]
    assert former["declared"] is False and former["removed"]["entry"] == 100_000
    problems = schema_errors(document)
    removed_line = next(line for line in shown.stdout.splitlines() if line.startswith("  removed:"))
    assert (problems, "None" in removed_line) == ([], False), (problems, removed_line)


HOSTILE = f"{ESC}[2J{ESC}]0;owned\x07{RLO}<script>alert(1)</script>\n  grants:      none\r`@all` [x](http://e.x)"


def test_hostile_text_in_the_removal_entry_is_data_in_text_and_json(run, trail, store_url) -> None:
    karim_removed_by_hand(store_url)
    forge_run(store_url, 900_100, "2026-02-10T11:00:00+00:00" + HOSTILE, HOSTILE, "run" + HOSTILE, "p" + HOSTILE)
    forge_entry(store_url, 900_100, before=json.dumps({"name": "Karim" + HOSTILE}), action="delete" + HOSTILE)
    shown, as_json, document = who_both(run, store_url, KARIM)
    for output in (shown.stdout, as_json.stdout):
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]", output)
    lines = shown.stdout.splitlines()
    assert sum(line.startswith("  grants:") for line in lines) == 1  # no line written by the store
    assert sum(line.startswith("  removed:") for line in lines) == 1
    assert schema_errors(document) == []
    [former] = document["enterprises"]
    assert former["name"] == "Karim" + HOSTILE
    assert (former["removed"]["actor"], former["removed"]["run"]) == (HOSTILE, "run" + HOSTILE)
    assert former["removed"]["action"] == "delete" + HOSTILE


BEFORES = {
    "not-json": "{name: Karim",
    "array": "[1, 2]",
    "string": '"Karim"',
    "null": "null",
    "name-a-number": '{"name": 5}',
    "name-a-list": '{"name": ["x"]}',
    "deep": "[" * 5000 + "]" * 5000,
    "blob": b"\xff\xfe{",
}


@pytest.mark.parametrize("kind", list(BEFORES))
def test_a_removal_entry_whose_before_is_not_an_object(run, trail, store_url, kind: str) -> None:
    """The name is the last the trail gave (Karim Lambert); the entry is still the removal."""
    if kind == "blob":
        sqlite_only(store_url)
    karim_removed_by_hand(store_url)
    forge_run(store_url, 900_100, "2026-02-10T11:00:00+00:00", SOFIE, "run-x", "p")
    forge_entry(store_url, 900_100, before=BEFORES[kind])
    shown, as_json, document = who_both(run, store_url, KARIM)
    assert (shown.exit_code, as_json.exit_code) == (1, 1)
    assert "  name:        Karim Lambert" in shown.stdout
    assert "  removed:     2026-02-10T11:00:00+00:00 by 87040208957, run run-x, plan p" in shown.stdout
    assert schema_errors(document) == []
    assert document["enterprises"][0]["removed"]["entry"] == 100_000


def ghost_account(url: str, enterprise: str, ssin: str, username: str, status: str = "deactivated") -> None:
    outside(
        url,
        "INSERT INTO accounts (enterprise, ssin, username, status, created_at, password_hash, temporary_hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (enterprise, ssin, username, status, "2026-01-01T00:00:00+00:00", "$argon2id$SECRET-PW", "$argon2id$SECRET-T"),
    )


def test_an_account_whose_enterprise_row_is_missing(run, trail, store_url) -> None:
    """Sofie declared in the secretariat and holding an account in an enterprise the store does not hold;
    someone present in accounts only.  Exit codes follow what is declared; documents stay valid."""
    ghost_account(store_url, GHOST, SOFIE, "ghost-sofie")
    ghost_account(store_url, GHOST, NOBODY, "ghost-nobody", status="active")
    shown, as_json, document = who_both(run, store_url, SOFIE)
    assert (shown.exit_code, as_json.exit_code) == (0, 0)
    assert shown.stdout.startswith("Person 87040208957: declared in 1 enterprise (and formerly in 1), on ")
    assert "# enterprise 0000.000.097  (former)" in shown.stdout
    assert schema_errors(document) == []
    by_number = {e["enterprise"]: e for e in document["enterprises"]}
    assert (by_number[SS]["declared"], by_number[GHOST]["declared"]) == (True, False)
    assert by_number[GHOST]["enterprise_name"] == "" and by_number[GHOST]["removed"] is None
    shown, as_json, document = who_both(run, store_url, NOBODY)
    assert (shown.exit_code, as_json.exit_code) == (1, 1)
    assert f"no enterprise in the store declares the person {NOBODY} any more" in shown.stderr
    assert "  account:     ghost-nobody, active" in shown.stdout  # shown as it is, active too
    assert schema_errors(document) == []
    for output in (shown.stdout, as_json.stdout, who(run, store_url, SOFIE).stdout):
        assert "SECRET" not in output and "$argon2" not in output


def test_the_enterprises_come_in_the_order_the_schema_describes(run, trail, store_url) -> None:
    """Was a defect: who.schema.json says "Every enterprise that declares the person, ..., then every
    one that no longer does"; presence_of listed every enterprise by number, declared and former mixed
    (0000000097, former, before 0999077729, declared)."""
    ghost_account(store_url, GHOST, SOFIE, "ghost-sofie")
    document = json.loads(who(run, store_url, SOFIE, "--format", "json").stdout)
    assert [e["declared"] for e in document["enterprises"]] == [True, False]


def test_a_hostile_enterprise_number_in_accounts_is_data(run, trail, store_url) -> None:
    number = f"09{ESC}[2J{RLO}<b>"
    ghost_account(store_url, number, KARIM, "ghost-karim")
    shown, as_json, document = who_both(run, store_url, KARIM)
    for output in (shown.stdout, as_json.stdout):
        assert ESC not in output and RLO not in output
    assert schema_errors(document) == []
    assert number in {e["enterprise"] for e in document["enterprises"]}


def test_a_former_account_never_shows_its_hashes(run, trail, store_url) -> None:
    """Removed by hand, Karim's account keeps its codes' hash; written over with markers, none is shown."""
    karim_removed_by_hand(store_url)
    outside_write(
        store_url,
        f"UPDATE accounts SET temporary_hash = '$argon2id$TMP-MARKER', password_hash = '$argon2id$PW-MARKER' "
        f"WHERE ssin = '{KARIM}'",
    )
    shown, as_json, document = who_both(run, store_url, KARIM)
    assert document["enterprises"][0]["declared"] is False
    for output in (shown.stdout, shown.stderr, as_json.stdout):
        assert "MARKER" not in output and "$argon2" not in output


def test_a_number_in_no_row_exits_1_with_nothing_on_stdout(run, trail, store_url) -> None:
    shown, as_json, document = who_both(run, store_url, NOBODY)
    assert (shown.exit_code, as_json.exit_code, shown.stdout, as_json.stdout) == (1, 1, "", "")
    assert document is None


def test_a_sequence_number_written_as_text_does_not_crash_who(run, trail, store_url) -> None:
    """Was a defect (SQLite; older than the change): an audit_log row whose seq is text (SQLite keeps
    'x' in an INTEGER column) made the sort by seq in ``_former`` (and ``_origins`` for declared people,
    and ``audit verify``) compare int with str: a TypeError traceback instead of a message."""
    sqlite_only(store_url)
    karim_removed_by_hand(store_url)
    outside(
        store_url,
        "INSERT INTO audit_log (enterprise, seq, run_id, action, address, before, after, hash) "
        "VALUES (?, 'x', 1, 'update', ?, NULL, NULL, 'h')",
        (SS, f"enterprise[{SS}]"),
    )
    try:
        refused = who(run, store_url, KARIM)
        shown = who(run, store_url, KARIM, "--allow-broken-audit-trail")
    except TypeError as error:
        pytest.fail(f"who crashed: {error!r}")
    # The entry was written by hand: the trail does not verify, and `who` says so before anything.
    assert (refused.exit_code, refused.stdout) == (7, "")
    assert "entry 'x' is numbered out of sequence (written by hand)" in refused.stderr
    assert shown.exit_code == 1


# --- 3. The overview names dormant accounts ----------------------------------------------------------


PHRASES = {
    "en": "active, but no login for 90 days or more",
    "nl": "actief, maar al 90 dagen of langer niet aangemeld",
    "fr": "actif, mais aucune connexion depuis 90 jours ou plus",
    "de": "aktiv, aber seit 90 Tagen oder länger keine Anmeldung",
}


@pytest.fixture
def site(store, store_url: str, tmp_path: Path):
    apply_paths(store, EXAMPLES / "social-secretariat")
    letters = tmp_path / "letters"
    issue_codes(store, LetterBox(str(letters)), None, NOW, "l", "r")
    app = create_app(store_url, secret_key="test", clock=lambda: NOW)
    return app.test_client(), store, letters


def last_used(url: str, ssin: str, at: datetime) -> None:
    when = at.isoformat(timespec="seconds")
    outside_write(
        url,
        f"UPDATE accounts SET status = 'active', codes_issued_at = '{when}', activated_at = '{when}', "
        f"last_login_at = '{when}' WHERE enterprise = '{SS}' AND ssin = '{ssin}'",
    )


def test_the_dormant_phrase_on_the_page_in_every_language_with_a_hostile_name(site, store_url) -> None:
    web, store, letters = site
    sign_in_sofie(web, store, letters)
    last_used(store_url, KARIM, NOW - timedelta(days=200))
    outside(store_url, "UPDATE persons SET name = ? WHERE ssin = ?", (f"<img src=x onerror=alert(1)>{RLO}Karim", KARIM))
    for language, phrase in PHRASES.items():
        assert web.get(f"/language/{language}?next=/me").status_code == 302
        page = web.get("/me").text
        assert f'<html lang="{language}">' in page
        assert page.count(phrase) == 1, language
        assert "<img" not in page and RLO not in page
        assert "&lt;img src=x onerror=alert(1)&gt;\\u202eKarim" in page
        assert ">dormant<" not in page


def test_dormancy_on_the_page_is_judged_by_the_pages_clock(site, store_url) -> None:
    """The app's clock (NOW, four weeks before this machine's) decides: 90 days less a minute is active,
    90 days is dormant, as `who` counts."""
    web, store, letters = site
    sign_in_sofie(web, store, letters)
    last_used(store_url, KARIM, NOW - timedelta(days=90) + timedelta(minutes=1))
    last_used(store_url, PIETER, NOW - timedelta(days=90))
    web.get("/language/en?next=/me")
    page = web.get("/me").text
    assert page.count(PHRASES["en"]) == 1
    view = overview(store, store.account_of(SS, SOFIE), NOW, "en")
    statuses = {p.username: p.status for q in view.qualities for p in q.users}
    assert statuses[store.account_of(SS, KARIM).username] == "active"
    assert statuses[store.account_of(SS, PIETER).username] == "dormant"


@pytest.mark.parametrize("stored", ["not a date", b"2026-01-01T00:00:00+00:00"], ids=["text", "blob"])
def test_the_overview_survives_a_last_login_written_by_hand(site, store_url, stored) -> None:
    """Was a defect for "blob" (SQLite): a last login stored as a BLOB reached ``datetime.fromisoformat``
    (TypeError, not ValueError) once the overview computed dormancy: /me failed for the manager.
    Text that is no date held."""
    _, store, _ = site
    if isinstance(stored, bytes):
        sqlite_only(store_url)
    last_used(store_url, KARIM, NOW - timedelta(days=10))
    outside(store_url, "UPDATE accounts SET last_login_at = ?, activated_at = NULL WHERE ssin = ?", (stored, KARIM))
    try:
        view = overview(store, store.account_of(SS, SOFIE), NOW, "en")
    except TypeError as error:
        pytest.fail(f"the overview crashed: {error!r}")
    statuses = {p.username: p.status for q in view.qualities for p in q.users}
    assert statuses[store.account_of(SS, KARIM).username] in ("active", "dormant")


def test_audit_verify_names_an_entry_numbered_with_text_instead_of_failing(run, trail, store_url) -> None:
    """The same hand-written entry (seq 'x') through ``reconciler audit verify``: named, exit 1, no traceback."""
    sqlite_only(store_url)
    outside(
        store_url,
        "INSERT INTO audit_log (enterprise, seq, run_id, action, address, before, after, hash) "
        "VALUES (?, 'x', 1, 'update', ?, NULL, NULL, 'h')",
        (SS, f"enterprise[{SS}]"),
    )
    result = run("audit", "verify", "--state", store_url)
    assert result.exit_code == 1
    assert "out of sequence" in result.output or "written by hand" in result.output, result.output


def test_a_removal_entry_numbered_with_text_is_not_taken_for_the_removal(run, trail, store_url) -> None:
    """A delete entry of the person numbered 'x' by hand (SQLite keeps text in an INTEGER column):
    `who` takes no removal from it (it is no entry of the chain, which `audit verify` says), and the
    JSON keeps to its schema (an entry's number is an integer)."""
    sqlite_only(store_url)
    karim_removed_by_hand(store_url)
    forge_entry(store_url, run_id=1, seq="x", before=json.dumps({"name": "Karim Lambert"}))  # type: ignore[arg-type]
    shown, as_json, document = who_both(run, store_url, KARIM)
    assert (shown.exit_code, as_json.exit_code) == (1, 1)
    assert "  removed:     not in the audit trail" in shown.stdout
    assert schema_errors(document) == []
    assert document["enterprises"][0]["removed"] is None


def test_the_problems_of_a_trail_written_by_hand_are_data_on_standard_error(run, trail, store_url) -> None:
    """Attacked: `who` prints what is wrong with a trail before refusing, and the trail's enterprise
    number comes from the store: an account and an entry of an enterprise numbered with a terminal
    escape and a right-to-left override, written by hand. Must hold: the problems are printed
    with those characters escaped, by `who` (which refuses, exit 7, nothing on standard output)
    and by `audit verify` alike (was a defect: both printed them raw)."""
    number = f"09{ESC}[2J{RLO}<b>"
    ghost_account(store_url, number, KARIM, "ghost-karim")
    outside(
        store_url,
        "INSERT INTO audit_log (enterprise, seq, run_id, action, address, before, after, hash) "
        "VALUES (?, 1, 1, 'update', ?, NULL, NULL, 'forged')",
        (number, f"enterprise[{number}]"),
    )
    for output_format in ("text", "json"):
        refused = who(run, store_url, KARIM, "--format", output_format)
        assert (refused.exit_code, refused.stdout) == (7, "")
        assert ESC not in refused.stderr and RLO not in refused.stderr
        assert "09\\x1b[2J\\u202e<b>: entry 1 was altered" in refused.stderr
    verified = run("audit", "verify", "--state", store_url)  # the same messages, the same escapes
    assert verified.exit_code == 1 and ESC not in verified.stderr and RLO not in verified.stderr
    assert "09\\x1b[2J\\u202e<b>: entry 1 was altered" in verified.stderr
