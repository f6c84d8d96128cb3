"""``reconciler who`` on both stores, golden outputs, and the grants read from records and the audit trail."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT, bypass_append_only, check_golden, outside_write
from jsonschema import Draft202012Validator

from reconciler.accounts import firstlogin
from reconciler.accounts.delivery import LetterBox
from reconciler.accounts.lifecycle import issue_codes
from reconciler.apply.execute import apply_plan
from reconciler.plan.desired import load_desired
from reconciler.plan.gates import Policy
from reconciler.plan.grants import (
    ACCESS_MANAGER,
    CO_ACCESS_MANAGER,
    CO_MAIN,
    MAIN,
    USER,
    Grant,
    Service,
    grants_in,
    grants_of_enterprise,
    grants_of_person,
    presence_of,
    verified_presence_of,
)
from reconciler.plan.plan import make_plan
from reconciler.records import clock
from reconciler.records.state import Address, EnterpriseState, Kind, fields
from reconciler.render import neutral
from reconciler.store.audit import AuditEntry
from tests.test_hostile_names import HOSTILE, JAN, SMALL, SMALL_FILE, terminal_safe, write_rows
from tests.test_lifecycle import apply_paths, code_of

GOLDEN = Path(__file__).resolve().parent / "golden"
SCHEMA = Draft202012Validator(json.loads((ROOT / "schemas" / "who.schema.json").read_text(encoding="utf-8")))
SS = "0999077729"
SOFIE, KARIM, PIETER = "87040208957", "95100259156", "73070555405"
LEGAL = "legal-representative"
CREATED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # the secretariat applied, codes sent
ACTIVATED = datetime(2026, 1, 6, 8, 30, tzinfo=UTC)  # Sofie's first login
LOGGED_IN = datetime(2026, 1, 20, 7, 45, tzinfo=UTC)
EXTENDED = datetime(2026, 2, 2, 10, 0, tzinfo=UTC)  # Sofie makes herself a user of employer, until 1 March
ASKED = datetime(2026, 2, 20, 10, 0, tzinfo=UTC)
SOFIE_AS_USER = """
      - ssin: "87040208957"
        name: Sofie Claes
        email: sofie.claes@ssdv.example
        github: sofie-claes
        gitlab: sclaes
        services: [dimona]
        until: "2026-03-01"
"""


def apply_at(store, at: datetime, run: str, actor: str, *paths: Path) -> None:
    with clock.frozen(at):  # grants' end dates are read against the day of the plan
        desired, problems = load_desired(list(paths))
        assert problems == []
        plan = make_plan(desired.enterprises, store.read(desired.enterprises), Policy(actor=actor))
        apply_plan(plan, store, now=at, run=run)


PASSWORD = "a long passphrase here"


def secretariat_with_sofie_active(store, tmp_path: Path) -> Path:
    """The story `who` and `review` are told on: the secretariat applied by the legal representative,
    Sofie (its main access manager) activated and logged in. Returns the declared folder."""
    declared = tmp_path / "declared" / "social-secretariat"
    shutil.copytree(EXAMPLES / "social-secretariat", declared)
    apply_at(store, CREATED, "run-0001", LEGAL, declared)
    letters = tmp_path / "letters"
    issue_codes(store, LetterBox(str(letters)), None, CREATED, "http://login.example/first-login", "run-0001")
    account = firstlogin.start(store, "sclaes", code_of(letters, SS, "sclaes"), ACTIVATED)
    firstlogin.confirm_identity(store, account, SOFIE, ACTIVATED)
    firstlogin.choose_password(store, account, PASSWORD, PASSWORD, ACTIVATED, "w1")
    firstlogin.login(store, "sclaes", PASSWORD, LOGGED_IN)
    return declared


def sofie_made_a_user(store, declared: Path) -> None:
    """The story goes on: Sofie makes herself a user of the employer quality for four weeks."""
    employer = declared / "employer.yaml"
    employer.write_text(employer.read_text(encoding="utf-8") + SOFIE_AS_USER, encoding="utf-8")
    apply_at(store, EXTENDED, "run-0002", SOFIE, declared)


@pytest.fixture
def history(store, tmp_path: Path):
    """The secretariat applied, Sofie activated and logged in, then made a user for four weeks."""
    sofie_made_a_user(store, secretariat_with_sofie_active(store, tmp_path))
    return store


def who(run, url: str, *args: str, at: datetime = ASKED):
    with clock.frozen(at):
        return run("who", *args, "--state", url)


def who_json(run, url: str, *args: str, at: datetime = ASKED) -> dict:
    result = who(run, url, *args, "--format", "json", at=at)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert list(SCHEMA.iter_errors(document)) == []
    return document


def test_who_golden(run, history, store_url: str, update_golden: bool) -> None:
    """The same text and JSON from both stores; no path of the test's own folder in either."""
    text = who(run, store_url, SOFIE)
    assert text.exit_code == 0, text.output
    document = who_json(run, store_url, SOFIE)
    for output in (text.stdout, json.dumps(document)):
        assert "/tmp" not in output and "pytest" not in output and "$argon2" not in output
    check_golden(GOLDEN / "who-sofie-claes.txt", text.stdout, update_golden)
    check_golden(GOLDEN / "who-sofie-claes.json", who(run, store_url, SOFIE, "--format", "json").stdout, update_golden)


def test_each_grant_is_dated_by_the_apply_that_made_it(run, history, store_url: str) -> None:
    [enterprise] = who_json(run, store_url, SOFIE)["enterprises"]
    assert (enterprise["name"], enterprise["account"]["status"]) == ("Sofie Claes", "active")
    assert enterprise["account"]["last_login_at"] == "2026-01-20T07:45:00+00:00"
    by_role = {(g["role"], g["quality"]): g for g in enterprise["grants"]}
    assert list(by_role) == [(MAIN, None), (ACCESS_MANAGER, "social-secretariat"), (USER, "employer")]
    first = by_role[(MAIN, None)]["granted"]
    assert (first["actor"], first["run"], first["action"], first["at"]) == (
        LEGAL,
        "run-0001",
        "create",
        "2026-01-05T09:00:00+00:00",
    )
    as_user = by_role[(USER, "employer")]
    assert (as_user["granted"]["actor"], as_user["granted"]["run"]) == (SOFIE, "run-0002")
    assert as_user["granted"]["plan_hash"] != first["plan_hash"]
    assert (as_user["until"], as_user["ends_within_window"]) == ("2026-03-01", True)
    assert as_user["services"] == [{"service": "dimona", "profiles": [], "declared_directly": True}]
    # A narrower window does not flag it; text says how many days are left.
    narrow = who_json(run, store_url, SOFIE, "--expiry-window", "3")["enterprises"][0]["grants"][2]
    assert narrow["ends_within_window"] is False
    assert "2026-03-01 ! ends in 9 days" in who(run, store_url, SOFIE).stdout


def test_an_account_without_a_login_for_too_long_is_dormant(run, history, store_url: str) -> None:
    late = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)  # 90 days after the last login
    shown = who(run, store_url, SOFIE, at=late).stdout
    assert "  account:     sclaes, dormant (no login for 90 days)" in shown
    assert "  last login:  2026-01-20T07:45:00+00:00" in shown
    account = who_json(run, store_url, SOFIE, at=late)["enterprises"][0]["account"]
    assert (account["status"], account["idle_days"]) == ("dormant", 90)
    relaxed = who_json(run, store_url, SOFIE, "--dormant-after", "180", at=late)["enterprises"][0]["account"]
    assert relaxed["status"] == "active"
    # An account whose codes were sent and never used is pending, not dormant.
    pending = who(run, store_url, KARIM, at=datetime(2026, 1, 10, tzinfo=UTC)).stdout
    assert "  account:     klambert, pending (activate by 2026-02-04T09:00:00+00:00)" in pending
    assert "  last login:  never" in pending


def test_a_person_found_nowhere_and_a_number_that_is_no_ssin(run, history, store_url: str) -> None:
    missing = who(run, store_url, "58022754967")
    assert missing.exit_code == 1
    assert "no enterprise in the store declares the person 58022754967" in missing.stderr
    assert missing.stdout == ""
    invalid = who(run, store_url, "12345")
    assert invalid.exit_code == 1 and "SSIN" in invalid.stderr


def test_stored_values_are_data_in_every_output(run, history, store_url: str) -> None:
    concat = "char(27)" if store_url.startswith("sqlite") else "chr(27)"
    outside_write(store_url, f"UPDATE persons SET name = 'Sofie' || {concat} || '[2J\u202e' WHERE ssin = '{SOFIE}'")
    outside_write(store_url, f"UPDATE users SET until = '2026-03-01' || {concat} || ']0;x' WHERE ssin = '{SOFIE}'")
    shown = who(run, store_url, SOFIE).stdout
    assert "\x1b" not in shown and "\u202e" not in shown
    assert "Sofie\\x1b[2J\\u202e" in shown
    raw = who(run, store_url, SOFIE, "--format", "json").stdout
    assert "\x1b" not in raw and "\u202e" not in raw
    [enterprise] = who_json(run, store_url, SOFIE)["enterprises"]
    assert enterprise["name"] == "Sofie\x1b[2J\u202e"
    assert enterprise["grants"][2]["until"].startswith("2026-03-01\x1b")


def test_grants_of_an_enterprise_and_of_a_person(history) -> None:
    everyone = grants_of_enterprise(history, SS)
    assert {(g.role, g.quality, g.ssin) for g in everyone} >= {
        (MAIN, "", SOFIE),
        (CO_MAIN, "", "82070324776"),
        (CO_ACCESS_MANAGER, "social-secretariat", "60091406166"),
        (USER, "employer", PIETER),
    }
    assert [g.role for g in everyone][:2] == [MAIN, CO_MAIN]
    assert [(g.role, g.quality) for g in grants_of_person(history, SOFIE)] == [
        (MAIN, ""),
        (ACCESS_MANAGER, "social-secretariat"),
        (USER, "employer"),
    ]
    assert grants_of_enterprise(history, "0999055557") == []


# The rules, on records and trails built by hand: profiles, and which audit entry grants what.

N = "0999077729"
PROFILE = getattr(Kind, "PROFILE", None)


def entry(seq: int, action: str, address: Address | str, before: dict | None, after: dict | None) -> AuditEntry:
    shown = json.dumps(after) if after is not None else None
    was = json.dumps(before) if before is not None else None
    return AuditEntry(
        N, seq, f"2026-01-{seq:02d}T10:00:00+00:00", f"actor-{seq}", f"run-{seq}", f"hash-{seq}", None, "",
        action, str(address), was, shown, "", "",
    )  # fmt: skip


def header(main: str) -> dict:
    return {"name": "S", "main_access_manager": main, "default_quality": "employer", "language": None}


def quality(manager: str | None, until: str | None = None) -> dict:
    return dict(fields(Kind.QUALITY, activated=True, access_manager=manager, access_manager_until=until))


@pytest.mark.skipif(PROFILE is None, reason="profiles are not part of the records yet")
def test_each_service_names_the_profiles_that_bring_it() -> None:
    assert PROFILE is not None
    user = Address(N, Kind.USER, "employer", KARIM)
    state = EnterpriseState(
        N,
        {
            Address(N, Kind.ENTERPRISE): tuple(header(SOFIE).items()),
            Address(N, PROFILE, key="payroll"): (("services", ("dimona", "dmfa")),),
            Address(N, PROFILE, key="hr"): (("services", ("dmfa", "drs")),),
            Address(N, PROFILE, key="unused"): (("services", ("mahis",)),),
            user: (
                ("services", ("checkinatwork", "dimona", "dmfa", "drs")),
                ("protected", False),
                ("until", None),
                ("profiles", ("hr", "payroll")),
            ),
        },
    )
    [grant] = grants_in(state, [], KARIM)
    assert grant.services == (
        Service("checkinatwork"),
        Service("dimona", ("payroll",)),
        Service("dmfa", ("hr", "payroll")),
        Service("drs", ("hr",)),
    )
    assert [s.direct for s in grant.services] == [True, False, False, False]
    # A record that holds only the user's own services still lists what the profiles bring.
    own_only = EnterpriseState(N, {**state.records, user: (("services", ("checkinatwork",)), ("profiles", ("hr",)))})
    [grant] = grants_in(own_only, [], KARIM)
    assert grant.services == (Service("checkinatwork"), Service("dmfa", ("hr",)), Service("drs", ("hr",)))


def test_a_user_record_without_profiles_declares_every_service_directly() -> None:
    user = Address(N, Kind.USER, "employer", KARIM)
    state = EnterpriseState(N, {user: (("services", ("dmfa", "dimona")), ("protected", False), ("until", None))})
    [grant] = grants_in(state, [], KARIM)
    assert grant.services == (Service("dimona"), Service("dmfa")) and grant.granted_at is None


def test_the_entry_that_granted_each_role() -> None:
    enterprise = Address(N, Kind.ENTERPRISE)
    employer = Address(N, Kind.QUALITY, "employer")
    user = Address(N, Kind.USER, "employer", KARIM)
    co_main = Address(N, Kind.CO_MAIN_ACCESS_MANAGER, key=KARIM)
    co = Address(N, Kind.CO_ACCESS_MANAGER, "employer", KARIM)
    trail = [
        entry(1, "create", enterprise, None, header(PIETER)),
        entry(2, "create", employer, None, quality(KARIM)),
        entry(3, "create", user, None, {"services": ["dimona"]}),
        entry(4, "update", enterprise, header(PIETER), header(KARIM)),  # Karim becomes main access manager
        entry(5, "update", employer, quality(KARIM), quality(PIETER)),
        entry(6, "update", employer, quality(PIETER), quality(KARIM, "2026-03-01")),  # back: this one counts
        entry(7, "update", employer, quality(KARIM, "2026-03-01"), quality(KARIM, "2026-04-01")),  # same holder
        entry(8, "delete", user, {"services": ["dimona"]}, None),
        entry(9, "create", user, None, {"services": ["dmfa"]}),  # granted again: the latest creation counts
        entry(10, "update", user, {"services": ["dmfa"]}, {"services": ["dmfa", "drs"]}),
        entry(11, "adopt", co_main, None, {"protected": False, "until": None}),  # written by hand, then adopted
        entry(12, "adopt", co, {"protected": False}, {"protected": True}),  # an adopted edit grants nothing
        entry(13, "activate", f"account {KARIM}", {"status": "pending"}, {"status": "active"}),
    ]
    state = EnterpriseState(
        N,
        {
            enterprise: tuple(header(KARIM).items()),
            employer: tuple(quality(KARIM, "2026-04-01").items()),
            user: (("services", ("dmfa", "drs")), ("protected", False), ("until", "2026-02-10")),
            co_main: (("protected", False), ("until", None)),
            co: (("protected", True), ("until", None)),
            Address(N, Kind.USER, "employer", PIETER): (
                ("services", ("dimona",)),
                ("protected", False),
                ("until", None),
            ),
        },
    )
    grants = {g.role: g for g in grants_in(state, reversed(trail), KARIM)}  # any order: entries are sorted
    assert list(grants) == [MAIN, CO_MAIN, ACCESS_MANAGER, CO_ACCESS_MANAGER, USER]
    assert {role: g.entry for role, g in grants.items()} == {
        MAIN: 4,
        CO_MAIN: 11,
        ACCESS_MANAGER: 6,
        CO_ACCESS_MANAGER: None,
        USER: 9,
    }
    assert (grants[MAIN].granted_by_actor, grants[MAIN].run, grants[MAIN].plan_hash) == ("actor-4", "run-4", "hash-4")
    assert grants[ACCESS_MANAGER].until == "2026-04-01" and grants[USER].until == "2026-02-10"
    assert grants[CO_ACCESS_MANAGER].granted_at is None
    assert grants[USER].address == f"enterprise[{N}].quality[employer].user[{KARIM}]"
    assert [g.ssin for g in grants_in(state, trail)].count(PIETER) == 1


@pytest.mark.parametrize(
    ("until", "window", "left", "flagged"),
    [
        (None, 14, None, False),
        ("2026-03-05", 14, 14, True),
        ("2026-03-06", 14, 15, False),
        ("2026-02-19", 14, 0, True),  # ended: the next apply removes it
        ("2026-03-06", 0, 15, False),
        ("not a day", 14, None, False),
    ],
)
def test_a_grant_ending_within_the_window(until: str | None, window: int, left: int | None, flagged: bool) -> None:
    grant = Grant(N, "employer", USER, KARIM, "x", until=until)
    today = date(2026, 2, 19)
    assert grant.days_left(today) == left
    assert grant.ends_within(today, window) is flagged


def test_the_hostile_corpus_through_who(run, store, store_url: str) -> None:
    """Every name of the hostile corpus, written into the store as old data would hold it, as text and JSON."""
    apply_paths(store, SMALL_FILE, now=CREATED)
    for case, name in HOSTILE.items():
        if case == "nul" and store_url.startswith("postgresql"):
            continue  # PostgreSQL cannot store NUL: the very reason validation refuses it
        write_rows(store_url, "UPDATE persons SET name = ? WHERE enterprise = ? AND ssin = ?", name, SMALL, JAN)
        write_rows(store_url, "UPDATE enterprises SET name = ? WHERE number = ?", name, SMALL)
        write_rows(store_url, "UPDATE users SET until = ? WHERE enterprise = ? AND ssin = ?", name, SMALL, JAN)
        shown = who(run, store_url, JAN).stdout
        assert terminal_safe(shown), case
        assert f"  name:        {neutral.text(name)}\n" in shown, case
        raw = who(run, store_url, JAN, "--format", "json").stdout
        assert terminal_safe(raw), case
        [enterprise] = who_json(run, store_url, JAN)["enterprises"]
        assert enterprise["name"] == enterprise["enterprise_name"] == enterprise["grants"][0]["until"] == name, case


REMOVED = datetime(2026, 2, 10, 11, 0, tzinfo=UTC)
KARIM_AS_USER = """      - ssin: "95100259156"
        name: Karim Lambert
        email: karim.lambert@ssdv.example
        profiles: [declarations]
        services: [mahis]
"""


def karim_removed(store, tmp_path: Path) -> None:
    """Sofie removes Karim, a user of the social-secretariat quality: his account stays, deactivated."""
    declared = tmp_path / "declared" / "social-secretariat"
    secretariat = declared / "social-secretariat.yaml"
    before = secretariat.read_text(encoding="utf-8")
    assert KARIM_AS_USER in before
    secretariat.write_text(before.replace(KARIM_AS_USER, ""), encoding="utf-8")
    apply_at(store, REMOVED, "run-0003", SOFIE, declared)


def test_a_person_removed_is_shown_as_former_with_the_apply_that_removed_them(
    run, history, store_url: str, tmp_path: Path
) -> None:
    """Removed people keep their account, deactivated: `who` shows where they were and who removed
    them, and still exits 1, as no enterprise declares them any more."""
    karim_removed(history, tmp_path)
    shown = who(run, store_url, KARIM)
    assert shown.exit_code == 1
    assert "no enterprise in the store declares the person 95100259156 any more" in shown.stderr
    assert shown.stdout.startswith("Person 95100259156: declared in 0 enterprises (and formerly in 1), on ")
    assert "# enterprise 0999.077.729  Secretariaat Sociale Diensten Vlaanderen  (former)" in shown.stdout
    assert "  name:        Karim Lambert" in shown.stdout
    assert "  account:     klambert, deactivated (since 2026-02-10T11:00:00+00:00)" in shown.stdout
    assert "  removed:     2026-02-10T11:00:00+00:00 by 87040208957, run run-0003, plan " in shown.stdout
    assert "  grants:      none (no longer declared)" in shown.stdout
    result = who(run, store_url, KARIM, "--format", "json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert list(SCHEMA.iter_errors(document)) == []
    [former] = document["enterprises"]
    assert (former["declared"], former["grants"], former["name"]) == (False, [], "Karim Lambert")
    assert former["account"]["status"] == "deactivated"
    removed = former["removed"]
    assert (removed["action"], removed["run"], removed["actor"], removed["at"]) == (
        "delete",
        "run-0003",
        SOFIE,
        "2026-02-10T11:00:00+00:00",
    )
    entry = next(e for e in history.audit_entries(SS) if e.seq == removed["entry"])
    assert (entry.action, entry.address, entry.after) == ("delete", f"enterprise[{SS}].person[{KARIM}]", None)
    # Those declared are unchanged by it: declared, nothing removed.
    [sofie] = who_json(run, store_url, SOFIE)["enterprises"]
    assert (sofie["declared"], sofie["removed"]) == (True, None)


def test_a_person_declared_again_is_no_longer_former(run, history, store_url: str, tmp_path: Path) -> None:
    karim_removed(history, tmp_path)
    secretariat = tmp_path / "declared" / "social-secretariat" / "social-secretariat.yaml"
    text = secretariat.read_text(encoding="utf-8")
    zoe = '      - ssin: "92070222745"'
    secretariat.write_text(text.replace(zoe, KARIM_AS_USER + zoe), encoding="utf-8")
    apply_at(history, datetime(2026, 2, 15, tzinfo=UTC), "run-0004", SOFIE, secretariat.parent)
    [enterprise] = who_json(run, store_url, KARIM)["enterprises"]
    # His account is his again, with new codes to be issued.
    assert (enterprise["declared"], enterprise["removed"]) == (True, None)
    assert enterprise["account"]["status"] == "awaiting codes"
    assert [g["role"] for g in enterprise["grants"]] == [USER]


def test_a_removal_made_by_hand_is_not_in_the_trail(run, history, store_url: str) -> None:
    """A person deleted outside reconciler keeps an account the trail knows no removal of."""
    outside_write(store_url, f"DELETE FROM users WHERE ssin = '{KARIM}'")
    outside_write(store_url, f"DELETE FROM persons WHERE ssin = '{KARIM}'")
    shown = who(run, store_url, KARIM)
    assert shown.exit_code == 1
    assert "  name:        Karim Lambert" in shown.stdout  # as the trail last gave it
    assert "  removed:     not in the audit trail" in shown.stdout
    # Nothing deactivated it (only an apply does): his codes, never used, expired.
    assert "  account:     klambert, expired (codes expired 2026-02-04T09:00:00+00:00)" in shown.stdout
    document = json.loads(who(run, store_url, KARIM, "--format", "json").stdout)
    assert list(SCHEMA.iter_errors(document)) == []
    assert (document["enterprises"][0]["declared"], document["enterprises"][0]["removed"]) == (False, None)


def test_a_name_written_by_hand_and_then_removed_is_data_in_every_output(
    run, history, store_url: str, tmp_path: Path
) -> None:
    """The name a removal entry keeps is what the store held: written by hand, it may hold escapes."""
    concat = "char(27)" if store_url.startswith("sqlite") else "chr(27)"
    outside_write(store_url, f"UPDATE persons SET name = 'Karim' || {concat} || '[2J\u202e' WHERE ssin = '{KARIM}'")
    karim_removed(history, tmp_path)
    shown = who(run, store_url, KARIM).stdout
    assert "\x1b" not in shown and "\u202e" not in shown
    assert "  name:        Karim\\x1b[2J\\u202e" in shown
    raw = who(run, store_url, KARIM, "--format", "json").stdout
    assert "\x1b" not in raw and "\u202e" not in raw
    assert json.loads(raw)["enterprises"][0]["name"] == "Karim\x1b[2J\u202e"


def test_the_enterprises_of_a_person_are_found_without_reading_the_store(history, monkeypatch) -> None:
    """`who` reads only the enterprises that name the person: a registry of a million users is not
    read whole for one question."""
    asked: list = []
    real = type(history).read

    def read(self, numbers=None):
        asked.append(None if numbers is None else sorted(numbers))
        return real(self, numbers)

    monkeypatch.setattr(type(history), "read", read)
    assert history.enterprises_of_person(SOFIE) == [SS]
    assert history.enterprises_of_person("58022754967") == []
    assert [p.enterprise for p in presence_of(history, SOFIE)] == [SS]
    assert asked == [[SS]]


def test_each_trail_is_read_once_and_verified_with_what_it_says(history, monkeypatch) -> None:
    """`who` verifies the trail it reads the grants from, not a second reading of it."""
    asked: list = []
    store_class = type(history)

    def counting(name: str):
        real = getattr(store_class, name)

        def counted(self, *args):
            asked.append((name, *args))
            return real(self, *args)

        return counted

    for name in ("audit_entries", "audit_trail", "audit_heads"):
        monkeypatch.setattr(store_class, name, counting(name))
    found, problems = verified_presence_of(history, SOFIE)
    assert [p.enterprise for p in found] == [SS] and problems == [] and asked == [("audit_trail", SS)]
    asked.clear()
    assert [p.enterprise for p in presence_of(history, SOFIE)] == [SS] and asked == [("audit_trail", SS)]


@pytest.mark.parametrize("output_format", ["text", "json"])
def test_who_gave_or_removed_what_is_shown_only_from_a_trail_that_verifies(
    run, history, store_url: str, tmp_path: Path, output_format: str
) -> None:
    """Whoever may write the store may rewrite its audit trail: here, who removed Karim and who made
    Sofie's grants.  `who` verifies the trail of every enterprise it shows: one that does not
    verify stops it (exit 7, the problems on standard error, nothing shown); with
    --allow-broken-audit-trail it shows what the trail says, warned that it may be false."""
    karim_removed(history, tmp_path)
    assert who(run, store_url, KARIM, "--format", output_format).exit_code == 1  # intact: shown
    assert who(run, store_url, SOFIE, "--format", output_format).exit_code == 0
    # A neighbour who may write the store may also drop its append-only triggers.
    bypass_append_only(store_url, "UPDATE audit_runs SET actor = 'someone-else' WHERE run IN ('run-0001', 'run-0003')")
    for person in (KARIM, SOFIE):
        refused = who(run, store_url, person, "--format", output_format)
        assert refused.exit_code == 7, refused.output
        assert refused.stdout == "" and "someone-else" not in refused.stderr
        assert SS in refused.stderr and "does not verify" in refused.stderr
        assert "--allow-broken-audit-trail" in refused.stderr
    anyway = who(run, store_url, KARIM, "--format", output_format, "--allow-broken-audit-trail")
    assert anyway.exit_code == 1  # shown; no enterprise declares him any more
    assert "someone-else" in anyway.stdout
    assert "warning: the audit trail above does not verify" in anyway.stderr
