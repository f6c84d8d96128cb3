"""Numbered apply scenarios, run in order against every store kind.

Each ``tests/scenarios/NN_name/`` declares the whole enterprise as it should be after that
step.  For each step: the plan matches its golden text and JSON, apply succeeds, the next
plan is empty, and export-then-plan gives no changes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import check_golden

from reconciler.accounts.delivery import LetterBox
from reconciler.accounts.lifecycle import issue_codes
from reconciler.apply.execute import apply_plan
from reconciler.plan.desired import load_desired
from reconciler.plan.plan import make_plan
from reconciler.render.export import export
from reconciler.render.json import render_plan_json
from reconciler.render.text import render_plan

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
STEPS = sorted(p.name for p in SCENARIOS.iterdir() if p.is_dir())
E = "0999055557"
NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def plan_for(folder: Path, store):
    desired, problems = load_desired([folder])
    assert problems == []
    return desired, make_plan(desired.enterprises, store.read(desired.enterprises))


def people(store) -> dict[str, str]:
    """Accounts that can still be used, by SSIN."""
    return {account.ssin: account.status for account in store.accounts(E) if account.status != "deactivated"}


def deactivated(store) -> set[str]:
    return {account.ssin for account in store.accounts(E) if account.status == "deactivated"}


# What must hold in the store after each step, beyond "the next plan is empty".
FACTS = {
    "00_create": lambda s, st: (
        people(s) == {"75031366754": "pending", "58022754967": "pending", "61061906014": "pending"}
    ),
    "01_add_quality": lambda s, st: "91110738238" in people(s),
    "02_remove_user": lambda s, st: (
        "61061906014" in people(s)  # still a user of the mandatary quality
        and not any(a.key == "61061906014" and a.quality == "employer" for a in st.records)
    ),
    "03_replace_main_access_manager": lambda s, st: (
        dict(st.records[_enterprise()])["main_access_manager"] == "58022754967"
    ),
    "04_parameters_and_services": lambda s, st: any(a.kind.value == "route" for a in st.records),
    "05_deactivate_quality": lambda s, st: deactivated(s) == {"91110738238", "61061906014"},
    "06_remove_quality_and_parameters": lambda s, st: (
        {a.kind.value for a in st.records} == {"enterprise", "person", "quality", "user"}
    ),
}


def _enterprise():
    from reconciler.records.state import Address, Kind

    return Address(E, Kind.ENTERPRISE)


def test_every_scenario_states_its_facts() -> None:
    assert set(FACTS) == set(STEPS)


def test_scenarios_in_order(store, tmp_path: Path, update_golden: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(SCENARIOS)
    for step in STEPS:
        _, plan = plan_for(Path(step), store)
        assert not plan.is_empty, step
        check_golden(SCENARIOS / step / "plan.txt", render_plan(plan), update_golden)
        check_golden(SCENARIOS / step / "plan.json", render_plan_json(plan), update_golden)
        apply_plan(plan, store, now=NOW)
        _, again = plan_for(Path(step), store)
        assert again.is_empty, f"{step}: second plan is not empty:\n{render_plan(again)}"
        stored = store.read([E])[E]
        assert FACTS[step](store, stored.state), step
        exported = export(store.read(), tmp_path / step)
        _, round_trip = plan_for(exported[0].parent, store)
        assert round_trip.is_empty, step


def test_new_accounts_are_pending_for_thirty_days(store, tmp_path: Path) -> None:
    _, plan = plan_for(SCENARIOS / STEPS[0], store)
    apply_plan(plan, store, now=NOW)
    assert {a.effective_status(NOW) for a in store.accounts(E)} == {"awaiting codes"}
    issue_codes(store, LetterBox(str(tmp_path)), None, NOW, "http://login", "run")
    accounts = store.accounts(E)
    assert {a.status for a in accounts} == {"pending"}
    assert {a.activation_deadline for a in accounts} == {(NOW + timedelta(days=30)).isoformat(timespec="seconds")}
    assert len({a.username for a in accounts}) == len(accounts)
    assert {a.effective_status(NOW + timedelta(days=29)) for a in accounts} == {"pending"}
    assert {a.effective_status(NOW + timedelta(days=31)) for a in accounts} == {"expired"}
