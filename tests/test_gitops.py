"""Saved plans, safety gates, the audit trail and the pull-request comment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import EXAMPLES, bypass_append_only, drop_store, new_store_url, outside_write

from reconciler.apply.execute import Refused, apply_plan
from reconciler.plan.desired import load_desired
from reconciler.plan.gates import GATES, Policy, check_gates
from reconciler.plan.plan import make_plan
from reconciler.records.change import Action, Change
from reconciler.records.state import Address, Kind
from reconciler.render.markdown import render_plan_markdown
from reconciler.store.backends import open_store

SMALL = EXAMPLES / "small-employer.yaml"
E = "0999055557"


def edited(tmp_path: Path, name: str, *replacements: tuple[str, str], source: Path = SMALL) -> Path:
    text = source.read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text)
    return path


WITHOUT_USERS = (
    """    users:
      - ssin: "58022754967"
        name: Jan Mertens
        email: jan@goudenkorst.example
        services: [dimona, dmfa]
      - ssin: "61061906014"
        name: Fatima El Amrani
        email: fatima@goudenkorst.example
        services: [checkinatwork]
""",
    "",
)


# --- saved plans -------------------------------------------------------------------------


def test_saved_plan_applies_exactly_once(run, tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 's.db'}"
    planned = run("plan", SMALL, "--state", state, "--out", tmp_path / "p.plan", "--format", "json")
    assert planned.exit_code == 0
    shown = run("show", tmp_path / "p.plan", "--format", "json")
    assert shown.exit_code == 0 and shown.stdout == planned.stdout  # the same document
    applied = run("apply", tmp_path / "p.plan", "--state", state, "--auto-approve")
    assert applied.exit_code == 0 and "Apply complete: 7 changes in 1 enterprise committed." in applied.stdout
    again = run("apply", tmp_path / "p.plan", "--state", state, "--auto-approve")
    assert again.exit_code == 3
    assert "changed since the plan was made (planned against absent, now version 1)" in again.stderr


def test_stale_saved_plan_is_refused(run, tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    state = f"sqlite:///{path}"
    run("apply", SMALL, "--state", state, "--auto-approve")
    change = edited(tmp_path, "c.yaml", ("administratie@", "hr@"))
    assert run("plan", change, "--state", state, "--out", tmp_path / "p.plan").exit_code == 0
    outside_write(state, "UPDATE persons SET name = 'Someone Else' WHERE ssin = '58022754967'")
    result = run("apply", tmp_path / "p.plan", "--state", state, "--auto-approve")
    assert result.exit_code == 3
    assert f"enterprise {E} changed since the plan was made (planned against version 1, now version 2)" in result.stderr


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d["plan"]["changes"][1]["after"].update(email="attacker@evil.example"),
        lambda d: d["plan"]["changes"].pop(),
        lambda d: d["plan"]["versions"].update({"0999055557": 7}),
        lambda d: d.update(checksum="sha256:" + "0" * 64),
    ],
)
def test_tampered_plan_file_is_refused(run, tmp_path: Path, tamper) -> None:
    state = f"sqlite:///{tmp_path / 's.db'}"
    run("plan", SMALL, "--state", state, "--out", tmp_path / "p.plan")
    document = json.loads((tmp_path / "p.plan").read_text())
    tamper(document)
    (tmp_path / "p.plan").write_text(json.dumps(document))
    result = run("apply", tmp_path / "p.plan", "--state", state, "--auto-approve")
    assert result.exit_code == 4
    assert "the checksum does not match: the plan was altered after it was written" in result.stderr
    assert run("show", "--state", state).stdout == "The store holds no enterprises.\n"


def test_keyed_checksum(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = f"sqlite:///{tmp_path / 's.db'}"
    monkeypatch.setenv("RECONCILER_PLAN_KEY", "secret-one")
    run("plan", SMALL, "--state", state, "--out", tmp_path / "p.plan")
    assert json.loads((tmp_path / "p.plan").read_text())["checksum"].startswith("hmac-sha256:")
    monkeypatch.setenv("RECONCILER_PLAN_KEY", "secret-two")
    refused = run("apply", tmp_path / "p.plan", "--state", state, "--auto-approve")
    assert refused.exit_code == 4 and "RECONCILER_PLAN_KEY" in refused.stderr
    monkeypatch.setenv("RECONCILER_PLAN_KEY", "secret-one")
    assert run("apply", tmp_path / "p.plan", "--state", state, "--auto-approve").exit_code == 0


def test_not_a_plan_file(run, tmp_path: Path) -> None:
    (tmp_path / "p.plan").write_text('{"format": "reconciler-plan", "oops": ')
    result = run("apply", tmp_path / "p.plan", "--auto-approve")
    assert result.exit_code == 4 and "not a readable plan file" in result.stderr


# --- safety gates ------------------------------------------------------------------------


def plan_for(path: Path, store, actor: str | None = None):
    desired, problems = load_desired([path])
    assert problems == []
    return make_plan(desired.enterprises, store.read(desired.enterprises), Policy(actor=actor))


@pytest.fixture
def applied_store(store):
    apply_plan(plan_for(SMALL, store), store)
    return store


def test_gate_mass_removal_and_override(applied_store, tmp_path: Path) -> None:
    plan = plan_for(edited(tmp_path, "x.yaml", WITHOUT_USERS), applied_store)
    assert [r.gate for r in plan.refusals] == ["G001"]
    assert plan.refusals[0].message == "removes 2 of 2 users (100%, more than 25%)"
    with pytest.raises(Refused, match="G001"):
        apply_plan(plan, applied_store)
    assert applied_store.read([E])[E].version == 1  # nothing written
    apply_plan(plan, applied_store, overrides=frozenset({"--allow-mass-removal"}))
    entries = applied_store.audit_entries(E)
    assert entries[-1].overrides == "--allow-mass-removal"


def test_gate_removal_share_is_configurable(applied_store, tmp_path: Path) -> None:
    desired, _ = load_desired([edited(tmp_path, "x.yaml", WITHOUT_USERS)])
    relaxed = make_plan(desired.enterprises, applied_store.read(desired.enterprises), Policy(max_removal_share=1.0))
    assert relaxed.refusals == ()


def test_gate_default_quality(applied_store, tmp_path: Path) -> None:
    swapped = edited(
        tmp_path,
        "x.yaml",
        ("  - code: employer\n    default: true\n", "  - code: employer-ppo\n    default: true\n"),
        ("services: [checkinatwork]", "services: [capelo]"),
    )
    plan = plan_for(swapped, applied_store)
    # The users move to the new quality, so the old quality's users are all removed too.
    assert [r.gate for r in plan.refusals] == ["G001", "G003"]
    assert plan.refusals[1].message == 'removes the default quality "employer"'


def test_gate_self_removal(applied_store, tmp_path: Path) -> None:
    # Els is main access manager and access manager; as actor, she hands both roles to Jan.
    handed = edited(
        tmp_path,
        "x.yaml",
        (
            'main_access_manager:\n  ssin: "75031366754"\n  name: Els Mertens\n  email: els@goudenkorst.example',
            'main_access_manager:\n  ssin: "58022754967"\n  name: Jan Mertens\n  email: jan@goudenkorst.example',
        ),
        (
            '    access_manager:\n      ssin: "75031366754"\n      name: Els Mertens\n'
            "      email: els@goudenkorst.example",
            '    access_manager:\n      ssin: "58022754967"\n'
            "      name: Jan Mertens\n      email: jan@goudenkorst.example",
        ),
    )
    plan = plan_for(handed, applied_store, actor="75031366754")
    assert [r.gate for r in plan.refusals] == ["G004"]
    assert plan_for(handed, applied_store, actor="legal-representative").refusals == ()


def test_gate_no_main_access_manager_is_checked_on_the_plan(applied_store) -> None:
    """Valid YAML cannot express it (rule H001), so the gate is shown on a hand-made change."""
    stored = applied_store.read([E])
    header = Address(E, Kind.ENTERPRISE)
    before = stored[E].state.records[header]
    after = tuple((n, None if n == "main_access_manager" else v) for n, v in before)
    refusals = check_gates([Change(Action.UPDATE, header, before, after)], stored, Policy())
    assert [(r.gate, r.override) for r in refusals] == [("G002", "--allow-no-main-access-manager")]


def test_gate_protection_lives_in_the_store(store, tmp_path: Path) -> None:
    protected = edited(
        tmp_path,
        "p.yaml",
        ("        services: [checkinatwork]\n", "        services: [checkinatwork]\n        protected: true\n"),
    )
    apply_plan(plan_for(protected, store), store)
    gone = edited(
        tmp_path,
        "g.yaml",
        (
            """      - ssin: "61061906014"
        name: Fatima El Amrani
        email: fatima@goudenkorst.example
        services: [checkinatwork]
""",
            "",
        ),
    )
    plan = plan_for(gone, store)
    assert [(r.gate, r.message) for r in plan.refusals] == [
        ("G005", f"removes the protected enterprise[{E}].quality[employer].user[61061906014]")
    ]
    unprotected = edited(
        tmp_path,
        "u.yaml",
        ("        services: [checkinatwork]\n", "        services: [checkinatwork]\n        protected: false\n"),
    )
    apply_plan(plan_for(unprotected, store), store)
    assert plan_for(gone, store).refusals == ()


def offboard_file(tmp_path: Path, number: str = "0999.055.557") -> Path:
    path = tmp_path / "offboard.yaml"
    path.write_text(f'enterprise:\n  number: "{number}"\n  name: Bakkerij De Gouden Korst\n  offboard: true\n')
    return path


def test_offboarding_removes_everything_behind_its_own_gate(applied_store, tmp_path: Path) -> None:
    before = applied_store.read([E])[E].state.records
    plan = plan_for(offboard_file(tmp_path), applied_store, actor="75031366754")
    # Only the off-boarding gate: it stands for the mass removal, the main access manager, the
    # default quality and the actor's own role, which removing everything trips one by one.
    assert [r.gate for r in plan.refusals] == ["G006"]
    people = sum(1 for a in before if a.kind is Kind.PERSON)
    assert plan.refusals[0].message == (
        f"off-boards the enterprise: removes all {len(before) - 1} records, {people} people among them"
    )
    deleted = {c.address for c in plan.changes if c.action is Action.DELETE}
    assert deleted == set(before) - {Address(E, Kind.ENTERPRISE)}
    with pytest.raises(Refused, match="G006"):
        apply_plan(plan, applied_store)
    assert applied_store.read([E])[E].state.records == before  # refused: nothing written

    apply_plan(plan, applied_store, overrides=frozenset({"--allow-offboarding"}))
    kept = applied_store.read([E])[E]
    assert list(kept.state.records) == [Address(E, Kind.ENTERPRISE)]
    assert dict(kept.state.records[Address(E, Kind.ENTERPRISE)])["main_access_manager"] is None
    assert {a.status for a in applied_store.accounts(E)} == {"deactivated"}
    assert applied_store.audit_entries(E)[-1].overrides == "--allow-offboarding"
    from reconciler.store.audit import verify

    assert verify(applied_store.audit_entries(), applied_store.audit_heads()) == []
    # Off-boarded, the same file plans nothing more; declaring the enterprise again starts it anew.
    assert plan_for(offboard_file(tmp_path), applied_store).changes == ()
    again = plan_for(SMALL, applied_store)
    assert again.refusals == ()
    apply_plan(again, applied_store)
    assert applied_store.read([E])[E].state.records == before


def test_offboarding_an_enterprise_never_stored_plans_nothing(store, tmp_path: Path) -> None:
    plan = plan_for(offboard_file(tmp_path), store)
    assert plan.changes == () and plan.refusals == ()


def test_offboarding_is_shown_in_every_rendering(run, tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 's.db'}"
    run("apply", SMALL, "--state", state, "--auto-approve")
    offboard = offboard_file(tmp_path)
    text = run("plan", offboard, "--state", state)
    assert "G006" in text.stdout and "--allow-offboarding" in text.stdout
    shown = json.loads(run("plan", offboard, "--state", state, "--format", "json").stdout)
    assert [r["gate"] for r in shown["refusals"]] == ["G006"]
    refused = run("apply", offboard, "--state", state, "--auto-approve")
    assert refused.exit_code == 6
    done = run("apply", offboard, "--state", state, "--auto-approve", "--allow-offboarding")
    assert done.exit_code == 0, done.output


def test_every_gate_is_tested_here() -> None:
    tested = {"G001", "G002", "G003", "G004", "G005", "G006"}
    assert set(GATES) == tested


def test_cli_refuses_with_exit_6_and_lifts_with_the_flag(run, tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 's.db'}"
    run("apply", SMALL, "--state", state, "--auto-approve")
    change = edited(tmp_path, "x.yaml", WITHOUT_USERS)
    shown = run("plan", change, "--state", state)
    assert (
        "G001 enterprise 0999.055.557 removes 2 of 2 users (100%, more than 25%) (lift with --allow-mass-removal)"
        in shown.stdout
    )
    refused = run("apply", change, "--state", state, "--auto-approve")
    assert refused.exit_code == 6 and "refused by the safety gates" in refused.stderr
    assert run("apply", change, "--state", state, "--auto-approve", "--allow-mass-removal").exit_code == 0


# --- audit trail -------------------------------------------------------------------------


@pytest.fixture
def audited(tmp_path: Path, request: pytest.FixtureRequest):
    url = new_store_url(request.param, tmp_path)
    store = open_store(url)
    apply_plan(plan_for(SMALL, store), store)
    apply_plan(plan_for(edited(tmp_path, "x.yaml", ("administratie@", "hr@")), store), store)
    yield url, store
    store.close()
    drop_store(url)


BOTH = pytest.mark.parametrize("audited", ["sqlite", "postgresql"], indirect=True)


@BOTH
def test_audit_records_every_change(audited, run, monkeypatch: pytest.MonkeyPatch) -> None:
    url, store = audited
    entries = store.audit_entries(E)
    assert [e.seq for e in entries] == list(range(1, 9))
    assert (
        entries[-1].action == "update"
        and json.loads(entries[-1].after)["notification_email"] == "hr@goudenkorst.example"
    )
    assert all("password" not in (e.after or "") for e in entries)
    assert run("audit", "verify", "--state", url).exit_code == 0
    log = run("audit", "log", "0999.055.557", "--state", url, "--format", "json")
    assert [e["seq"] for e in json.loads(log.stdout)] == list(range(1, 9))


@BOTH
def test_audit_is_append_only(audited) -> None:
    url, _ = audited
    with pytest.raises(Exception, match="append-only"):
        outside_write(url, "UPDATE audit_log SET address = 'elsewhere' WHERE seq = 1")
    with pytest.raises(Exception, match="append-only"):
        outside_write(url, "DELETE FROM audit_log WHERE seq = 1")
    with pytest.raises(Exception, match="append-only"):
        outside_write(url, "UPDATE audit_runs SET actor = 'someone'")
    with pytest.raises(Exception, match="append-only"):
        outside_write(url, "DELETE FROM audit_runs")


@BOTH
@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("UPDATE audit_log SET after = replace(after, 'hr@', 'it@') WHERE seq = 8", "entry 8 was altered"),
        ("DELETE FROM audit_log WHERE seq = 3", "entry 3 is missing (deleted)"),
        ("DELETE FROM audit_log WHERE seq = 8", "the trail ends at entry 7 but the enterprise recorded 8"),
        # What every entry of an apply shares is kept once: editing it alters each of them.
        ("UPDATE audit_runs SET actor = 'someone else'", "entry 1 was altered"),
        ("UPDATE audit_runs SET at = '2020-01-01T00:00:00+00:00'", "entry 8 was altered"),
        ("DELETE FROM audit_runs", "entry 1 was altered"),
        ("UPDATE audit_log SET run_id = run_id + 1000 WHERE seq = 5", "entry 5 was altered"),
    ],
)
def test_audit_verify_detects_tampering(audited, run, statement: str, expected: str) -> None:
    url, _ = audited
    bypass_append_only(url, statement)
    result = run("audit", "verify", "--state", url)
    assert result.exit_code == 1
    assert expected in result.stderr


def test_audit_records_actor_run_and_commit(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = f"sqlite:///{tmp_path / 's.db'}"
    monkeypatch.setenv("GITHUB_SHA", "0123456789abcdef0123")
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    run("apply", SMALL, "--state", state, "--auto-approve", "--actor", "legal-representative")
    entry = json.loads(run("audit", "log", "--state", state, "--format", "json").stdout)[0]
    assert (entry["actor"], entry["run"], entry["commit_sha"]) == (
        "legal-representative",
        "4242",
        "0123456789abcdef0123",
    )
    assert len(entry["plan_hash"]) == 64
    text = run("audit", "log", "--state", state).stdout
    assert "by legal-representative  run 4242" in text and "commit 0123456789ab" in text


# --- pull-request comment ----------------------------------------------------------------


def test_markdown_comment_small_plan() -> None:
    desired, _ = load_desired([EXAMPLES / "social-secretariat"])
    comment = render_plan_markdown(make_plan(desired.enterprises, {}))
    assert comment.startswith("### reconciler plan\n")
    assert "| 0999.077.729 | social-secretariat | " in comment
    assert "<details><summary><b>0999.077.729</b> (new):" in comment
    assert "```diff\n+ enterprise\n" in comment


def test_markdown_comment_of_a_large_plan_stays_under_the_limit() -> None:
    desired, _ = load_desired([EXAMPLES])
    plan = make_plan(desired.enterprises, {})
    full = render_plan_markdown(plan, limit=10**9)
    assert len(full) > 60_000
    short = render_plan_markdown(plan, full_plan_at="the artifact plan.json")
    assert len(short) <= 60_000
    assert "read it in the artifact plan.json" in short
    # The two small enterprises are shown whole; the large one is counted and named.
    assert "<details><summary><b>0999.055.557</b>" in short and "<details><summary><b>0999.077.729</b>" in short
    assert "\n**1 enterprise not shown here**, whose changes are in the full plan: 0999123457\n" in short
    tiny = render_plan_markdown(plan, limit=1_000)
    assert len(tiny) <= 1_000
    assert (
        "**3 enterprises not shown here**, whose changes are in the full plan: 0999055557 0999077729 0999123457" in tiny
    )


def test_markdown_from_the_cli_names_the_plan_file(run, tmp_path: Path) -> None:
    result = run(
        "plan",
        EXAMPLES,
        "--state",
        f"sqlite:///{tmp_path / 's.db'}",
        "--format",
        "markdown",
        "--out",
        tmp_path / "full.plan",
    )
    assert result.exit_code == 0
    assert len(result.stdout) <= 60_000
    assert f"read it in {tmp_path / 'full.plan'}" in result.stdout
