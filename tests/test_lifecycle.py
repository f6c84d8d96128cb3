"""Accounts' lifecycle on both stores: codes issued once, expiry, reissue by the level above, deactivation."""

from __future__ import annotations

import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.accounts import firstlogin
from reconciler.accounts.delivery import LetterBox
from reconciler.accounts.lifecycle import NotAllowed, issue_codes, reissue_codes
from reconciler.apply.execute import apply_plan
from reconciler.plan.authority import CONTACT_CENTER
from reconciler.plan.desired import load_desired
from reconciler.plan.plan import make_plan
from tests.conftest import EXAMPLES

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
SS = "0999077729"  # the social secretariat example
SMALL = "0999055557"
SOFIE, OLIVIER, ILSE, PIETER = "87040208957", "82070324776", "57092813789", "73070555405"
MARC, LIEN, NATHALIE, KARIM = "60091406166", "91020864669", "62101057413", "95100259156"


def apply_paths(store, *paths: Path, now: datetime = NOW, overrides: frozenset[str] = frozenset()) -> None:
    desired, problems = load_desired(list(paths))
    assert problems == []
    apply_plan(make_plan(desired.enterprises, store.read(desired.enterprises)), store, now=now, overrides=overrides)


def code_of(letters: Path, enterprise: str, username: str) -> str:
    text = (letters / enterprise / username / "2-temporary-password.txt").read_text()
    return re.search(r"\b([A-Z2-9]{4}(?:-[A-Z2-9]{4}){3})\b", text).group(1)


@pytest.fixture
def registry(store, tmp_path: Path):
    """The social secretariat example, applied, with codes issued as letters."""
    apply_paths(store, EXAMPLES / "social-secretariat")
    letters = tmp_path / "letters"
    assert issue_codes(store, LetterBox(str(letters)), None, NOW, "http://login.example/first-login", "r1") == 9
    return store, letters


def username(store, ssin: str, enterprise: str = SS) -> str:
    return store.account_of(enterprise, ssin).username


def test_codes_are_issued_once_as_two_private_letters(registry) -> None:
    store, letters = registry
    accounts = store.accounts(SS)
    assert {a.effective_status(NOW) for a in accounts} == {"pending"}
    assert {a.activation_deadline for a in accounts} == {"2026-12-02T08:00:00+00:00"}
    folder = letters / SS / username(store, SOFIE)
    assert sorted(p.name for p in folder.iterdir()) == ["1-user-name.txt", "2-temporary-password.txt"]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o600}
    user_letter = (folder / "1-user-name.txt").read_text()
    assert "Uw gebruikersnaam: sclaes" in user_letter and "tijdelijke wachtwoord:" not in user_letter
    assert "http://login.example/first-login" in user_letter and "2026-12-02 08:00 UTC" in user_letter
    # Nothing left to issue: a second run sends nothing and replaces no letter.
    before = (folder / "2-temporary-password.txt").read_text()
    assert issue_codes(store, LetterBox(str(letters)), None, NOW, "x", "r2") == 0
    assert (folder / "2-temporary-password.txt").read_text() == before


def test_codes_never_reach_the_store_or_the_audit_trail(registry) -> None:
    store, letters = registry
    codes = [code_of(letters, SS, a.username) for a in store.accounts(SS)]
    dumped = repr(store.dump())
    for code in codes:
        assert code not in dumped and code.replace("-", "") not in dumped
    assert all(a.temporary_hash.startswith("$argon2id$") for a in store.accounts(SS))
    issued = [e for e in store.audit_entries(SS) if e.action == "issue-codes"]
    assert len(issued) == 9 and all("activation_deadline" in e.after for e in issued)


def test_expired_codes_no_longer_work(registry) -> None:
    store, letters = registry
    name = username(store, LIEN)
    code = code_of(letters, SS, name)
    later = NOW + timedelta(days=30, seconds=1)
    assert store.account(name).effective_status(later) == "expired"
    with pytest.raises(firstlogin.CodesExpired, match="expired on 2026-12-02"):
        firstlogin.start(store, name, code, later)
    assert firstlogin.start(store, name, code, NOW + timedelta(days=29)).ssin == LIEN


# (actor, subject, allowed): the level above issues new codes, nobody else.
REISSUE = [
    (CONTACT_CENTER, SOFIE, True),  # the main access manager: only the contact center
    (OLIVIER, SOFIE, False),
    (SOFIE, OLIVIER, True),  # a co-main access manager: the main access manager
    (ILSE, OLIVIER, False),
    (OLIVIER, ILSE, True),  # an access manager: (co-)main access managers
    (MARC, ILSE, False),
    (SOFIE, MARC, True),  # a co-access manager: main, or the quality's access manager
    (ILSE, MARC, False),  # access manager of another quality
    (ILSE, PIETER, True),  # a user: the access manager of the user's quality
    (ILSE, LIEN, False),  # ... not of another quality
    (MARC, LIEN, True),  # ... or a co-access manager of it
    (MARC, NATHALIE, False),
    (OLIVIER, NATHALIE, True),
    (LIEN, KARIM, False),  # users never issue codes
    (LIEN, LIEN, False),  # nobody issues their own codes
    (CONTACT_CENTER, LIEN, False),  # the contact center only helps main access managers
]


@pytest.mark.parametrize(("actor", "subject", "allowed"), REISSUE)
def test_reissue_is_reserved_to_the_level_above(registry, actor: str, subject: str, allowed: bool) -> None:
    store, letters = registry
    name = username(store, subject)
    old_code = code_of(letters, SS, name)
    later = NOW + timedelta(days=40)
    operator = "Jan Operator" if actor == CONTACT_CENTER else None
    if not allowed:
        with pytest.raises(NotAllowed, match="may not issue new access codes"):
            reissue_codes(store, LetterBox(str(letters)), actor, SS, name, later, "http://l", "r3", operator)
        assert code_of(letters, SS, name) == old_code
        return
    account = reissue_codes(store, LetterBox(str(letters)), actor, SS, name, later, "http://l", "r3", operator)
    assert account.effective_status(later) == "pending"
    assert account.activation_deadline == "2027-01-11T08:00:00+00:00"
    new_code = code_of(letters, SS, name)
    assert new_code != old_code
    with pytest.raises(firstlogin.LoginRefused):
        firstlogin.start(store, name, old_code, later)
    assert firstlogin.start(store, name, new_code, later).ssin == subject
    entry = store.audit_entries(SS)[-1]
    assert (entry.action, entry.address) == ("reissue-codes", f"account {name}")
    assert entry.actor == (f"{CONTACT_CENTER} (Jan Operator)" if operator else actor)
    assert '"status":"expired"' in entry.before


def test_contact_center_must_name_its_operator(registry) -> None:
    store, letters = registry
    with pytest.raises(NotAllowed, match="--operator"):
        reissue_codes(store, LetterBox(str(letters)), CONTACT_CENTER, SS, "sclaes", NOW, "l", "r")


def test_reissue_by_national_register_number_and_unknown_accounts(registry) -> None:
    store, letters = registry
    assert reissue_codes(store, LetterBox(str(letters)), ILSE, SS, "73.07.05-554.05", NOW, "l", "r").ssin == PIETER
    with pytest.raises(NotAllowed, match="has no account"):
        reissue_codes(store, LetterBox(str(letters)), ILSE, SS, "nobody", NOW, "l", "r")


def test_reissue_of_an_active_account_ends_its_password_and_sessions(registry) -> None:
    store, letters = registry
    name = username(store, PIETER)
    account = firstlogin.start(store, name, code_of(letters, SS, name), NOW)
    firstlogin.confirm_identity(store, account, PIETER, NOW)
    active = firstlogin.choose_password(store, account, "a long passphrase here", "a long passphrase here", NOW, "r")
    assert firstlogin.login(store, name, "a long passphrase here", NOW).status == "active"
    assert firstlogin.signed_in(store, name, active.session_epoch) is not None
    reissue_codes(store, LetterBox(str(letters)), ILSE, SS, name, NOW, "l", "r")
    assert firstlogin.signed_in(store, name, active.session_epoch) is None
    with pytest.raises(firstlogin.LoginRefused):
        firstlogin.login(store, name, "a long passphrase here", NOW)


def test_removing_a_person_deactivates_the_account_at_once(store, tmp_path: Path) -> None:
    small = EXAMPLES / "small-employer.yaml"
    apply_paths(store, small)
    letters = tmp_path / "letters"
    issue_codes(store, LetterBox(str(letters)), None, NOW, "l", "r")
    account = firstlogin.start(store, "felamrani", code_of(letters, SMALL, "felamrani"), NOW)
    firstlogin.confirm_identity(store, account, "61061906014", NOW)
    active = firstlogin.choose_password(store, account, "a long passphrase here", "a long passphrase here", NOW, "r")
    jan_code = code_of(letters, SMALL, "jmertens")
    text = small.read_text(encoding="utf-8")
    without = text[: text.index("    users:")] + "    users: []\n"  # both users removed
    (tmp_path / "declared").mkdir()
    (tmp_path / "declared" / "small.yaml").write_text(without, encoding="utf-8")
    apply_paths(
        store, tmp_path / "declared", now=NOW + timedelta(hours=1), overrides=frozenset({"--allow-mass-removal"})
    )
    fatima = store.account_of(SMALL, "61061906014")
    assert (fatima.status, fatima.deactivated_at) == ("deactivated", "2026-11-02T09:00:00+00:00")
    assert fatima.password_hash is None and fatima.temporary_hash is None
    assert firstlogin.signed_in(store, "felamrani", active.session_epoch) is None
    with pytest.raises(firstlogin.LoginRefused):
        firstlogin.login(store, "felamrani", "a long passphrase here", NOW)
    with pytest.raises(firstlogin.LoginRefused):
        firstlogin.start(store, "jmertens", jan_code, NOW)
    with pytest.raises(NotAllowed, match="deactivated"):
        reissue_codes(store, LetterBox(str(letters)), "75031366754", SMALL, "jmertens", NOW, "l", "r")
    # Declared again: the same account and user name come back, waiting for new codes.
    apply_paths(store, small, now=NOW + timedelta(hours=2))
    back = store.account_of(SMALL, "61061906014")
    assert (back.username, back.effective_status(NOW), back.deactivated_at) == ("felamrani", "awaiting codes", None)


def test_user_names_are_unique_across_enterprises(store, tmp_path: Path) -> None:
    text = (EXAMPLES / "small-employer.yaml").read_text(encoding="utf-8")
    (tmp_path / "a.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(text.replace("0999.055.557", "0999.088.815"), encoding="utf-8")
    apply_paths(store, tmp_path / "a.yaml", tmp_path / "b.yaml")
    names = [a.username for n in (SMALL, "0999088815") for a in store.accounts(n)]
    assert sorted(names) == ["emertens", "emertens2", "felamrani", "felamrani2", "jmertens", "jmertens2"]
