"""Attacks on selection (P001, P002, --enterprise, undeclared), off-boarding, languages and drift,
and on the CI scripts that report plans and applies, on both stores.

A test that passes documents a defence; a test that fails shows a defect (described in its
docstring, with what it would take to fix it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT, drop_store, new_store_url, outside_write

from reconciler.accounts import firstlogin
from reconciler.plan.saved import _checksum
from reconciler.store.audit import verify
from reconciler.store.backends import open_store

SECRETARIAT = "0999077729"
SMALL = "0999055557"
ELS = "75031366754"  # main access manager (and access manager of employer) of the small employer
JAN = "58022754967"  # a user of the small employer
SOFIE = "87040208957"  # main access manager of the secretariat
MARC = "60091406166"  # co-access manager of social-secretariat in the secretariat
LIEN = "91020864669"  # a user of the secretariat
OFFBOARD_SMALL = f'enterprise:\n  number: "{SMALL}"\n  offboard: true\n'
SPLIT = ("enterprise.yaml", "social-secretariat.yaml", "service-provider.yaml")  # employer.yaml left out


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def applied(run, tree: Path, store_url: str) -> str:
    """The registry applied from its relative path, as CI does from the repository's root."""
    done = run("apply", "registry", "--state", store_url, "--auto-approve", "--defer-codes")
    assert done.exit_code == 0, done.output
    return store_url


def plan_json(run, *args) -> dict:
    result = run("plan", *args, "--format", "json")
    assert result.exit_code in (0, 2), result.output
    return json.loads(result.stdout)


def drift_of(run, url: str) -> list:
    result = run("drift", "--state", url, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["enterprises"]


def rows(url: str, sql: str) -> list[tuple]:
    store = open_store(url)
    try:
        with store._snapshot():
            return [tuple(r) for r in store._rows(sql)]
    finally:
        store.close()


def audit_ok(url: str) -> list[str]:
    store = open_store(url)
    try:
        return verify(store.audit_entries(), store.audit_heads())
    finally:
        store.close()


def qualities_of(url: str, number: str) -> list[str]:
    return sorted(r[0] for r in rows(url, f"SELECT code FROM qualities WHERE enterprise = '{number}'"))


def resave(path: Path, edit) -> None:
    """Rewrite a saved plan as anyone without RECONCILER_PLAN_KEY can: edit it, recompute its SHA-256."""
    document = json.loads(path.read_text())
    document.pop("checksum")
    edit(document)
    document["checksum"] = _checksum(document)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False))


# --------------------------------------------------------------------------- selection (P001, P002, --enterprise)


def _spelled(how: str, tree: Path, tmp_path: Path, monkeypatch) -> list[str]:
    split = tree / "social-secretariat"
    if how == "absolute":
        return [str(split / name) for name in SPLIT]
    if how == "dot-dot":
        return [f"registry/../registry/social-secretariat/{name}" for name in SPLIT]
    if how == "symlink":
        (tmp_path / "team").symlink_to(split, target_is_directory=True)
        return [f"team/{name}" for name in SPLIT]
    assert how == "other-working-directory"
    monkeypatch.chdir(tree)
    return [f"social-secretariat/{name}" for name in SPLIT]


@pytest.mark.parametrize("how", ["absolute", "dot-dot", "symlink", "other-working-directory"])
def test_p001_holds_whatever_the_spelling_of_the_paths(run, tree, applied, tmp_path, monkeypatch, how) -> None:
    """Was a defect (high), now a defence:
    P001 compares paths as strings: the files an enterprise was last applied
    from are looked up by the exact spelling given now (``store.sync_records(paths)``), and the
    missing ones by ``p not in given``.  Given three of the secretariat's four files spelled
    otherwise than at the last apply (absolute, through ``..``, a symlink, or from another working
    directory), no sync record is found at all and the plan silently removes what the fourth file
    declares (the employer quality, its access manager and its user): one user and one
    administrator, under every threshold of G001.
    Fix: store and compare canonical paths (``os.path.realpath`` relative to a root, or compare
    with ``os.path.samefile``), and look the sync records up by the enterprises planned, not by the
    paths given."""
    given = _spelled(how, tree, tmp_path, monkeypatch)
    refused = run("plan", *given, "--state", applied)
    assert refused.exit_code == 1 and " P001 " in refused.stderr, refused.output


def test_apply_from_absolute_paths_removes_a_quality_no_gate_stops(run, tree, applied) -> None:
    """Was a defect (high); now a defence: the consequence of the one above: ``apply`` given three of four files by
    absolute path removes the employer quality with no gate and no P001."""
    given = [tree / "social-secretariat" / name for name in SPLIT]
    done = run("apply", *given, "--state", applied, "--auto-approve", "--defer-codes")
    assert "employer" in qualities_of(applied, SECRETARIAT), done.output


def test_p001_with_the_usual_spelling_is_refused(run, tree, applied) -> None:
    """Defence: the same files, spelled as at the last apply, are refused by P001."""
    refused = run("plan", *[f"registry/social-secretariat/{name}" for name in SPLIT], "--state", applied)
    assert refused.exit_code == 1 and " P001 " in refused.stderr
    assert "registry/social-secretariat/employer.yaml still exists but was not given" in refused.stderr


def test_p001_does_not_name_a_given_file_as_missing(run, tree, applied) -> None:
    """Was a defect (low), now a defence:
    Given with ``..`` in one path and the usual spelling in the others, P001 names
    the very file that was given as "not given" (``enterprise.yaml``): the message misleads the
    operator, who then reaches for ``--enterprise``.  Fix: compare canonical paths."""
    given = ["registry/../registry/social-secretariat/enterprise.yaml"]
    given += [f"registry/social-secretariat/{name}" for name in SPLIT[1:]]
    refused = run("plan", *given, "--state", applied)
    assert refused.exit_code == 1
    assert "registry/social-secretariat/enterprise.yaml" not in refused.stderr.split("; ", 1)[1].split(" still")[0]


def test_enterprise_selection_cannot_be_fooled_by_a_file_head(run, tree, applied) -> None:
    """Was a defect (medium), now a defence:
    ``--enterprise`` keeps the files whose *head* (a regular expression over the
    first lines) names the enterprise, before parsing.  A plain scalar folded over two lines
    (``number: 0999.077`` then ``    .729``) is the secretariat's number to YAML, but the head reads
    ``0999.077``: the file is dropped unread, and ``plan --enterprise 0999077729`` over the folder
    removes the employer quality the folder still declares (the same plan without --enterprise has
    no such change).  A hostile file author makes one team's file vanish from selected plans.
    Fix: treat a head that is not a valid enterprise number as unknown (parse the file), or check
    after parsing that no file left out declares a selected enterprise."""
    employer = tree / "social-secretariat" / "employer.yaml"
    employer.write_text(employer.read_text().replace('  number: "0999.077.729"\n', "  number: 0999.077\n    .729\n"))
    whole = plan_json(run, "registry", "--state", applied, "--full")
    assert whole["changes"] == []
    selected = plan_json(run, "registry", "--state", applied, "--enterprise", SECRETARIAT)
    assert selected["changes"] == [], [c["address"] for c in selected["changes"]]


def test_enterprise_selection_does_not_lift_p001_of_other_enterprises(run, tree, applied) -> None:
    """Defence: --enterprise X plans X alone; files of another enterprise given partially are not read."""
    given = [f"registry/social-secretariat/{name}" for name in SPLIT] + ["registry/small-employer.yaml"]
    planned = plan_json(run, *given, "--state", applied, "--enterprise", SMALL, "--full")
    assert {c["enterprise"] for c in planned["changes"]} <= {SMALL}
    assert [s["enterprise"] for s in planned["sync"]] == [SMALL]


def test_enterprise_selection_keeps_authority_checks(run, tree, applied) -> None:
    """Defence: --enterprise does not lift the authority matrix: a co-access manager may not remove a quality."""
    (tree / "social-secretariat" / "employer.yaml").unlink()
    refused = run("plan", "registry", "--state", applied, "--enterprise", SECRETARIAT, "--actor", MARC)
    assert refused.exit_code == 1 and " A005 " in refused.stderr


def test_enterprise_selection_is_refused_with_a_saved_plan_and_not_declared(run, tree, applied) -> None:
    """Defence: P002 for an enterprise selected but not given; --enterprise with a saved plan refused."""
    refused = run("apply", "registry/small-employer.yaml", "--state", applied, "--enterprise", SECRETARIAT)
    assert refused.exit_code == 1 and " P002 " in refused.stderr
    assert rows(applied, f"SELECT count(*) FROM qualities WHERE enterprise = '{SECRETARIAT}'")[0][0] == 3


def test_undeclared_names_from_the_store_are_inert(run, tree, applied) -> None:
    """Defence: an enterprise row written by hand with a hostile number is listed as undeclared, inert
    in text (no ESC) and inside a fence in Markdown (no mention, no closing of the block)."""
    number = "@all`\x1b[2J<"  # ten characters
    assert len(number) == 10
    # A row that is not off-boarded has a main access manager (a stored enterprise without one
    # counts as off-boarded and is never listed).
    escape = "' || char(27) || '" if applied.startswith("sqlite") else "' || chr(27) || '"
    sql = number.replace("\x1b", escape)
    person = f"INSERT INTO persons (enterprise, ssin, name, email) VALUES ('{sql}', '12345678901', 'x', 'x@x.example')"
    enterprise = f"INSERT INTO enterprises (number, name, main_access_manager) VALUES ('{sql}', 'x', '12345678901')"
    if applied.startswith("sqlite"):
        outside_write(applied, enterprise)
        outside_write(applied, person)
    else:
        outside_write(applied, f"BEGIN; {enterprise}; {person}; COMMIT")
    text = run("plan", "registry", "--state", applied)
    assert text.exit_code == 0, text.output
    assert "Stored but no longer declared (1;" in text.stdout and "\x1b" not in text.stdout
    markdown = run("plan", "registry", "--state", applied, "--format", "markdown").stdout
    assert "\x1b" not in markdown
    before, fence = markdown.split("```text\n", 1)
    fenced, after = fence.split("\n```", 1)
    assert "@all" in fenced and "@all" not in before + after


def test_a_subfolder_does_not_call_the_rest_of_the_registry_undeclared(run, tree, applied) -> None:
    """Was a defect (low), now a defence:
    ``undeclared`` is every stored enterprise the folders given do not declare, so a
    plan over one team's subfolder (``plan registry/social-secretariat``) says the small employer is
    "Stored but no longer declared ... to remove one declare it with offboard: true", though its file
    is in the repository and unchanged: a careless operator is invited to off-board it.
    Fix: list only enterprises whose last-applied files (``declared_files``) lie under the folders
    given and are gone from them."""
    planned = plan_json(run, "registry/social-secretariat", "--state", applied, "--full")
    assert planned["changes"] == []
    assert SMALL not in planned["undeclared"]


# --------------------------------------------------------------------------- off-boarding


@pytest.fixture
def small_applied(run, tmp_path: Path, store_url: str) -> Path:
    declared = tmp_path / "small.yaml"
    shutil.copy(EXAMPLES / "small-employer.yaml", declared)
    done = run("apply", declared, "--state", store_url, "--auto-approve", "--delivery", f"letters:{tmp_path}/letters")
    assert done.exit_code == 0, done.output
    return declared


def test_offboarding_needs_its_gate(run, small_applied, store_url) -> None:
    """Defence: without --allow-offboarding nothing is removed (exit 6), whatever other flag is given."""
    small_applied.write_text(OFFBOARD_SMALL)
    refused = run(
        "apply", small_applied, "--state", store_url, "--auto-approve", "--allow-mass-removal", "--allow-self-removal"
    )
    assert refused.exit_code == 6 and "G006" in refused.stdout
    assert qualities_of(store_url, SMALL) == ["employer"]


def test_offboarding_is_refused_to_people_without_authority(run, small_applied, store_url) -> None:
    """Defence: off-boarding is one decision (A012), the legal representative's or the main access
    manager's; a user may not take it, and is told so once, not once per record."""
    small_applied.write_text(OFFBOARD_SMALL)
    refused = run("plan", small_applied, "--state", store_url, "--actor", JAN)
    assert refused.exit_code == 1
    assert [line.split(": ", 2)[1][:4] for line in refused.stderr.splitlines()[:-1]] == ["A012"]
    allowed = run("plan", small_applied, "--state", store_url, "--actor", ELS)
    assert allowed.exit_code == 0, allowed.stderr


def test_someone_may_offboard_under_the_authority_matrix(run, small_applied, store_url) -> None:
    """Was a defect (medium), now a defence:
    Under ``--actor`` (as the CI recipes always plan) nobody may off-board: the
    main access manager is refused A002 (the header's main access manager goes to null), the legal
    representative A003/A005/A006/A008 (every quality, user and the default quality go).  The only
    way to off-board is then to plan without --actor, outside the reviewed flow.
    Fix: an off-boarding is one act with an area of its own (closing the enterprise account,
    legal representative), checked instead of the per-record areas it is made of."""
    small_applied.write_text(OFFBOARD_SMALL)
    planned = run("plan", small_applied, "--state", store_url, "--actor", "legal-representative")
    assert planned.exit_code == 0, planned.stderr
    assert "G006" in planned.stdout


def test_offboarding_ends_every_account_and_session_and_redeclaring_works(run, small_applied, store_url, tmp_path):
    """Defence, on both stores: off-boarding deactivates every account (codes and password gone, the
    session epoch moved), leaves only the header, no drift, a verifying trail; declaring the
    enterprise again brings it back, pending, with no drift either."""
    code = (tmp_path / "letters" / SMALL / "jmertens" / "2-temporary-password.txt").read_text()
    code = re.search(r"\b([A-Z2-9]{4}(?:-[A-Z2-9]{4}){3})\b", code).group(1)
    store = open_store(store_url)
    try:
        now = datetime.now(UTC)
        account = firstlogin.start(store, "jmertens", code, now)
        firstlogin.confirm_identity(store, account, JAN, now)
        firstlogin.choose_password(store, account, "a long passphrase here", "a long passphrase here", now, "r")
        epoch = {a.ssin: a.session_epoch for a in store.accounts(SMALL)}
    finally:
        store.close()
    assert drift_of(run, store_url) == []  # a first login is no drift
    small_applied.write_text(OFFBOARD_SMALL)
    done = run("apply", small_applied, "--state", store_url, "--auto-approve", "--allow-offboarding")
    assert done.exit_code == 0, done.output
    store = open_store(store_url)
    try:
        accounts = store.accounts(SMALL)
        assert {a.status for a in accounts} == {"deactivated"}
        assert all(a.password_hash is None and a.temporary_hash is None for a in accounts)
        assert all(a.session_epoch > epoch[a.ssin] for a in accounts)
        with pytest.raises(firstlogin.LoginRefused):
            firstlogin.login(store, "jmertens", "a long passphrase here", datetime.now(UTC))
        assert list(store.read([SMALL])[SMALL].state.records) == [
            a for a in store.read([SMALL])[SMALL].state.records if a.kind.value == "enterprise"
        ]
    finally:
        store.close()
    assert drift_of(run, store_url) == [] and audit_ok(store_url) == []
    again = run("plan", small_applied, "--state", store_url)
    assert again.exit_code == 0 and "No changes." in again.stdout
    shutil.copy(EXAMPLES / "small-employer.yaml", small_applied)
    back = run("apply", small_applied, "--state", store_url, "--auto-approve", "--defer-codes")
    assert back.exit_code == 0, back.output
    store = open_store(store_url)
    try:
        assert {a.status for a in store.accounts(SMALL)} == {"pending"}
    finally:
        store.close()
    assert drift_of(run, store_url) == [] and audit_ok(store_url) == []
    assert "No changes." in run("plan", small_applied, "--state", store_url, "--full").stdout


def test_offboarding_an_enterprise_with_a_language_can_be_planned_by_an_actor(run, tree, applied) -> None:
    """Was a defect (medium); now a defence: see the language defect below: off-boarding the secretariat (whose header
    has ``language: nl``) as any actor ends in a traceback (KeyError: 'language')."""
    for path in (tree / "social-secretariat").iterdir():
        path.write_text(f'enterprise:\n  number: "{SECRETARIAT}"\n  offboard: true\n')
    result = run("plan", "registry/social-secretariat", "--state", applied, "--actor", SOFIE)
    assert result.exit_code in (0, 1, 2)


def test_offboarding_keeps_protected_roles_behind_their_own_gate(run, small_applied, store_url) -> None:
    """Defence: a protected user is not removed by --allow-offboarding alone (G005 still holds)."""
    small_applied.write_text(
        small_applied.read_text().replace(
            "services: [checkinatwork]\n", "services: [checkinatwork]\n        protected: true\n"
        )
    )
    assert run("apply", small_applied, "--state", store_url, "--auto-approve").exit_code == 0
    small_applied.write_text(OFFBOARD_SMALL)
    refused = run("apply", small_applied, "--state", store_url, "--auto-approve", "--allow-offboarding")
    assert refused.exit_code == 6 and "G005" in refused.stdout
    assert qualities_of(store_url, SMALL) == ["employer"]


def test_an_offboarding_file_cannot_keep_people(run, small_applied, store_url) -> None:
    """Defence: H021 refuses an off-boarding file that still declares anything but the header."""
    small_applied.write_text(
        small_applied.read_text().replace("  name: Bakkerij", "  offboard: true\n  name: Bakkerij")
    )
    refused = run("plan", small_applied, "--state", store_url)
    assert refused.exit_code == 1 and " H021 " in refused.stderr


# --------------------------------------------------------------------------- language


def test_changing_the_enterprise_language_can_be_planned_with_an_actor(run, tree, applied) -> None:
    """Was a defect (medium), now a defence:
    ``plan --actor`` (and ``apply FILE`` of a plan with an actor) crashes with a
    traceback, ``KeyError: 'language'``, whenever a plan changes an enterprise's default language:
    ``authority._ENTERPRISE_FIELDS`` has no area for the new header field.  In CI every plan runs
    with --actor, so any such change breaks the pipeline instead of being checked.
    Fix: give ``language`` an area in ``_ENTERPRISE_FIELDS`` (A003, as the name)."""
    header = tree / "social-secretariat" / "enterprise.yaml"
    header.write_text(header.read_text().replace("  language: nl\n", "  language: fr\n"))
    result = run("plan", "registry", "--state", applied, "--actor", SOFIE)
    assert result.exit_code == 0, result.output


def test_person_language_change_is_checked_as_a_correction(run, tree, applied) -> None:
    """Defence: a person's language change falls in A011 (the person concerned may, a user of
    another may not)."""
    header = tree / "social-secretariat" / "enterprise.yaml"
    header.write_text(header.read_text().replace("    language: fr\n", "    language: de\n"))
    assert run("plan", "registry", "--state", applied, "--actor", SOFIE).exit_code == 0
    refused = run("plan", "registry", "--state", applied, "--actor", LIEN)
    assert refused.exit_code == 1 and " A011 " in refused.stderr


def test_languages_survive_export_and_outside_edits_of_them_are_drift(run, tree, applied, tmp_path) -> None:
    """Defence, on both stores: languages are exported so that the export plans no change, and a
    language written by hand (enterprise or person) moves the version and is drift."""
    out = tmp_path / "exported"
    assert run("export", "--state", applied, "--out", out).exit_code == 0
    assert "No changes." in run("plan", out, "--state", applied, "--full").stdout
    outside_write(applied, f"UPDATE enterprises SET language = 'de' WHERE number = '{SECRETARIAT}'")
    outside_write(applied, f"UPDATE persons SET language = 'en' WHERE ssin = '{LIEN}'")
    [drifted] = drift_of(run, applied)
    assert {r["address"] for r in drifted["records"]} == {
        f"enterprise[{SECRETARIAT}]",
        f"enterprise[{SECRETARIAT}].person[{LIEN}]",
    }


# --------------------------------------------------------------------------- drift


def test_no_drift_after_ordinary_operations(run, small_applied, store_url, tmp_path, monkeypatch) -> None:
    """Defence, on both stores: no drift after an apply with no change, `credentials issue`,
    `credentials reissue`, `audit seal` with a key, and a copy by `state migrate` to the other kind."""
    assert run("apply", small_applied, "--state", store_url, "--auto-approve", "--full").exit_code == 0
    assert run("credentials", "issue", "--state", store_url, "--delivery", f"letters:{tmp_path}/l").exit_code == 0
    reissued = run(
        "credentials",
        "reissue",
        "jmertens",
        "--enterprise",
        SMALL,
        "--actor",
        ELS,
        "--state",
        store_url,
        "--delivery",
        f"letters:{tmp_path}/l",
    )
    assert reissued.exit_code == 0, reissued.output
    monkeypatch.setenv("RECONCILER_AUDIT_KEY", "k" * 32)
    assert run("audit", "seal", "--state", store_url).exit_code == 0
    assert drift_of(run, store_url) == []
    other = new_store_url("postgresql" if store_url.startswith("sqlite") else "sqlite", tmp_path)
    try:
        copied = run("state", "migrate", "--from", store_url, "--to", other)
        assert copied.exit_code == 0, copied.output
        assert drift_of(run, other) == []
        assert "No changes." in run("plan", small_applied, "--state", other, "--full").stdout
    finally:
        drop_store(other)


def test_an_outside_write_is_not_lost_behind_an_unrelated_change(run, small_applied, store_url) -> None:
    """Defence: a hand edit, then a YAML edit elsewhere in the enterprise: the plan marks the hand
    edit's reversal; after apply it is undone, the store has no drift and the trail verifies."""
    outside_write(store_url, f"UPDATE persons SET email = 'x@evil.example' WHERE ssin = '{JAN}'")
    small_applied.write_text(small_applied.read_text().replace("administratie@", "hr@"))
    plan = run("plan", small_applied, "--state", store_url)
    assert plan.stdout.count("(changed outside reconciler since the last apply") == 1
    assert run("apply", small_applied, "--state", store_url, "--auto-approve").exit_code == 0
    assert rows(store_url, f"SELECT email FROM persons WHERE ssin = '{JAN}'") == [("jan@goudenkorst.example",)]
    assert drift_of(run, store_url) == [] and audit_ok(store_url) == []


def test_a_tampered_drift_list_in_a_saved_plan_writes_nothing_to_the_trail(run, small_applied, store_url, tmp_path):
    """Was a defect (medium), now a defence:
    A saved plan's ``drift`` list is trusted by ``apply FILE``: nothing in
    ``check_saved_plan`` recomputes it, and ``plan_hash`` (recorded in the trail) does not cover it.
    Anyone who can rewrite the plan file (no RECONCILER_PLAN_KEY: a SHA-256 anyone recomputes) adds
    a made-up record; apply writes it into the enterprise's audit trail as an ``adopt`` entry, with
    the plan's actor, though the store never held it.  The trail, the evidence of who did what,
    now says reconciler found and adopted a co-main access manager nobody appointed (and a later
    ``reconciler drift`` reports the fiction as removed outside reconciler).
    Fix: recompute the drift at apply from the store and the trail (or at least drop every item
    that does not match what the store holds now), and cover it with ``plan_hash``."""
    small_applied.write_text(small_applied.read_text().replace("administratie@", "hr@"))
    saved = tmp_path / "plan.json"
    assert run("plan", small_applied, "--state", store_url, "--out", saved).exit_code == 0
    forged = f"enterprise[{SMALL}].co_main_access_manager[{JAN}]"

    def add(document: dict) -> None:
        document["plan"]["drift"].append(
            {"enterprise": SMALL, "address": forged, "applied": None, "found": {"protected": False}}
        )

    resave(saved, add)
    done = run("apply", saved, "--state", store_url, "--auto-approve")
    assert done.exit_code == 0, done.output
    store = open_store(store_url)
    try:
        assert [e.address for e in store.audit_entries(SMALL) if e.action == "adopt"] == []
    finally:
        store.close()


def test_a_tampered_drift_list_is_shown_inert(run, small_applied, store_url, tmp_path) -> None:
    """Defence: hostile text in a saved plan's drift and undeclared fields reaches no terminal and no
    comment as markup (show FILE in text and Markdown)."""
    small_applied.write_text(small_applied.read_text().replace("administratie@", "hr@"))
    saved = tmp_path / "plan.json"
    assert run("plan", small_applied, "--state", store_url, "--out", saved).exit_code == 0
    hostile = "\x1b]8;;http://x\x07@all</details>```"

    def add(document: dict) -> None:
        document["plan"]["drift"].append({"enterprise": hostile, "address": hostile, "applied": None, "found": {}})
        document["plan"]["undeclared"].append(hostile)

    resave(saved, add)
    text = run("show", saved)
    assert text.exit_code == 0, text.output
    assert "\x1b" not in text.stdout and "\x07" not in text.stdout
    markdown = run("show", saved, "--format", "markdown").stdout
    assert "\x1b" not in markdown and "\x07" not in markdown
    opening = next(line for line in markdown.splitlines() if line.endswith("text") and line.startswith("```"))
    before, fence = markdown.split(opening + "\n", 1)
    fenced, after = fence.split("\n" + opening.removesuffix("text") + "\n", 1)
    assert "@all" in fenced and "@all" not in before + after


def test_adopting_a_person_written_by_hand_gives_them_an_account(run, small_applied, store_url) -> None:
    """Was a defect (medium), now a defence:
    A person row inserted by hand that the declaration then agrees with is
    "adopted" (an ``adopt`` entry, drift cleared) but reconciler never creates their account: an
    account is only made when reconciler itself creates the person row.  The plan says nothing,
    `credentials issue` sends nothing, and the declared user can never log in.
    Fix: when adopting a person (or whenever a declared person has no account), create the
    account as a creation would."""
    newcomer = "85073003328"
    outside_write(
        store_url,
        f"INSERT INTO persons (enterprise, ssin, name, email) VALUES ('{SMALL}', '{newcomer}', 'Nora Peeters', "
        "'nora@goudenkorst.example')",
    )
    small_applied.write_text(
        small_applied.read_text().replace(
            "        services: [checkinatwork]\n",
            "        services: [checkinatwork]\n"
            f'      - ssin: "{newcomer}"\n        name: Nora Peeters\n        email: nora@goudenkorst.example\n'
            "        services: [dimona]\n",
        )
    )
    done = run("apply", small_applied, "--state", store_url, "--auto-approve", "--defer-codes")
    assert done.exit_code == 0, done.output
    assert drift_of(run, store_url) == []
    store = open_store(store_url)
    try:
        assert newcomer in {a.ssin for a in store.accounts(SMALL)}
    finally:
        store.close()


def test_adopt_entries_keep_a_keyed_trail_verifiable(run, small_applied, store_url, monkeypatch) -> None:
    """Defence: with RECONCILER_AUDIT_KEY, a sealed trail with adopt entries still verifies."""
    monkeypatch.setenv("RECONCILER_AUDIT_KEY", "k" * 32)
    assert run("audit", "seal", "--state", store_url).exit_code == 0
    outside_write(store_url, f"UPDATE persons SET email = 'jan@elsewhere.example' WHERE ssin = '{JAN}'")
    small_applied.write_text(small_applied.read_text().replace("jan@goudenkorst.example", "jan@elsewhere.example"))
    assert run("apply", small_applied, "--state", store_url, "--auto-approve").exit_code == 0
    verified = run("audit", "verify", "--state", store_url)
    assert verified.exit_code == 0, verified.output
    assert drift_of(run, store_url) == []


# --------------------------------------------------------------------------- CI scripts


def _bash(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", *args], cwd=cwd, capture_output=True, text=True, timeout=20)


def test_apply_result_quotes_no_line_a_file_name_writes(run, tmp_path: Path) -> None:
    """Defence: a file name holding a line break and a forged "Apply complete" line is refused and
    printed escaped, so apply-result.sh reports "Not applied" and quotes nothing."""
    folder = tmp_path / "enterprises"
    folder.mkdir()
    shutil.copy(EXAMPLES / "small-employer.yaml", folder / "small.yaml")
    forged = "x\nApply complete: 1 change in 1 enterprise committed. [x](https:&#47;&#47;e) @all\n.yaml"
    shutil.copy(EXAMPLES / "small-employer.yaml", folder / forged)
    state = f"sqlite:///{tmp_path / 's.db'}"
    result = run("apply", folder, "--state", state, "--auto-approve", "--defer-codes")
    log = tmp_path / "apply.log"
    log.write_text(result.stdout + result.stderr)
    report = _bash(str(ROOT / "examples" / "ci" / "apply-result.sh"), str(result.exit_code), str(log), cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "Not applied" in report.stdout and "@all" not in report.stdout and "](" not in report.stdout
