"""Trust at the boundaries: plans bound to their store, the actor checked again at apply, the audit
trail that stops the line, secrets never printed, private files, and closed pipes.

Each test is an attack that worked before the change it guards; see SECURITY.md.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT, bypass_append_only, drop_store, new_store_url

from reconciler.plan import saved as saved_plans
from reconciler.store import audit
from reconciler.store.backends import open_store
from reconciler.store.urls import redact_url, scrub
from tests.test_gitops import WITHOUT_USERS, edited

SMALL = EXAMPLES / "small-employer.yaml"
E = "0999055557"
MAIN, USER = "75031366754", "58022754967"


def version(url: str) -> int:
    store = open_store(url)
    try:
        return store.read([E])[E].version
    finally:
        store.close()


# --- 1. plans belong to one store ----------------------------------------------------------


def test_a_plan_made_on_one_store_is_refused_by_another(run, store_url: str, tmp_path: Path) -> None:
    other = new_store_url("sqlite", tmp_path)
    try:
        for url in (store_url, other):  # both at version 1: the versions alone cannot tell them apart
            assert run("apply", SMALL, "--state", url, "--auto-approve", "--defer-codes").exit_code == 0
        change = edited(tmp_path, "x.yaml", ("administratie@", "hr@"))
        assert run("plan", change, "--state", store_url, "--out", tmp_path / "p.plan").exit_code == 0
        refused = run("apply", tmp_path / "p.plan", "--state", other, "--auto-approve")
        assert refused.exit_code == 4
        mine, theirs = open_store(store_url), open_store(other)
        try:
            assert mine.identity() != theirs.identity()
            assert mine.identity() in refused.stderr and theirs.identity() in refused.stderr
            assert theirs.read([E])[E].version == 1  # nothing was written to the other store
            assert audit.verify(theirs.audit_entries(), theirs.audit_heads()) == []
        finally:
            mine.close()
            theirs.close()
        assert run("apply", tmp_path / "p.plan", "--state", store_url, "--auto-approve").exit_code == 0
    finally:
        drop_store(other)


def test_state_migrate_keeps_the_identity(run, tmp_path: Path) -> None:
    source, target = new_store_url("sqlite", tmp_path), new_store_url("postgresql", tmp_path)
    try:
        run("apply", SMALL, "--state", source, "--auto-approve", "--defer-codes")
        change = edited(tmp_path, "x.yaml", ("administratie@", "hr@"))
        run("plan", change, "--state", source, "--out", tmp_path / "p.plan")
        assert run("state", "migrate", "--from", source, "--to", target).exit_code == 0
        assert open_store(source).identity() == open_store(target).identity()
        assert run("apply", tmp_path / "p.plan", "--state", target, "--auto-approve").exit_code == 0
    finally:
        drop_store(target)


def forged(path: Path, **plan_fields: object) -> None:
    """Edit a saved plan and recompute its checksum, as anyone can without RECONCILER_PLAN_KEY."""
    document = json.loads(path.read_text())
    document.pop("checksum")
    document["plan"].update(plan_fields)
    document["checksum"] = saved_plans._checksum(document)
    path.write_text(json.dumps(document))


def test_apply_checks_the_recorded_actor_again(run, store_url: str, tmp_path: Path) -> None:
    run("apply", SMALL, "--state", store_url, "--auto-approve", "--defer-codes")
    change = edited(tmp_path, "x.yaml", ("administratie@", "hr@"), ("name: Bakkerij De Gouden Korst", "name: Bakkerij"))
    planned = run("plan", change, "--state", store_url, "--actor", MAIN, "--out", tmp_path / "p.plan")
    assert planned.exit_code == 0
    forged(tmp_path / "p.plan", actor=USER)  # a user may change neither the name nor the notification address
    refused = run("apply", tmp_path / "p.plan", "--state", store_url, "--auto-approve")
    assert refused.exit_code == 1
    assert f" A003 {USER} (no role) may not update enterprise[{E}]" in refused.stderr
    assert f" A009 {USER} (no role) may not update enterprise[{E}].quality[employer]" in refused.stderr
    assert "nothing was changed" in refused.stderr
    assert version(store_url) == 1
    forged(tmp_path / "p.plan", actor=MAIN)
    assert run("apply", tmp_path / "p.plan", "--state", store_url, "--auto-approve").exit_code == 0


def test_a_plan_of_the_previous_format_is_refused(run, tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 's.db'}"
    run("plan", SMALL, "--state", state, "--out", tmp_path / "p.plan")
    document = json.loads((tmp_path / "p.plan").read_text())
    document.pop("checksum")
    document.pop("store")
    document["format_version"] = "1.0"
    document["checksum"] = saved_plans._checksum(document)
    (tmp_path / "p.plan").write_text(json.dumps(document))
    refused = run("apply", tmp_path / "p.plan", "--state", state, "--auto-approve")
    assert refused.exit_code == 4 and "plan again" in refused.stderr


# --- 3. no secret is ever printed -------------------------------------------------------------

SENTINEL = "S3ntinel-Pa55"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://reader:{SENTINEL}@127.0.0.1:1/test",
        f"postgresql://reader:{SENTINEL}@127.0.0.1:1/test?schema=x;drop",
        f"postgres://reader:{SENTINEL}@[::1:1/test",
        f"postgresql://127.0.0.1:1/test?password={SENTINEL}",
        f"mysql://root:{SENTINEL}@127.0.0.1/db",
        f"postgresql://reader:{SENTINEL}@127.0.0.1:notaport/test",
        f"postgresql://reader:{SENTINEL}#x@127.0.0.1:1/test",
        f"postgresql://127.0.0.1:1/test?pass%77ord={SENTINEL}",
        f"postgresql://127.0.0.1:1/test?PASSWORD={SENTINEL}",
        f"postgresql://reader:Hun@{SENTINEL}@127.0.0.1:1/test",
    ],
)
def test_no_command_prints_the_password_of_a_state_url(run, tmp_path: Path, url: str) -> None:
    plan_file = tmp_path / "p.plan"
    run("plan", SMALL, "--state", f"sqlite:///{tmp_path / 's.db'}", "--out", plan_file)
    commands = [
        ["plan", SMALL],
        ["apply", SMALL, "--auto-approve"],
        ["apply", plan_file, "--auto-approve"],
        ["show"],
        ["show", E],
        ["export", "--out", tmp_path / "out"],
        ["audit", "log"],
        ["audit", "verify"],
        ["lock", "list"],
        ["lock", "release", E],
        ["credentials", "issue"],
        ["credentials", "reissue", "x", "--enterprise", E, "--actor", MAIN],
        ["activate"],
        ["serve", "--port", "1"],
    ]
    for command in commands:
        result = run(*command, "--state", url, input="someone\nCODE\n")
        shown = result.stdout + result.stderr
        assert result.exit_code != 0, command
        assert SENTINEL not in shown, (command, shown)
    for pair in (
        ["--from", url, "--to", f"sqlite:///{tmp_path / 't.db'}"],
        ["--from", f"sqlite:///{tmp_path / 's.db'}", "--to", url],
    ):
        result = run("state", "migrate", *pair)
        assert SENTINEL not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "delivery",
    [
        f"smtp://mailer:{SENTINEL}@127.0.0.1:1?from=a@b.example",
        f"smtps://mailer:{SENTINEL}@127.0.0.1:1?from=a@b.example",
        f"smtp://mailer:{SENTINEL}@127.0.0.1:1",
        f"smtp://mailer:{SENTINEL}@127.0.0.1:nope?from=a@b.example",
        f"ftp://mailer:{SENTINEL}@127.0.0.1/",
        f"smtp://mailer:{SENTINEL}#x@127.0.0.1:1?from=a@b.example",
    ],
)
def test_no_command_prints_the_password_of_a_delivery_url(
    run, tmp_path: Path, delivery: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILER_SMTP_PASSWORD", SENTINEL + "-env")
    state = f"sqlite:///{tmp_path / 's.db'}"
    applied = run("apply", SMALL, "--state", state, "--auto-approve", "--delivery", delivery)
    issued = run("credentials", "issue", "--state", state, "--delivery", delivery)
    reissued = run(
        "credentials",
        "reissue",
        "emertens",
        "--enterprise",
        E,
        "--actor",
        "contact-center",
        "--operator",
        "An",
        "--state",
        state,
        "--delivery",
        delivery,
    )
    for result in (applied, issued, reissued):
        assert result.exit_code != 0
        assert SENTINEL not in result.stdout + result.stderr, result.stderr
    assert run("audit", "log", "--state", state).stdout.count(SENTINEL) == 0


def test_redaction_covers_every_spelling() -> None:
    assert redact_url("postgresql://u:p%40ss@h/db") == "postgresql://u:***@h/db"
    assert (
        redact_url("postgresql://h/db?sslmode=require&password=x") == "postgresql://h/db?sslmode=require&password=***"
    )
    assert redact_url("sqlite:///.reconciler/state.db") == "sqlite:///.reconciler/state.db"
    assert scrub("failed for p@ss and p%40ss", "postgresql://u:p%40ss@h/db") == "failed for *** and ***"


# --- 4. the audit trail stops the line ---------------------------------------------------------


@pytest.fixture
def tampered(run, store_url: str, tmp_path: Path):
    """An applied enterprise whose audit trail was edited by someone with full control of the database."""
    assert run("apply", SMALL, "--state", store_url, "--auto-approve", "--defer-codes").exit_code == 0
    bypass_append_only(store_url, "UPDATE audit_log SET address = 'someone else' WHERE seq = 2")
    return store_url


def test_apply_refuses_to_append_to_a_broken_chain(run, tampered: str, tmp_path: Path) -> None:
    change = edited(tmp_path, "x.yaml", ("administratie@", "hr@"))
    refused = run("apply", change, "--state", tampered, "--auto-approve", "--defer-codes")
    assert refused.exit_code == 7
    assert "0999055557: entry 2 was altered" in refused.stderr and "--allow-broken-audit-trail" in refused.stderr
    assert version(tampered) == 1
    lifted = run("apply", change, "--state", tampered, "--auto-approve", "--defer-codes", "--allow-broken-audit-trail")
    assert lifted.exit_code == 0
    entries = json.loads(run("audit", "log", E, "--state", tampered, "--format", "json").stdout)
    override = [e for e in entries if e["action"] == "audit-override"]
    assert len(override) == 1 and "entry 2 was altered" in override[0]["before"]
    assert entries[-1]["overrides"] == "--allow-broken-audit-trail"


def test_codes_are_not_sent_while_the_chain_is_broken(run, tampered: str, tmp_path: Path) -> None:
    issued = run("credentials", "issue", "--state", tampered)
    assert issued.exit_code == 7
    assert not (tmp_path / ".reconciler" / "letters").exists()  # not one letter went out
    reissued = run("credentials", "reissue", "jmertens", "--enterprise", E, "--actor", MAIN, "--state", tampered)
    assert reissued.exit_code == 7
    assert run("credentials", "issue", "--state", tampered, "--allow-broken-audit-trail").exit_code == 0


def test_activation_refuses_while_the_chain_is_broken(store_url: str, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from reconciler.accounts import firstlogin
    from reconciler.accounts.delivery import LetterBox
    from reconciler.accounts.lifecycle import issue_codes
    from reconciler.apply.execute import apply_plan
    from reconciler.plan.gates import Policy
    from reconciler.plan.pipeline import plan_paths

    store = open_store(store_url)
    try:
        apply_plan(plan_paths([SMALL], store, Policy(), full=True).plan, store)
        letters = tmp_path / "letters"
        now = datetime.now(UTC)
        issue_codes(store, LetterBox(str(letters)), None, now, "http://x", "run")
        code = (letters / E / "jmertens" / "2-temporary-password.txt").read_text().split("password: ")[1].split()[0]
        account = firstlogin.start(store, "jmertens", code, now)
        firstlogin.confirm_identity(store, account, "58022754967", now)
        bypass_append_only(store_url, "DELETE FROM audit_log WHERE seq = 1")
        fresh = open_store(store_url)  # another process: it has verified nothing yet
        try:
            with pytest.raises(audit.ChainBroken, match="entry 1 is missing"):
                firstlogin.choose_password(fresh, account, "a long passphrase here", "a long passphrase here", now, "r")
            assert fresh.account_of(E, "58022754967").status == "pending"
        finally:
            fresh.close()
    finally:
        store.close()


def test_a_kept_head_catches_a_rewritten_tail(run, store_url: str, tmp_path: Path) -> None:
    first = run("apply", SMALL, "--state", store_url, "--auto-approve", "--defer-codes")
    kept = first.stdout.split("head ")[-1].split()[0]
    assert f"Audit trail of 0999.055.557: entry 7, head {kept}" in first.stdout
    assert run("audit", "verify", "--state", store_url, "--head", kept).exit_code == 0
    # Cut the tail off and rewrite the recorded head: the chain check alone passes.
    bypass_append_only(store_url, "DELETE FROM audit_log WHERE seq > 6")
    store = open_store(store_url)
    head = store.audit_entries(E)[-1].hash
    store.close()
    from conftest import outside_write

    outside_write(store_url, f"UPDATE enterprises SET audit_seq = 6, audit_head = '{head}'")
    assert run("audit", "verify", "--state", store_url).exit_code == 0
    caught = run("audit", "verify", "--state", store_url, "--head", kept)
    assert caught.exit_code == 1 and f"head {kept} is not in the audit trail" in caught.stderr


def test_a_keyed_chain_cannot_be_rewritten_without_the_key(
    run, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILER_AUDIT_KEY", "a key only the apply job holds")
    run("apply", SMALL, "--state", store_url, "--auto-approve", "--defer-codes")
    store = open_store(store_url)
    entries = store.audit_entries(E)
    store.close()
    assert all(e.hash.startswith("hmac-sha256:") for e in entries)
    assert run("audit", "verify", "--state", store_url).exit_code == 0
    # Someone without the key rewrites the last entry and recomputes its hash as plain SHA-256.
    last = entries[-1]._replace(address="elsewhere")
    plain = audit.entry_hash(last._replace(hash=""))
    bypass_append_only(
        store_url, f"UPDATE audit_log SET address = 'elsewhere', hash = '{plain}' WHERE seq = {last.seq}"
    )
    from conftest import outside_write

    outside_write(store_url, f"UPDATE enterprises SET audit_head = '{plain}'")
    caught = run("audit", "verify", "--state", store_url)
    assert caught.exit_code == 1 and "is not keyed but follows keyed entries" in caught.stderr
    monkeypatch.delenv("RECONCILER_AUDIT_KEY")
    unkeyed = run("audit", "verify", "--state", store_url)
    assert "is keyed: set RECONCILER_AUDIT_KEY to verify it" in unkeyed.stderr


# --- 8. private by default ---------------------------------------------------------------------


def test_every_file_written_is_owner_only_whatever_the_umask(run, tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        state = tmp_path / "new" / "state.db"
        run("plan", SMALL, "--state", f"sqlite:///{state}", "--out", tmp_path / "p.plan")
        assert run("apply", tmp_path / "p.plan", "--state", f"sqlite:///{state}", "--auto-approve").exit_code == 0
        run("export", "--state", f"sqlite:///{state}", "--out", tmp_path / "exported")
        holding = sqlite3.connect(state)  # while a store is open and written, SQLite keeps -wal and -shm beside it
        holding.execute("CREATE TABLE probe (x)")
        written = [state, Path(f"{state}-wal"), Path(f"{state}-shm"), tmp_path / "p.plan"]
        written.append(tmp_path / "exported" / f"{E}.yaml")
        written += list((tmp_path / ".reconciler" / "letters").rglob("*.txt"))
        for path in written:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        for folder in (state.parent, tmp_path / ".reconciler" / "letters" / E):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
        holding.close()
    finally:
        os.umask(previous)


# --- 9. broken pipes change nothing --------------------------------------------------------------


def test_apply_into_a_closed_pipe_commits_sends_and_says_so(tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 's.db'}"
    command = [sys.executable, "-m", "reconciler", "apply", str(SMALL), "--state", state, "--auto-approve"]
    environment = {**os.environ, "RECONCILER_ARGON2_PROFILE": "cheapest"}
    environment.pop("CI", None)
    process = subprocess.Popen(command, cwd=tmp_path, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.readline()  # like `| head -1`: read one line, then go away
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0, stderr
    assert "standard output was closed early" in stderr
    assert "Apply complete: 7 changes in 1 enterprise committed." in stderr
    assert "Access codes sent for 3 new accounts" in stderr and "Audit trail of 0999.055.557: entry 7" in stderr
    assert "Traceback" not in stderr
    assert len(list((tmp_path / ".reconciler" / "letters" / E).iterdir())) == 3  # the codes went out
    assert version(state) == 1


# --- 10. the CI recipes fail closed ---------------------------------------------------------------


@pytest.mark.parametrize("value", [None, ""])
def test_in_ci_an_unnamed_store_is_an_error(run, monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    monkeypatch.setenv("CI", "true")
    if value is None:
        monkeypatch.delenv("RECONCILER_STATE", raising=False)
    else:
        monkeypatch.setenv("RECONCILER_STATE", value)
    result = run("plan", SMALL)
    assert result.exit_code == 1 and "set RECONCILER_STATE" in result.stderr
    assert not Path(".reconciler/state.db").exists()


def test_the_actor_of_a_pull_request_comes_from_the_reviewed_files(run, tmp_path: Path) -> None:
    declared = edited(
        tmp_path,
        "x.yaml",
        (
            "  email: els@goudenkorst.example\n\nqualities",
            "  email: els@goudenkorst.example\n  github: els-m\n\nqualities",
        ),
        ("      email: els@goudenkorst.example\n", "      email: els@goudenkorst.example\n      github: els-m\n"),
    )
    found = run("actor", "github:Els-M", declared)
    assert found.exit_code == 0 and found.stdout == f"{MAIN}\n"
    unknown = run("actor", "github:mallory", declared)
    assert unknown.exit_code == 1 and "no declared person has the github handle 'mallory'" in unknown.stderr


READ_ONLY_ROLE = "reconciler_test_reader"


def test_plan_works_with_a_read_only_role_and_apply_fails_clearly(run, tmp_path: Path) -> None:
    import psycopg
    from conftest import POSTGRES

    from reconciler.store.postgresql import split_url

    url = new_store_url("postgresql", tmp_path)
    conninfo, schema = split_url(url)
    try:
        assert run("apply", SMALL, "--state", url, "--auto-approve", "--defer-codes").exit_code == 0
        with psycopg.connect(conninfo, autocommit=True) as db:
            db.execute(f"DROP ROLE IF EXISTS {READ_ONLY_ROLE}")
            db.execute(f"CREATE ROLE {READ_ONLY_ROLE} LOGIN")
            for statement in (ROOT / "examples" / "ci" / "read-only-role.sql").read_text().split(";"):
                text = statement.strip().replace("reconciler_plan", READ_ONLY_ROLE).replace("registry_schema", schema)
                if text and not text.startswith("--") and "CREATE ROLE" not in text:
                    db.execute(text)
        reader = url.replace("postgresql://", f"postgresql://{READ_ONLY_ROLE}@")
        change = edited(tmp_path, "x.yaml", ("administratie@", "hr@"))
        planned = run("plan", change, "--state", reader, "--detailed-exitcode")
        assert planned.exit_code == 2, planned.stderr
        refused = run("apply", change, "--state", reader, "--auto-approve", "--defer-codes")
        assert refused.exit_code == 1
        assert "may not write" in refused.stderr and "read-only" in refused.stderr
        issuing = run("credentials", "issue", "--state", reader)
        assert issuing.exit_code == 1 and "may not write" in issuing.stderr and "Traceback" not in issuing.stderr
        assert version(url) == 1
    finally:
        drop_store(url)
        with psycopg.connect(split_url(POSTGRES)[0], autocommit=True) as db:
            db.execute(f"DROP OWNED BY {READ_ONLY_ROLE}")
            db.execute(f"DROP ROLE IF EXISTS {READ_ONLY_ROLE}")


def test_a_gated_plan_fails_the_check_until_an_override_is_approved(run, tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 's.db'}"
    run("apply", SMALL, "--state", state, "--auto-approve", "--defer-codes")
    without_users = edited(tmp_path, "x.yaml", WITHOUT_USERS)
    assert run("plan", without_users, "--state", state, "--detailed-exitcode").exit_code == 6
    assert run("plan", without_users, "--state", state, "--detailed-exitcode", "--allow-mass-removal").exit_code == 2


def test_apply_reviewed_applies_only_what_was_reviewed(run, store_url: str, tmp_path: Path) -> None:
    run("apply", SMALL, "--state", store_url, "--auto-approve", "--defer-codes")
    change = edited(tmp_path, "x.yaml", ("administratie@", "hr@"))
    assert run("plan", change, "--state", store_url, "--actor", MAIN, "--out", tmp_path / "p.plan").exit_code == 0
    other = edited(tmp_path, "y.yaml", ("administratie@", "it@"))
    reviewed = ("--auto-approve", "--reviewed", tmp_path / "p.plan")
    differs = run("apply", other, "--state", store_url, *reviewed, "--actor", MAIN)
    assert differs.exit_code == 4 and "other changes than the reviewed plan" in differs.stderr
    nobody = run("apply", change, "--state", store_url, *reviewed)
    assert nobody.exit_code == 1 and "--reviewed needs --actor" in nobody.stderr
    someone_else = run("apply", change, "--state", store_url, *reviewed, "--actor", USER)
    assert someone_else.exit_code == 4 and f"made for actor {MAIN}, not {USER}" in someone_else.stderr
    assert version(store_url) == 1
    applied = run("apply", change, "--state", store_url, *reviewed, "--actor", MAIN)
    assert applied.exit_code == 0, applied.stderr
    entries = json.loads(run("audit", "log", E, "--state", store_url, "--format", "json").stdout)
    assert entries[-1]["actor"] == MAIN  # checked again, as the author this job found
    stale = run("apply", change, "--state", store_url, *reviewed, "--actor", MAIN)
    assert stale.exit_code == 3


def test_an_empty_actor_is_an_error_not_no_actor(run, tmp_path: Path) -> None:
    result = run("plan", SMALL, "--state", f"sqlite:///{tmp_path / 's.db'}", "--actor", "")
    assert result.exit_code == 1 and "--actor is empty" in result.stderr


def test_every_test_security_md_names_exists() -> None:
    """SECURITY.md proves each mitigation by a test: the names must not drift from the suite."""
    import re

    text = (ROOT / "SECURITY.md").read_text()
    named = re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?[`,]", text)
    named += [
        (file, name)
        for file, names in re.findall(r"`(tests/[\w/]+\.py)::\w+`((?:, `::\w+`)+)", text)
        for name in re.findall(r"::(\w+)", names)
    ]
    assert named
    for file, name in named:
        source = (ROOT / file).read_text()
        if name.endswith("_*"):
            assert f"def {name[:-1]}" in source, (file, name)
        elif name:
            assert f"def {name}(" in source, (file, name)
    assert "SECURITY.md" in (ROOT / "README.md").read_text()


def rewrite_plain(url: str, enterprise: str, actor: str) -> None:
    """What someone without the key does: every entry rewritten as plain SHA-256, re-chained, head moved.

    The actor is kept once per apply (audit_runs): it is rewritten there, and every entry's hash again.
    """
    from conftest import outside_write

    store = open_store(url)
    entries = store.audit_entries(enterprise)
    store.close()
    bypass_append_only(url, f"UPDATE audit_runs SET actor = '{actor}'")
    previous = audit.GENESIS
    for entry in entries:
        forged = entry._replace(actor=actor, prev_hash=previous, hash="")
        digest = audit.entry_hash(forged)
        bypass_append_only(
            url, f"UPDATE audit_log SET hash = '{digest}' WHERE enterprise = '{enterprise}' AND seq = {entry.seq}"
        )
        previous = digest
    outside_write(url, f"UPDATE enterprises SET audit_head = '{previous}' WHERE number = '{enterprise}'")


def test_a_keyed_chain_rewritten_as_plain_is_caught(
    run, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILER_AUDIT_KEY", "a key only the apply job holds")
    run("apply", SMALL, "--state", store_url, "--auto-approve", "--defer-codes")
    rewrite_plain(store_url, E, "someone else")
    caught = run("audit", "verify", "--state", store_url)
    assert caught.exit_code == 1 and "does not end in a keyed entry" in caught.stderr
    change = edited(tmp_path, "x.yaml", ("administratie@", "hr@"))
    assert run("apply", change, "--state", store_url, "--auto-approve", "--defer-codes").exit_code == 7


def test_a_store_from_before_the_key_is_sealed_once(
    run, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run("apply", SMALL, "--state", store_url, "--auto-approve", "--defer-codes")
    monkeypatch.setenv("RECONCILER_AUDIT_KEY", "a key set later")
    unsealed = run("audit", "verify", "--state", store_url)
    assert unsealed.exit_code == 1 and "never sealed" in unsealed.stderr
    sealed = run("audit", "seal", "--state", store_url)
    assert sealed.exit_code == 0 and "Sealed 1 chain" in sealed.stdout
    assert run("audit", "verify", "--state", store_url).exit_code == 0
    assert run("audit", "seal", "--state", store_url).stdout == "Sealed 0 chains with a keyed entry.\n"
    change = edited(tmp_path, "x.yaml", ("administratie@", "hr@"))
    assert run("apply", change, "--state", store_url, "--auto-approve", "--defer-codes").exit_code == 0


def test_a_process_that_verified_a_chain_notices_its_last_entry_rewritten(store_url: str) -> None:
    from datetime import UTC, datetime

    from conftest import outside_write

    from reconciler.apply.execute import apply_plan
    from reconciler.plan.gates import Policy
    from reconciler.plan.pipeline import plan_paths

    store = open_store(store_url)
    try:
        apply_plan(plan_paths([SMALL], store, Policy(), full=True).plan, store)
        shared = audit.context(datetime.now(UTC), None, "r", "", ())
        with store.transaction(datetime.now(UTC), [E], "r") as transaction:
            transaction.check_audit(shared, [E])  # verified, and remembered by this process
        bypass_append_only(store_url, "UPDATE audit_log SET action = 'x', hash = 'forged' WHERE seq = 7")
        outside_write(store_url, "UPDATE enterprises SET audit_head = 'forged'")
        with (
            pytest.raises(audit.ChainBroken, match="entry 7 was altered"),
            store.transaction(datetime.now(UTC), [E], "r") as transaction,
        ):
            transaction.check_audit(shared, [E])
    finally:
        store.close()


def test_a_plan_file_rewritten_without_the_key_gets_its_gates_and_versions_checked_again(
    run, store_url: str, tmp_path: Path
) -> None:
    run("apply", SMALL, "--state", store_url, "--auto-approve", "--defer-codes")
    without_users = edited(tmp_path, "x.yaml", WITHOUT_USERS)
    planned = run("plan", without_users, "--state", store_url, "--out", tmp_path / "p.plan", "--actor", MAIN)
    assert "G001" in planned.stdout
    forged(tmp_path / "p.plan", refusals=[])  # the gate's refusal taken out
    refused = run("apply", tmp_path / "p.plan", "--state", store_url, "--auto-approve")
    assert refused.exit_code == 6 and "G001" in refused.stdout
    forged(tmp_path / "p.plan", versions={})  # no version to be stale against
    unversioned = run("apply", tmp_path / "p.plan", "--state", store_url, "--auto-approve", "--allow-mass-removal")
    assert unversioned.exit_code == 4 and "records no version of (0999055557)" in unversioned.stderr
    assert version(store_url) == 1


def test_in_ci_an_unsigned_plan_file_is_refused(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = f"sqlite:///{tmp_path / 's.db'}"
    run("plan", SMALL, "--state", state, "--out", tmp_path / "p.plan")
    monkeypatch.setenv("CI", "true")
    refused = run("apply", tmp_path / "p.plan", "--state", state, "--auto-approve")
    assert refused.exit_code == 4 and "applies only when signed" in refused.stderr
    monkeypatch.setenv("RECONCILER_PLAN_KEY", "k")
    run("plan", SMALL, "--state", state, "--out", tmp_path / "signed.plan")
    assert run("apply", tmp_path / "signed.plan", "--state", state, "--auto-approve", "--defer-codes").exit_code == 0


def test_an_existing_world_readable_store_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()
    os.chmod(path, 0o666)
    open_store(f"sqlite:///{path}").close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("url", ["sqlite:///", "sqlite:///:memory:", "sqlite:///file:x?mode=memory"])
def test_a_store_that_vanishes_with_the_command_is_refused(run, url: str) -> None:
    result = run("apply", SMALL, "--state", url, "--auto-approve", "--defer-codes")
    assert result.exit_code == 1 and "names no file" in result.stderr


def test_a_malformed_plan_file_is_refused_cleanly(run, tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 's.db'}"
    run("plan", SMALL, "--state", state, "--out", tmp_path / "p.plan")
    forged(tmp_path / "p.plan", versions=[["0999055557", None]])
    result = run("apply", tmp_path / "p.plan", "--state", state, "--auto-approve")
    assert result.exit_code == 4 and "malformed" in result.stderr


def test_apply_with_standard_output_closed_from_the_start(tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 's.db'}"
    environment = {**os.environ, "RECONCILER_ARGON2_PROFILE": "cheapest"}
    environment.pop("CI", None)
    command = [sys.executable, "-m", "reconciler", "apply", str(SMALL), "--state", state, "--auto-approve"]
    done = subprocess.run(
        command,
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        pass_fds=(),
        close_fds=True,
        preexec_fn=lambda: os.close(1),
    )
    assert done.returncode == 0, done.stderr
    assert "Apply complete: 7 changes in 1 enterprise committed." in done.stderr
    assert version(state) == 1


def test_an_smtp_server_quoting_the_refused_login_never_shows_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import smtplib

    from reconciler.accounts.delivery import DeliveryError, Mailer

    class Quoting:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def login(self, user: str, password: str) -> None:
            raise smtplib.SMTPAuthenticationError(535, b"5.7.8 refused: AUTH PLAIN AG1haWxlcgBTM250aW5lbC1QYTU1")

    monkeypatch.setattr(smtplib, "SMTP", Quoting)
    mailer = Mailer(f"smtp://mailer:{SENTINEL}@127.0.0.1:2525?from=a@b.example")
    with pytest.raises(DeliveryError) as raised:
        mailer._connect()
    assert "AG1haWxlcg" not in str(raised.value) and SENTINEL not in str(raised.value)
    assert "refused the user name or password of mailer" in str(raised.value)
