"""Attacks on the audit trail as migration 0016 keeps it: what an apply's entries share (when, who,
which run, plan and commit, which overrides) is one row of audit_runs that each entry points at
(run_id), and each entry's previous hash is read from the entry before it instead of being stored.

The attacker writes to the database without RECONCILER_AUDIT_KEY: with full control (the
append-only triggers off, ``bypass_append_only``) or with ordinary writes that the triggers still
see (``outside_write``).  Each attack tries to change what the trail says (who, when, which plan,
what was changed) or to remove entries, such that `reconciler audit verify` and the check that
writing commands make before they append do not report it.  Every test here asserts the secure
outcome: the attack is reported, refused, or changes nothing the trail says.

The trail attacked (``make_trail``) is a registry of two enterprises: a first apply of both with
no actor and no commit (plain SHA-256, run-1), a second apply to one of them by its main access
manager from a commit (plain, run-2), both chains sealed with the key in the same second (two runs
with the same fields), then an apply with a gate's override (keyed, run-3).
"""

from __future__ import annotations

import ast
import re
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import EXAMPLES, ROOT, STORE_KINDS, bypass_append_only, drop_store, new_store_url, outside_write

from reconciler.apply.execute import apply_plan
from reconciler.plan.gates import Policy
from reconciler.plan.pipeline import plan_paths
from reconciler.store import audit
from reconciler.store.backends import open_store
from reconciler.store.copy import copy_registry
from reconciler.store.postgresql import split_url
from tests.test_gitops import WITHOUT_USERS

E, S = "0999055557", "0999077729"  # the small employer, the social secretariat
MAIN = "75031366754"  # the small employer's main access manager
KEY = "a key only the apply job holds"
MIGRATIONS = ROOT / "reconciler" / "store" / "migrations"
COMMIT_VARIABLES = ("GITHUB_SHA", "CI_COMMIT_SHA", "BUILDKITE_COMMIT", "GIT_COMMIT")

# Where each apply left its entries: the small employer's 1-7 (run-1), 8 (run-2), 9 (its seal),
# 10-13 (run-3); the secretariat's 1-27 (run-1), 28 (its seal).
E_SEAL = "(SELECT min(id) FROM audit_runs WHERE run = 'seal')"
S_SEAL = "(SELECT max(id) FROM audit_runs WHERE run = 'seal')"


def run_of(name: str) -> str:
    return f"(SELECT id FROM audit_runs WHERE run = '{name}')"


# --- the trail attacked --------------------------------------------------------------------------


@dataclass
class Trail:
    url: str
    kind: str
    root: Path  # the registry's folder
    kept: dict[str, tuple[int, str]]  # the heads the last apply printed


def _edit(root: Path, old: str, new: str) -> None:
    path = root / "small-employer.yaml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def _plan(root: Path, store, actor: str | None = None):
    planned = plan_paths([root], store, Policy(actor=actor), full=True)
    assert planned.problems == []
    return planned.plan


def make_trail(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Trail:
    """The trail described above, in a fresh store of ``kind``; the key is set when it returns."""
    root = tmp_path / f"registry-{kind}"
    shutil.copytree(EXAMPLES / "social-secretariat", root / "social-secretariat")
    shutil.copy(EXAMPLES / "small-employer.yaml", root / "small-employer.yaml")
    for variable in (audit.KEY_ENV, *COMMIT_VARIABLES):
        monkeypatch.delenv(variable, raising=False)
    url = new_store_url(kind, tmp_path)
    store = open_store(url)
    try:
        apply_plan(_plan(root, store), store, run="run-1")
        _edit(root, "administratie@", "hr@")
        monkeypatch.setenv("GITHUB_SHA", "0123456789abcdef0123")
        apply_plan(_plan(root, store, actor=MAIN), store, run="run-2")
        monkeypatch.delenv("GITHUB_SHA")
        monkeypatch.setenv(audit.KEY_ENV, KEY)
        now = datetime.now(UTC).replace(microsecond=0)
        for number in (E, S):
            with store.transaction(now, [number], "seal") as transaction:
                assert transaction.seal_audit(audit.context(now, None, "seal", "", ()), number)
        _edit(root, *WITHOUT_USERS)
        plan = _plan(root, store)
        assert [r.gate for r in plan.refusals] == ["G001"]
        kept = apply_plan(plan, store, run="run-3", overrides=frozenset({"--allow-mass-removal"}))
        assert problems(store) == []
        assert [e.seq for e in store.audit_entries(E)] == list(range(1, 14))
        assert [e.seq for e in store.audit_entries(S)] == list(range(1, 29))
    finally:
        store.close()
    return Trail(url, kind, root, kept)


@pytest.fixture(params=STORE_KINDS)
def trail(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    made = make_trail(request.param, tmp_path, monkeypatch)
    yield made
    drop_store(made.url)


def problems(store) -> list[str]:
    return audit.verify(store.audit_entries(), store.audit_heads())


def problems_at(url: str) -> list[str]:
    store = open_store(url)
    try:
        return problems(store)
    finally:
        store.close()


def entries_at(url: str) -> list[audit.AuditEntry]:
    store = open_store(url)
    try:
        return store.audit_entries()
    finally:
        store.close()


def rows_at(url: str, query: str) -> list[tuple]:
    store = open_store(url)
    try:
        with store._snapshot():
            return [tuple(row) for row in store._rows(query)]
    finally:
        store.close()


def writers_refuse(url: str, enterprises: tuple[str, ...] = (E, S)) -> str:
    """What a fresh process's check before appending (apply, codes, first login) says; it must refuse."""
    store = open_store(url)
    try:
        now = datetime.now(UTC)
        with pytest.raises(audit.ChainBroken) as refused, store.transaction(now, list(enterprises), "c") as t:
            t.check_audit(audit.context(now, None, "c", "", ()), enterprises)
        return str(refused.value)
    finally:
        store.close()


def outside_rows(url: str, statement: str, rows: list[tuple]) -> None:
    """Rows written with another tool (``?`` placeholders), triggers as they are."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.split("://", 1)[1][1:]) as db:
            db.executemany(statement, rows)
        return
    conninfo, schema = split_url(url)
    with psycopg.connect(conninfo, autocommit=True) as db:
        db.execute(f'SET search_path TO "{schema}"')
        db.cursor().executemany(statement.replace("?", "%s"), rows)


def forge_plain(url: str, enterprise: str, seqs: range, fields: dict[str, Any], head: bool) -> None:
    """Re-hash an enterprise's entries ``seqs`` as plain SHA-256 with ``fields`` changed, each
    following the forged one before, as anyone can without the key (triggers off)."""
    entries = [e for e in entries_at(url) if e.enterprise == enterprise]
    previous = entries[seqs[0] - 2].hash if seqs[0] > 1 else audit.GENESIS
    bypass_append_only(url, "SELECT 1")
    for entry in entries[seqs[0] - 1 : seqs[-1]]:
        digest = audit.entry_hash(entry._replace(**fields, prev_hash=previous, hash=""))
        outside_write(
            url, f"UPDATE audit_log SET hash = '{digest}' WHERE enterprise = '{enterprise}' AND seq = {entry.seq}"
        )
        previous = digest
    if head:
        outside_write(url, f"UPDATE enterprises SET audit_head = '{previous}' WHERE number = '{enterprise}'")


# --- 1. with full control of the database: what an apply says, where its entries point, which remain


def renumbered(enterprise: str, after: int, last: int) -> tuple[str, ...]:
    """Entries after ``after`` moved one down (in two steps, so that no key collides) and the head with them."""
    return (
        f"UPDATE audit_log SET seq = seq + 1000 WHERE enterprise = '{enterprise}' AND seq > {after}",
        f"UPDATE audit_log SET seq = seq - 1001 WHERE enterprise = '{enterprise}' AND seq > 1000",
        f"UPDATE enterprises SET audit_seq = {last - 1} WHERE number = '{enterprise}'",
    )


FULL_CONTROL: list[tuple[str, tuple[str, ...], list[str]]] = [
    # who
    ("actor-rewritten", ("UPDATE audit_runs SET actor = 'someone else' WHERE run = 'run-2'",), [f"{E}: entry 8 was"]),
    (
        "actor-given-to-an-apply-without",
        (f"UPDATE audit_runs SET actor = '{MAIN}' WHERE run = 'run-1'",),
        [f"{E}: entry 1 was", f"{S}: entry 1 was"],
    ),
    ("actor-erased", ("UPDATE audit_runs SET actor = NULL WHERE run = 'run-2'",), [f"{E}: entry 8 was"]),
    ("no-actor-made-empty-text", ("UPDATE audit_runs SET actor = '' WHERE run = 'run-1'",), [f"{E}: entry 1 was"]),
    (
        "actors-of-two-applies-swapped",
        (f"UPDATE audit_runs SET actor = CASE WHEN run = 'run-1' THEN '{MAIN}' END WHERE run IN ('run-1', 'run-2')",),
        [f"{E}: entry 1 was", f"{E}: entry 8 was"],
    ),
    # when, which run
    (
        "time-moved",
        ("UPDATE audit_runs SET at = '2020-01-01T00:00:00+00:00' WHERE run = 'run-3'",),
        [f"{E}: entry 10 was"],
    ),
    ("run-renamed", ("UPDATE audit_runs SET run = 'another-run' WHERE run = 'run-3'",), [f"{E}: entry 10 was"]),
    (
        "seal-time-moved",
        (f"UPDATE audit_runs SET at = '2020-01-01T00:00:00+00:00' WHERE id = {S_SEAL}",),
        [f"{S}: entry 28 was"],
    ),
    # which plan, which commit, which overrides
    (
        "plan-replaced",
        ("UPDATE audit_runs SET plan_hash = plan_hash || '0' WHERE run = 'run-2'",),
        [f"{E}: entry 8 was"],
    ),
    ("commit-erased", ("UPDATE audit_runs SET commit_sha = NULL WHERE run = 'run-2'",), [f"{E}: entry 8 was"]),
    (
        "no-commit-made-empty-text",
        ("UPDATE audit_runs SET commit_sha = '' WHERE run = 'run-1'",),
        [f"{E}: entry 1 was"],
    ),
    ("commit-given", ("UPDATE audit_runs SET commit_sha = 'feedface' WHERE run = 'run-1'",), [f"{S}: entry 1 was"]),
    ("override-hidden", ("UPDATE audit_runs SET overrides = '' WHERE run = 'run-3'",), [f"{E}: entry 10 was"]),
    (
        "override-added",
        ("UPDATE audit_runs SET overrides = '--allow-mass-removal' WHERE run = 'run-1'",),
        [f"{E}: entry 1 was"],
    ),
    # where entries point
    (
        "entry-moved-to-another-apply",
        (f"UPDATE audit_log SET run_id = {run_of('run-2')} WHERE enterprise = '{E}' AND seq = 10",),
        [f"{E}: entry 10 was"],
    ),
    (
        "entry-moved-to-another-enterprise-apply",
        (f"UPDATE audit_log SET run_id = {run_of('run-3')} WHERE enterprise = '{S}' AND seq = 28",),
        [f"{S}: entry 28 was"],
    ),
    (
        "entry-points-nowhere",
        (f"UPDATE audit_log SET run_id = 1000000 WHERE enterprise = '{E}' AND seq = 10",),
        [f"{E}: entry 10 was"],
    ),
    (
        "apply-row-deleted",
        ("DELETE FROM audit_runs WHERE run = 'run-3'",),
        [f"{E}: entry 10 was", f"{E}: entry 13 was"],
    ),
    ("every-apply-row-deleted", ("DELETE FROM audit_runs",), [f"{E}: entry 1 was", f"{S}: entry 1 was"]),
    (
        "entries-moved-to-a-forged-apply",
        (
            "INSERT INTO audit_runs (id, at, actor, run, plan_hash, commit_sha, overrides) "
            "SELECT 1000, at, 'someone else', run, plan_hash, commit_sha, overrides "
            "FROM audit_runs WHERE run = 'run-2'",
            "UPDATE audit_log SET run_id = 1000 "
            "WHERE run_id = (SELECT id FROM audit_runs WHERE run = 'run-2' AND id < 1000)",
        ),
        [f"{E}: entry 8 was"],
    ),
    (
        "forged-apply-takes-the-id-of-a-deleted-one",
        (
            "DELETE FROM audit_runs WHERE run = 'run-2'",
            "INSERT INTO audit_runs (id, at, actor, run, plan_hash, commit_sha, overrides) "
            "SELECT min(id) + 1, at, NULL, 'run-2', plan_hash, NULL, overrides FROM audit_runs WHERE run = 'run-1' "
            "GROUP BY at, plan_hash, overrides",
        ),
        [f"{E}: entry 8 was"],
    ),
    # what was changed
    (
        "after-edited",
        (f"UPDATE audit_log SET after = replace(after, 'hr@', 'it@') WHERE enterprise = '{E}' AND seq = 8",),
        [f"{E}: entry 8 was"],
    ),
    (
        "before-erased",
        (f"UPDATE audit_log SET before = NULL WHERE enterprise = '{E}' AND seq = 8",),
        [f"{E}: entry 8 was"],
    ),
    (
        "action-changed",
        (f"UPDATE audit_log SET action = 'create' WHERE enterprise = '{E}' AND seq = 11",),
        [f"{E}: entry 11 was"],
    ),
    (
        "address-changed",
        (f"UPDATE audit_log SET address = 'elsewhere' WHERE enterprise = '{S}' AND seq = 3",),
        [f"{S}: entry 3 was"],
    ),
    # which entries remain, and in which order
    (
        "middle-entry-deleted",
        (f"DELETE FROM audit_log WHERE enterprise = '{E}' AND seq = 8",),
        [f"{E}: entry 8 is missing"],
    ),
    (
        "first-entry-deleted",
        (f"DELETE FROM audit_log WHERE enterprise = '{S}' AND seq = 1",),
        [f"{S}: entry 1 is missing"],
    ),
    (
        "middle-entry-deleted-and-the-rest-renumbered",
        (f"DELETE FROM audit_log WHERE enterprise = '{E}' AND seq = 8", *renumbered(E, 8, 13)),
        [f"{E}: entry 8 was"],
    ),
    (
        "first-entry-deleted-and-the-rest-renumbered",
        (f"DELETE FROM audit_log WHERE enterprise = '{S}' AND seq = 1", *renumbered(S, 1, 28)),
        [f"{S}: entry 1 was"],
    ),
    (
        "whole-apply-deleted-with-its-row-and-the-rest-renumbered",
        (
            f"DELETE FROM audit_log WHERE enterprise = '{E}' AND seq = 8",
            "DELETE FROM audit_runs WHERE run = 'run-2'",
            *renumbered(E, 8, 13),
        ),
        [f"{E}: entry 8 was"],
    ),
    (
        "two-entries-swapped",
        (
            f"UPDATE audit_log SET seq = 1002 WHERE enterprise = '{E}' AND seq = 2",
            f"UPDATE audit_log SET seq = 2 WHERE enterprise = '{E}' AND seq = 3",
            f"UPDATE audit_log SET seq = 3 WHERE enterprise = '{E}' AND seq = 1002",
        ),
        [f"{E}: entry 2 was"],
    ),
    (
        "last-entry-moved-to-the-other-enterprise",
        (
            f"UPDATE audit_log SET enterprise = '{S}', seq = 29 WHERE enterprise = '{E}' AND seq = 13",
            f"UPDATE enterprises SET audit_seq = 29, audit_head = (SELECT hash FROM audit_log "
            f"WHERE enterprise = '{S}' AND seq = 29) WHERE number = '{S}'",
            f"UPDATE enterprises SET audit_seq = 12, audit_head = (SELECT hash FROM audit_log "
            f"WHERE enterprise = '{E}' AND seq = 12) WHERE number = '{E}'",
        ),
        [f"{S}: entry 29 was"],
    ),
]


@pytest.mark.parametrize(("statements", "expected"), [a[1:] for a in FULL_CONTROL], ids=[a[0] for a in FULL_CONTROL])
def test_what_the_trail_says_cannot_be_changed_unseen_with_full_control(
    trail: Trail, run, statements: tuple[str, ...], expected: list[str]
) -> None:
    """Each row is one attack by someone with full control of the database and without the key:
    a field an apply shares, edited once in its audit_runs row (or given to an apply that had none,
    NULL made "" and back); an entry pointed at another apply, another enterprise's apply, an apply
    that is not there or one the attacker wrote; an entry's own fields edited; entries deleted,
    renumbered so that no number is missing, swapped or moved to the other enterprise.  `audit
    verify` must fail naming the entry, and a fresh process must refuse to append."""
    bypass_append_only(trail.url, statements[0])
    for statement in statements[1:]:
        outside_write(trail.url, statement)
    verified = run("audit", "verify", "--state", trail.url)
    assert verified.exit_code == 1, verified.stdout
    for fragment in expected:
        assert fragment in verified.stderr, (fragment, verified.stderr)
    writers_refuse(trail.url)


@pytest.mark.parametrize("field", ["actor", "commit_sha", "overrides"])
def test_rewriting_the_plain_part_of_a_sealed_chain_breaks_the_seal(trail: Trail, run, field: str) -> None:
    """The entries from before the key are plain SHA-256: the attacker rewrites the second apply's
    row and re-hashes its entry as plain, as anyone can.  The keyed seal after it was hashed over
    the entry before it as it was: read from the row before, that hash is now the forged one."""
    value = {"actor": "someone else", "commit_sha": None, "overrides": "--allow-mass-removal"}[field]
    literal = "NULL" if value is None else f"'{value}'"
    bypass_append_only(trail.url, f"UPDATE audit_runs SET {field} = {literal} WHERE run = 'run-2'")
    forge_plain(trail.url, E, range(8, 9), {field: value}, head=False)
    forged = [e for e in entries_at(trail.url) if e.enterprise == E][7]
    assert forged.hash == audit.entry_hash(forged)  # the forged entry itself verifies
    verified = run("audit", "verify", "--state", trail.url)
    assert verified.exit_code == 1 and f"{E}: entry 9 was altered (its HMAC does not match)" in verified.stderr
    writers_refuse(trail.url)


def test_rewriting_a_keyed_apply_as_plain_is_caught(trail: Trail, run) -> None:
    """The keyed apply's row rewritten (another actor) and its entries and the head re-hashed as
    plain SHA-256: the chain no longer ends keyed, and a plain entry follows keyed ones."""
    bypass_append_only(trail.url, "UPDATE audit_runs SET actor = 'someone else' WHERE run = 'run-3'")
    forge_plain(trail.url, E, range(10, 14), {"actor": "someone else"}, head=True)
    verified = run("audit", "verify", "--state", trail.url)
    assert verified.exit_code == 1
    assert f"{E}: entry 10 is not keyed but follows keyed entries" in verified.stderr
    assert f"{E}: the trail does not end in a keyed entry" in verified.stderr
    writers_refuse(trail.url)


def test_a_cut_off_apply_is_caught_by_the_head_it_printed(trail: Trail, run) -> None:
    """The last apply's entries and its audit_runs row deleted and the recorded head moved back to
    the seal: the chain check passes (as it did when every entry kept its predecessor's hash), the
    head that apply printed does not."""
    bypass_append_only(trail.url, f"DELETE FROM audit_log WHERE enterprise = '{E}' AND seq > 9")
    outside_write(trail.url, "DELETE FROM audit_runs WHERE run = 'run-3'")
    outside_write(
        trail.url,
        f"UPDATE enterprises SET audit_seq = 9, audit_head = (SELECT hash FROM audit_log "
        f"WHERE enterprise = '{E}' AND seq = 9) WHERE number = '{E}'",
    )
    assert run("audit", "verify", "--state", trail.url).exit_code == 0
    head = trail.kept[E][1]
    caught = run("audit", "verify", "--state", trail.url, "--head", head)
    assert caught.exit_code == 1 and f"head {head} is not in the audit trail" in caught.stderr


def test_a_run_stored_twice_changes_nothing_the_trail_says(trail: Trail, run) -> None:
    """Not an attack that can succeed, and nothing to report: an apply's row copied (an ordinary
    insert), entries pointed at the copy, and the one seal pointed at the other's row, which holds
    the same fields.  What every entry says is unchanged, so the trail verifies as it is."""
    before = entries_at(trail.url)
    log = run("audit", "log", "--state", trail.url, "--format", "json").stdout
    outside_write(
        trail.url,
        "INSERT INTO audit_runs (id, at, actor, run, plan_hash, commit_sha, overrides) "
        "SELECT 500, at, actor, run, plan_hash, commit_sha, overrides FROM audit_runs WHERE run = 'run-1'",
    )
    bypass_append_only(
        trail.url, f"UPDATE audit_log SET run_id = 500 WHERE enterprise = '{S}' AND seq > 10 AND seq < 28"
    )
    outside_write(trail.url, f"UPDATE audit_log SET run_id = {S_SEAL} WHERE enterprise = '{E}' AND seq = 9")
    assert entries_at(trail.url) == before
    assert run("audit", "log", "--state", trail.url, "--format", "json").stdout == log
    assert run("audit", "verify", "--state", trail.url).exit_code == 0


def test_a_missing_apply_row_is_shown_and_reported_not_a_crash(trail: Trail, run) -> None:
    """Entries whose audit_runs row is gone read with none of its fields (NULLs): `audit log` still
    prints them, in text and JSON, and `audit verify` names each of them."""
    bypass_append_only(trail.url, "DELETE FROM audit_runs WHERE run = 'run-3'")
    shown = run("audit", "log", E, "--state", trail.url)
    assert shown.exit_code == 0 and f"{E}#13" in shown.stdout
    assert run("audit", "log", "--state", trail.url, "--format", "json").exit_code == 0
    verified = run("audit", "verify", "--state", trail.url)
    assert all(f"{E}: entry {seq} was altered" in verified.stderr for seq in range(10, 14))


# --- 2. with ordinary writes, the triggers still on ------------------------------------------------


def _append_forged(url: str, seq: int, move_head: bool) -> None:
    """A forged entry for the small employer (plain-hashed, following the entry before) in a forged apply."""
    entries = [e for e in entries_at(url) if e.enterprise == E]
    outside_write(
        url,
        "INSERT INTO audit_runs (id, at, actor, run, plan_hash, commit_sha, overrides) "
        f"VALUES (900, '2026-01-01T00:00:00+00:00', '{MAIN}', 'forged', 'p', NULL, '')",
    )
    previous = entries[seq - 2].hash if 1 < seq <= len(entries) + 1 else audit.GENESIS
    forged = audit.AuditEntry(
        E,
        seq,
        "2026-01-01T00:00:00+00:00",
        MAIN,
        "forged",
        "p",
        None,
        "",
        "create",
        "user[x]",
        None,
        "{}",
        previous,
        "",
    )
    digest = audit.entry_hash(forged)
    outside_rows(
        url,
        "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(E, seq, 900, "create", "user[x]", None, "{}", digest)],
    )
    if move_head:
        outside_write(url, f"UPDATE enterprises SET audit_seq = {seq}, audit_head = '{digest}' WHERE number = '{E}'")


ORDINARY: list[tuple[str, str, Any, str]] = [
    # (attack, store kind or "both", statement or function, what `audit verify` says or "refused")
    ("update-a-run", "both", "UPDATE audit_runs SET actor = 'someone else'", "refused"),
    ("delete-a-run", "both", "DELETE FROM audit_runs WHERE run = 'run-3'", "refused"),
    ("repoint-an-entry", "both", f"UPDATE audit_log SET run_id = {run_of('run-1')} WHERE seq = 8", "refused"),
    ("delete-an-entry", "both", f"DELETE FROM audit_log WHERE enterprise = '{E}' AND seq = 8", "refused"),
    (
        "upsert-a-run",
        "postgresql",
        "INSERT INTO audit_runs (id, at, run, plan_hash, overrides) SELECT id, at, run, plan_hash, '' "
        "FROM audit_runs WHERE run = 'run-3' ON CONFLICT (id) DO UPDATE SET overrides = ''",
        "refused",
    ),
    (
        "replace-a-run",  # REPLACE deletes the row it conflicts with without firing delete triggers
        "sqlite",
        "INSERT OR REPLACE INTO audit_runs (id, at, actor, run, plan_hash, commit_sha, overrides) "
        "SELECT id, at, 'someone else', run, plan_hash, commit_sha, '' FROM audit_runs WHERE run = 'run-3'",
        f"{E}: entry 10 was altered",
    ),
    (
        "replace-an-entry",
        "sqlite",
        f"REPLACE INTO audit_log SELECT enterprise, seq, run_id, action, address, before, "
        f"replace(after, 'hr@', 'it@'), hash FROM audit_log WHERE enterprise = '{E}' AND seq = 8",
        f"{E}: entry 8 was altered",
    ),
    # TRUNCATE fires no row trigger: a statement trigger refuses it (migration 0017).
    ("truncate-the-runs", "postgresql", "TRUNCATE audit_runs", "refused"),
    ("truncate-the-entries", "postgresql", "TRUNCATE audit_log", "refused"),
    (
        "forged-entry-after-the-head",
        "both",
        lambda url: _append_forged(url, 14, False),
        f"{E}: the trail ends at entry 14",
    ),
    (
        "forged-entry-and-head-moved",
        "both",
        lambda url: _append_forged(url, 14, True),
        f"{E}: entry 14 is not keyed but follows keyed",
    ),
    ("forged-entry-before-the-first", "both", lambda url: _append_forged(url, 0, False), f"{E}: entry 1"),
    (
        "entry-between-two-numbers",
        "sqlite",
        f"INSERT INTO audit_log SELECT enterprise, 7.5, run_id, action, address, before, after, hash "
        f"FROM audit_log WHERE enterprise = '{E}' AND seq = 8",
        f"{E}: entry 8",
    ),
]


@pytest.mark.parametrize(
    ("kind", "attack", "expected"),
    [(k, a[2], a[3]) for a in ORDINARY for k in STORE_KINDS if a[1] in ("both", k)],
    ids=[f"{a[0]}-{k}" for a in ORDINARY for k in STORE_KINDS if a[1] in ("both", k)],
)
def test_ordinary_writes_cannot_change_the_trail_unseen(
    kind: str, attack: Any, expected: str, run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each row is an attack with ordinary writes, the append-only triggers still on: updates and
    deletions of either table (upserts and PostgreSQL's TRUNCATE included) are refused; what the
    triggers do not see (SQLite's REPLACE, inserts of forged entries and applies, an entry numbered
    0 or between two numbers) is reported by `audit verify`."""
    made = make_trail(kind, tmp_path, monkeypatch)
    try:
        if expected == "refused":
            with pytest.raises(Exception, match="append-only"):
                outside_write(made.url, attack)
            assert problems_at(made.url) == []
            return
        attack(made.url) if callable(attack) else outside_write(made.url, attack)
        verified = run("audit", "verify", "--state", made.url)
        assert verified.exit_code == 1 and expected in verified.stderr, verified.stderr
    finally:
        drop_store(made.url)


def test_an_apply_row_written_ahead_never_lends_its_fields(trail: Trail, tmp_path: Path) -> None:
    """An ordinary insert of an apply's row at the id the next apply would get (PostgreSQL's
    identity hands out ids an insert may also give): the next apply either fails, writing nothing,
    or writes a row of its own; its entries never read the attacker's actor."""
    outside_write(
        trail.url,
        "INSERT INTO audit_runs (id, at, actor, run, plan_hash, commit_sha, overrides) "
        "SELECT max(id) + 1, max(at), 'someone else', 'forged', 'p', NULL, '' FROM audit_runs",
    )
    _edit(trail.root, "hr@", "it@")
    store = open_store(trail.url)
    try:
        for _ in range(2):
            try:
                apply_plan(_plan(trail.root, store), store, run="run-4")
                break
            except Exception:  # noqa: BLE001 - the id was taken: nothing of this apply may remain
                assert [e.seq for e in store.audit_entries(E)] == list(range(1, 14))
        assert [e.run for e in store.audit_entries(E)][-1] == "run-4"
        assert all(e.actor != "someone else" for e in store.audit_entries())
        assert problems(store) == []
    finally:
        store.close()


# --- 3. a process that verified a chain re-reads only what came after ------------------------------


@pytest.mark.parametrize(
    "attack",
    [
        "UPDATE audit_runs SET actor = 'someone else' WHERE run = 'run-4'",
        "DELETE FROM audit_runs WHERE run = 'run-4'",
        f"UPDATE audit_log SET run_id = {run_of('run-1')} WHERE run_id = {run_of('run-4')}",
        f"UPDATE audit_log SET run_id = {run_of('run-3')} WHERE run_id = {run_of('run-4')}",
    ],
    ids=["its-row-edited", "its-row-deleted", "pointed-at-a-plain-apply", "pointed-at-a-keyed-apply"],
)
def test_a_process_that_verified_a_chain_sees_what_another_appended_altered(trail: Trail, attack: str) -> None:
    """Process A verifies the small employer's chain; process B appends an apply (run-4); the
    attacker alters what that apply's entries say through audit_runs.  A re-reads only the entries
    after the one it verified, joined with their rows, and must refuse."""
    first = open_store(trail.url)
    try:
        now = datetime.now(UTC)
        shared = audit.context(now, None, "a", "", ())
        with first.transaction(now, [E], "a") as transaction:
            transaction.check_audit(shared, [E])
        assert first.verified_chains[E][0] == 13
        _edit(trail.root, "hr@", "it@")
        second = open_store(trail.url)
        try:
            apply_plan(_plan(trail.root, second), second, run="run-4")
        finally:
            second.close()
        bypass_append_only(trail.url, attack)
        with (
            pytest.raises(audit.ChainBroken, match=f"{E}: entry 14 was altered"),
            first.transaction(now, [E], "a") as transaction,
        ):
            transaction.check_audit(shared, [E])
    finally:
        first.close()


# --- 4. migration 0016 on a trail written before it ----------------------------------------------


def _old_statements(kind: str) -> list[str]:
    """The audit table of migrations 0003 and 0013 as they stand: its table, triggers and index."""
    text = (MIGRATIONS / kind / "0003_audit.sql").read_text()
    table = "CREATE TABLE audit_log" + text.split("CREATE TABLE audit_log", 1)[1].split(";", 1)[0]
    if kind == "sqlite":
        triggers = ["CREATE TRIGGER" + part.split("END;", 1)[0] + "END" for part in text.split("CREATE TRIGGER")[1:]]
    else:
        triggers = ["CREATE TRIGGER" + text.split("CREATE TRIGGER", 1)[1].split(";", 1)[0]]
    index = (MIGRATIONS / kind / "0013_audit_address.sql").read_text()
    return [table, *triggers, "CREATE INDEX" + index.split("CREATE INDEX", 1)[1].split(";", 1)[0]]


def as_before_0016(url: str, kind: str, entries: list[audit.AuditEntry], tamper: tuple[Any, ...] = ()) -> None:
    """The store as it was before migration 0016: every field on every entry, under the triggers and
    index of 0003 and 0013.  ``tamper`` is done to the old table first, as someone with full control:
    SQL, or a function that forges the entries to insert."""
    for forge in tamper:
        if callable(forge):
            entries = forge(entries)
    outside_write(url, "DROP TABLE audit_log")
    outside_write(url, "DROP TABLE audit_runs")
    table, *rest = _old_statements(kind)
    outside_write(url, table)
    outside_rows(url, f"INSERT INTO audit_log VALUES ({', '.join('?' * len(audit.AuditEntry._fields))})", entries)
    for statement in tamper:
        if not callable(statement):
            outside_write(url, statement)
    for statement in rest:
        outside_write(url, statement)
    outside_write(url, "DELETE FROM schema_migrations WHERE version = 16")


def rehashed(enterprise: str, seqs: range, **fields: Any):
    """A forger of old-layout entries: ``seqs`` of ``enterprise`` given ``fields`` and re-hashed as
    plain SHA-256, each carrying the forged hash of the one before as its previous hash."""

    def forge(entries: list[audit.AuditEntry]) -> list[audit.AuditEntry]:
        forged, previous = [], None
        for entry in entries:
            if entry.enterprise == enterprise and entry.seq in seqs:
                entry = entry._replace(**{"prev_hash": previous or entry.prev_hash, **fields, "hash": ""})
                entry = entry._replace(hash=audit.entry_hash(entry))
                previous = entry.hash
            forged.append(entry)
        return forged

    return forge


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_migration_moves_a_mixed_trail_over_and_keeps_it_append_only(
    kind: str, run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trail of two enterprises and several applies (no actor and an actor, no commit and a
    commit, plain and keyed entries, two seals with the same fields, an override) moved by 0016:
    every entry reads as it was, each distinct apply is one row, the triggers hold on both tables,
    and the next apply gets a row of its own and goes on from the migrated heads."""
    made = make_trail(kind, tmp_path, monkeypatch)
    try:
        entries = entries_at(made.url)
        as_before_0016(made.url, kind, entries)
        assert entries_at(made.url) == entries  # migrates
        assert problems_at(made.url) == []
        runs = rows_at(made.url, "SELECT at, actor, run, plan_hash, commit_sha, overrides FROM audit_runs")
        assert sorted(runs, key=str) == sorted(
            {(e.at, e.actor, e.run, e.plan_hash, e.commit_sha, e.overrides) for e in entries}, key=str
        )
        assert len(runs) == 4  # the two seals' fields are one row
        for statement in (
            "UPDATE audit_runs SET actor = 'someone else'",
            "DELETE FROM audit_runs",
            "UPDATE audit_log SET run_id = run_id + 1",
            "DELETE FROM audit_log WHERE seq = 1",
        ):
            with pytest.raises(Exception, match="append-only"):
                outside_write(made.url, statement)
        _edit(made.root, "hr@", "it@")
        store = open_store(made.url)
        try:
            apply_plan(_plan(made.root, store), store, run="run-4")
            after = store.audit_entries()
            assert [e for e in after if e.run != "run-4"] == entries
            assert problems(store) == []
        finally:
            store.close()
        ids = rows_at(made.url, "SELECT id, run FROM audit_runs ORDER BY id")
        assert ids[-1][1] == "run-4" and len({i for i, _ in ids}) == 5
        bypass_append_only(made.url, "UPDATE audit_runs SET actor = 'someone else' WHERE run = 'run-2'")
        verified = run("audit", "verify", "--state", made.url)
        assert verified.exit_code == 1 and f"{E}: entry 8 was altered" in verified.stderr
    finally:
        drop_store(made.url)


OLD_TAMPERING: list[tuple[str, tuple[Any, ...], str]] = [
    (
        "one-entry-of-an-apply-given-another-actor",
        (f"UPDATE audit_log SET actor = 'x' WHERE enterprise = '{S}' AND seq = 5",),
        f"{S}: entry 5 was altered",
    ),
    (
        "a-whole-apply-given-another-actor",
        ("UPDATE audit_log SET actor = 'x' WHERE run = 'run-2'",),
        f"{E}: entry 8 was altered",
    ),
    (
        "one-entry-moved-in-time",
        (f"UPDATE audit_log SET at = '2020-01-01' WHERE enterprise = '{E}' AND seq = 3",),
        f"{E}: entry 3 was altered",
    ),
    ("an-override-hidden", ("UPDATE audit_log SET overrides = '' WHERE run = 'run-3'",), f"{E}: entry 10 was altered"),
    ("a-commit-erased", ("UPDATE audit_log SET commit_sha = NULL WHERE run = 'run-2'",), f"{E}: entry 8 was altered"),
    ("an-entry-deleted", (f"DELETE FROM audit_log WHERE enterprise = '{S}' AND seq = 4",), f"{S}: entry 4 is missing"),
    (
        "an-entry-re-hashed-over-a-forged-previous-hash",
        (rehashed(E, range(3, 4), after="{}", prev_hash="forged"),),
        f"{E}: entry 3 was altered",
    ),
    (
        "one-entry-re-hashed-its-successor-left-as-it-was",
        (rehashed(E, range(5, 6), actor="someone else"),),
        f"{E}: entry 6 was altered",
    ),
    (
        "the-plain-part-re-hashed-up-to-the-seal",
        (rehashed(E, range(3, 9), actor="someone else"),),
        f"{E}: entry 9 was altered (its HMAC does not match)",
    ),
]


@pytest.mark.parametrize("kind", STORE_KINDS)
@pytest.mark.parametrize(("tamper", "expected"), [t[1:] for t in OLD_TAMPERING], ids=[t[0] for t in OLD_TAMPERING])
def test_migration_does_not_launder_a_trail_tampered_before_it(
    kind: str, tamper: tuple[Any, ...], expected: str, run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trail edited in the old layout (one entry of an apply given other fields than its
    siblings, a whole apply edited, an entry deleted, an entry's previous hash forged) and then
    migrated: grouping entries into applies must not make the edit read as the truth, and the
    previous hash read from the row before must not hide a forged one: entries re-hashed over a
    forged previous hash, or re-hashed consistently up to a keyed entry that was not, still fail."""
    made = make_trail(kind, tmp_path, monkeypatch)
    try:
        before = problems_at(made.url)
        assert before == []
        as_before_0016(made.url, kind, entries_at(made.url), tamper)
        verified = run("audit", "verify", "--state", made.url)
        assert verified.exit_code == 1 and expected in verified.stderr, verified.stderr
        writers_refuse(made.url)
    finally:
        drop_store(made.url)


# --- 5. copies between SQLite and PostgreSQL ----------------------------------------------------------


RUN_ROWS = "SELECT id, at, actor, run, plan_hash, commit_sha, overrides FROM audit_runs ORDER BY id"
LOG_ROWS = (
    "SELECT enterprise, seq, run_id, action, address, before, after, hash FROM audit_log ORDER BY enterprise, seq"
)


@pytest.mark.parametrize("first", STORE_KINDS)
def test_a_round_trip_copy_keeps_every_row_and_later_applies_get_their_own(
    first: str, run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A keyed, mixed trail copied to the other kind of store (`state migrate`) and back: each copy
    holds the very rows of both tables (ids included), verifies with the key, and two applies after
    each copy get new ids, so that no copied entry is ever read with another apply's fields."""
    other = "postgresql" if first == "sqlite" else "sqlite"
    made = make_trail(first, tmp_path, monkeypatch)
    middle, last = new_store_url(other, tmp_path), new_store_url(first, tmp_path)
    try:
        runs, log = rows_at(made.url, RUN_ROWS), rows_at(made.url, LOG_ROWS)
        assert run("state", "migrate", "--from", made.url, "--to", middle).exit_code == 0
        source, target = open_store(middle), open_store(last)
        try:
            copy_registry(source, target)
        finally:
            source.close()
            target.close()
        for url in (middle, last):
            assert rows_at(url, RUN_ROWS) == runs and rows_at(url, LOG_ROWS) == log
            assert problems_at(url) == []
        for copied, url in enumerate((middle, last)):
            root = tmp_path / f"copy-{copied}"
            shutil.copytree(made.root, root)
            store = open_store(url)
            try:
                for number, (old, new) in enumerate((("hr@", "it@"), ("it@", "ops@")), start=4):
                    _edit(root, old, new)
                    apply_plan(_plan(root, store), store, run=f"run-{number}")
                assert problems(store) == []
            finally:
                store.close()
            ids = rows_at(url, "SELECT id, run FROM audit_runs ORDER BY id")
            assert [name for _, name in ids[-2:]] == ["run-4", "run-5"] and len({i for i, _ in ids}) == len(ids)
            assert set(log) <= set(rows_at(url, LOG_ROWS))  # every copied entry, as it was
            assert [e for e in entries_at(url) if e.run not in ("run-4", "run-5")] == entries_at(made.url)
    finally:
        drop_store(made.url)
        drop_store(middle)
        drop_store(last)


@pytest.mark.parametrize("first", STORE_KINDS)
@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE audit_runs SET actor = 'someone else' WHERE run = 'run-2'",
        "DELETE FROM audit_runs WHERE run = 'run-3'",
        f"UPDATE audit_log SET run_id = 1000000 WHERE enterprise = '{S}' AND seq = 28",
    ],
    ids=["run-edited", "run-deleted", "entry-points-nowhere"],
)
def test_a_copy_does_not_launder_a_tampered_trail(
    first: str, tamper: str, run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tampered trail copied to the other kind of store reports the same problems there; and an
    apply made there afterwards with --allow-broken-audit-trail (whose row may take the id of the
    deleted one: a copied PostgreSQL identity and SQLite both go on from the highest id) does not
    make the tampered entries verify."""
    other = "postgresql" if first == "sqlite" else "sqlite"
    made = make_trail(first, tmp_path, monkeypatch)
    target = new_store_url(other, tmp_path)
    try:
        bypass_append_only(made.url, tamper)
        found = problems_at(made.url)
        assert found
        source, copy = open_store(made.url), open_store(target)
        try:
            copy_registry(source, copy)
            assert problems(copy) == found
            _edit(made.root, "hr@", "it@")
            apply_plan(_plan(made.root, copy), copy, run="run-4", overrides=frozenset({audit.OVERRIDE}))
            after = problems(copy)
            assert all(problem in after for problem in found), (found, after)
        finally:
            source.close()
            copy.close()
        verified = run("audit", "verify", "--state", target)
        assert verified.exit_code == 1
    finally:
        drop_store(made.url)
        drop_store(target)


# --- 6. nothing reads or writes the columns 0016 removed ------------------------------------------


REMOVED = ("at", "actor", "run", "plan_hash", "commit_sha", "overrides", "prev_hash")


def test_no_statement_names_a_column_audit_log_no_longer_has() -> None:
    """Every SQL text in the package that names audit_log names its per-apply fields only through
    the audit_runs row (``r.``), and none names prev_hash; the stored columns are what 0016 made."""
    offenders = []
    for path in sorted((ROOT / "reconciler").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str) and "audit_log" in node.value):
                continue
            if not re.search(r"\b(SELECT|INSERT|UPDATE|DELETE|FROM)\b", node.value):
                continue
            for column in REMOVED:
                for match in re.finditer(rf"(?<![\w.]){column}\b", node.value):
                    offenders.append(
                        (path.name, node.lineno, column, node.value[max(0, match.start() - 30) : match.end() + 10])
                    )
    assert offenders == []
    assert "prev_hash" not in audit.STORED_COLUMNS and not set(REMOVED) & set(audit.STORED_COLUMNS)
    assert set(audit.RUN_COLUMNS) == set(REMOVED) - {"prev_hash"}


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_the_stored_tables_hold_what_0016_made(kind: str, tmp_path: Path) -> None:
    """A fresh store's audit_log holds no per-apply field and no previous hash; audit_runs holds them."""
    url = new_store_url(kind, tmp_path)
    try:
        open_store(url).close()
        for table, expected in (("audit_log", audit.STORED_COLUMNS), ("audit_runs", ("id", *audit.RUN_COLUMNS))):
            if kind == "sqlite":
                found = [r[0] for r in rows_at(url, f"SELECT name FROM pragma_table_info('{table}')")]
            else:
                found = [
                    r[0]
                    for r in rows_at(
                        url,
                        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                        f"AND table_name = '{table}' ORDER BY ordinal_position",
                    )
                ]
            assert sorted(found) == sorted(expected)
    finally:
        drop_store(url)
