"""Grants that end by themselves (``until``) across a fake clock, and profiles, through validate,
plan, apply, show and export, on both stores."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import EXAMPLES

from reconciler.accounts import firstlogin
from reconciler.records import clock
from reconciler.store.backends import open_store

SMALL = EXAMPLES / "small-employer.yaml"
E = "0999055557"
JAN = "58022754967"
FATIMA = "61061906014"
JAN_USER = f"enterprise[{E}].quality[employer].user[{JAN}]"


def at(day: str) -> datetime:
    """Noon, Brussels summer or winter alike, on ``day``."""
    return datetime.fromisoformat(f"{day}T11:00:00+00:00").astimezone(UTC)


def with_until(tmp_path: Path, until: str, ssin: str = JAN) -> Path:
    """The small employer, with one user's grant ending on ``until``."""
    text = SMALL.read_text()
    email = {JAN: "jan@goudenkorst.example", FATIMA: "fatima@goudenkorst.example"}[ssin]
    marker = f"        email: {email}\n"
    assert text.count(marker) == 1
    path = tmp_path / "small.yaml"
    path.write_text(text.replace(marker, f'{marker}        until: "{until}"\n'))
    return path


def changes(run, path: Path, state: str) -> dict:
    result = run("plan", path, "--state", state, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_grant_ends_on_its_day_without_anyone_editing_yaml(run, store_url: str, tmp_path: Path) -> None:
    declared = with_until(tmp_path, "2026-12-10")
    with clock.frozen(at("2026-11-20")):
        done = run("apply", declared, "--state", store_url, "--auto-approve", "--defer-codes")
        assert done.exit_code == 0, done.output
        assert changes(run, declared, store_url)["changes"] == []
        # Far from its day: not listed as ending soon.
        assert changes(run, declared, store_url)["ending"] == []
    with clock.frozen(at("2026-12-01")):
        # Within 14 days: listed by the plan (text, JSON, Markdown) and by show.
        plan = changes(run, declared, store_url)
        assert plan["changes"] == []
        assert plan["ending"] == [
            {
                "enterprise": E,
                "quality": "employer",
                "role": "user",
                "ssin": JAN,
                "name": "Jan Mertens",
                "until": "2026-12-10",
            }
        ]
        text = run("plan", declared, "--state", store_url).stdout
        assert "  2026-12-10  0999.055.557  quality employer, user  Jan Mertens (58022754967)" in text
        assert "Jan Mertens (58022754967)" in run("plan", declared, "--state", store_url, "--format", "markdown").stdout
        shown = run("show", E, "--state", store_url)
        assert "Grants that end soon" in shown.stdout and "2026-12-10" in shown.stdout
        assert json.loads(run("show", "--state", store_url, "--format", "json").stdout)["ending"][0]["ssin"] == JAN
        assert changes(run, declared, store_url) == changes(run, declared, store_url)
        narrow = run("plan", declared, "--state", store_url, "--format", "json", "--expiry-window", "3")
        assert json.loads(narrow.stdout)["ending"] == []
    with clock.frozen(at("2026-12-10")):
        # The day has come: the same files, unchanged, plan the grant away (never skipped as unchanged).
        plan = changes(run, declared, store_url)
        assert plan["skipped"] == []
        assert [(c["action"], c["address"]) for c in plan["changes"]] == [
            ("delete", JAN_USER),
            ("delete", f"enterprise[{E}].person[{JAN}]"),
        ]
        warned = run("validate", declared)
        assert warned.exit_code == 0
        assert "W001 the user grant of 58022754967 ended on 2026-12-10" in warned.stderr
        done = run("apply", declared, "--state", store_url, "--auto-approve")
        assert done.exit_code == 0, done.output
        store = open_store(store_url)
        try:
            assert store.account_of(E, JAN).status == "deactivated"  # no role left: the account is closed
        finally:
            store.close()
        assert changes(run, declared, store_url)["changes"] == []


def test_a_person_keeps_their_account_while_another_grant_remains(run, store_url: str, tmp_path: Path) -> None:
    # Els is main access manager and access manager; her access manager grant may end, the account stays.
    text = SMALL.read_text()
    marker = (
        '    access_manager:\n      ssin: "75031366754"\n'
        "      name: Els Mertens\n      email: els@goudenkorst.example\n"
    )
    assert marker in text
    declared = tmp_path / "small.yaml"
    declared.write_text(text.replace(marker, marker + '      until: "2026-12-10"\n'))
    with clock.frozen(at("2026-11-20")):
        assert run("apply", declared, "--state", store_url, "--auto-approve", "--defer-codes").exit_code == 0
    with clock.frozen(at("2026-12-12")):
        plan = changes(run, declared, store_url)
        [change] = plan["changes"]
        assert change["address"] == f"enterprise[{E}].quality[employer]"
        assert change["after"]["access_manager"] is None
        assert run("apply", declared, "--state", store_url, "--auto-approve").exit_code == 0
        store = open_store(store_url)
        try:
            assert store.account_of(E, "75031366754").status != "deactivated"
        finally:
            store.close()


@pytest.mark.parametrize(
    ("until", "says"),
    [
        ("2027-02-29", 'H023 until "2027-02-29" is not a day of the calendar'),
        ("2027-2-28", "S004"),
        ("tomorrow", "S004"),
    ],
)
def test_impossible_dates_are_refused(run, tmp_path: Path, until: str, says: str) -> None:
    refused = run("validate", with_until(tmp_path, until))
    assert refused.exit_code == 1 and says in refused.stderr


def test_the_main_access_manager_has_no_end_date(run, tmp_path: Path) -> None:
    text = SMALL.read_text()
    marker = 'main_access_manager:\n  ssin: "75031366754"\n  name: Els Mertens\n  email: els@goudenkorst.example\n'
    path = tmp_path / "x.yaml"
    path.write_text(text.replace(marker, marker + '  until: "2027-01-01"\n'))
    refused = run("validate", path)
    assert refused.exit_code == 1
    assert "the main access manager's appointment has no end date: appoint another one instead" in refused.stderr


def test_until_is_stored_and_exported_as_declared(run, store_url: str, tmp_path: Path) -> None:
    declared = with_until(tmp_path, "2027-03-31", FATIMA)
    with clock.frozen(at("2026-11-20")):
        assert run("apply", declared, "--state", store_url, "--auto-approve", "--defer-codes").exit_code == 0
        out = tmp_path / "exported"
        assert run("export", "--state", store_url, "--out", out).exit_code == 0
        assert 'until: "2027-03-31"' in (out / f"{E}.yaml").read_text()
        assert changes(run, out, store_url)["changes"] == []


PROFILED = """enterprise:
  number: "0999.055.557"
  name: Bakkerij De Gouden Korst
main_access_manager: {ssin: "75031366754", name: Els Mertens, email: els@goudenkorst.example}
profiles:
  payroll: [dimona, dmfa]
  unused: [checkinatwork]
qualities:
  - code: employer
    default: true
    nsso_number: "010-4521873-24"
    access_manager: {ssin: "75031366754", name: Els Mertens, email: els@goudenkorst.example}
    users:
      - ssin: "58022754967"
        name: Jan Mertens
        email: jan@goudenkorst.example
        profiles: [payroll]
        services: [dmfa, checkinatwork]
"""


def test_profiles_through_validate_plan_apply_and_export(run, store_url: str, tmp_path: Path) -> None:
    declared = tmp_path / "profiled.yaml"
    declared.write_text(PROFILED)
    checked = run("validate", declared)
    assert checked.exit_code == 0
    assert 'W002 profile "unused" is listed by no user' in checked.stderr
    plan = changes(run, declared, store_url)
    [user] = [c for c in plan["changes"] if c["address"] == JAN_USER]
    assert user["after"]["services"] == ["checkinatwork", "dimona", "dmfa"]  # in effect: own and profile's
    assert user["after"]["profiles"] == ["payroll"]
    assert {"enterprise": E, "name": "payroll", "services": ["dimona", "dmfa"]} in plan["profiles"]
    text = run("plan", declared, "--state", store_url).stdout
    assert "(from profiles payroll: dimona, dmfa)" in text
    assert run("apply", declared, "--state", store_url, "--auto-approve", "--defer-codes").exit_code == 0
    out = tmp_path / "exported"
    assert run("export", "--state", store_url, "--out", out).exit_code == 0
    exported = (out / f"{E}.yaml").read_text()
    assert "profiles:\n  payroll:" in exported and "profiles:\n    - payroll" in exported.replace(
        "- payroll", "- payroll"
    )
    assert changes(run, out, store_url)["changes"] == []
    # Changing a profile changes what its users are granted, each shown and checked in its quality.
    declared.write_text(PROFILED.replace("payroll: [dimona, dmfa]", "payroll: [dimona, dmfa, drs]"))
    replanned = changes(run, declared, store_url)
    addresses = {c["address"] for c in replanned["changes"]}
    assert addresses == {f"enterprise[{E}].profile[payroll]", JAN_USER}


def test_a_profile_change_needs_the_main_or_a_co_main_access_manager(run, store_url: str, tmp_path: Path) -> None:
    declared = tmp_path / "profiled.yaml"
    declared.write_text(PROFILED)
    assert run("apply", declared, "--state", store_url, "--auto-approve", "--defer-codes").exit_code == 0
    declared.write_text(PROFILED.replace("unused: [checkinatwork]", "unused: [checkinatwork, dimona]"))
    refused = run("plan", declared, "--state", store_url, "--actor", JAN)
    assert refused.exit_code == 1 and "A013" in refused.stderr
    allowed = run("plan", declared, "--state", store_url, "--actor", "75031366754")
    assert allowed.exit_code == 0, allowed.stderr


def test_show_names_dormant_accounts(run, store_url: str, tmp_path: Path) -> None:
    letters = tmp_path / "letters"
    with clock.frozen(at("2026-01-05")):
        done = run("apply", SMALL, "--state", store_url, "--auto-approve", "--delivery", f"letters:{letters}")
        assert done.exit_code == 0, done.output
        code = (letters / E / "jmertens" / "2-temporary-password.txt").read_text()
        password = re.search(r"\b([A-Z2-9]{4}(?:-[A-Z2-9]{4}){3})\b", code).group(1)
        store = open_store(store_url)
        try:
            now = clock.now()
            account = firstlogin.start(store, "jmertens", password, now)
            firstlogin.confirm_identity(store, account, JAN, now)
            firstlogin.choose_password(store, account, "a long passphrase here", "a long passphrase here", now, "r")
        finally:
            store.close()
        assert "[jmertens, active]" in run("show", E, "--state", store_url).stdout
    with clock.frozen(at("2026-04-20")):  # more than 90 days without a login
        shown = run("show", E, "--state", store_url).stdout
        assert "[jmertens, dormant]" in shown and "1 dormant" in shown
