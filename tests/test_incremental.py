"""Incremental planning: unchanged enterprises are skipped, and a change on either side never is."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import EXAMPLES, outside_write

import reconciler.plan.desired
from reconciler.apply.execute import apply_plan
from reconciler.plan.gates import OVERRIDES, Policy
from reconciler.plan.pipeline import plan_paths
from reconciler.store.backends import open_store

SMALL, SECRETARIAT, LARGE = "0999055557", "0999077729", "0999123457"


@pytest.fixture
def registry(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch):
    """The examples copied into a folder, applied, with a record of which files each plan parses."""
    folder = tmp_path / "enterprises"
    shutil.copytree(EXAMPLES, folder)
    monkeypatch.chdir(tmp_path)
    store = open_store(store_url)
    parsed: list[str] = []
    real = reconciler.plan.desired.load_files

    def recording(files, fast=False):
        files = list(files)
        parsed.extend(str(f) for f in files)
        return real(files, fast)

    monkeypatch.setattr(reconciler.plan.desired, "load_files", recording)
    plan_and_apply(store)
    parsed.clear()
    yield store, Path("enterprises"), parsed
    store.close()


def plan_and_apply(store, apply: bool = True, folder: str = "enterprises"):
    """Plan as `reconciler plan` does: one enterprise at a time, skipping unchanged ones."""
    planned_now = plan_paths([folder], store, Policy())
    assert planned_now.problems == []
    plan = planned_now.plan
    if apply:
        apply_plan(plan, store, overrides=frozenset(OVERRIDES))
    return plan


def planned(plan) -> set[str]:
    return {number for number, *_ in plan.sync}


def test_nothing_changed_nothing_parsed(registry) -> None:
    store, _, parsed = registry
    plan = plan_and_apply(store, apply=False)
    assert plan.is_empty and set(plan.skipped) == {SMALL, SECRETARIAT, LARGE}
    assert parsed == []


def test_a_changed_file_plans_its_enterprise_only(registry) -> None:
    store, folder, parsed = registry
    path = folder / "social-secretariat" / "employer.yaml"
    path.write_text(path.read_text().replace("hr@ssdv.example", "personnel@ssdv.example"))
    plan = plan_and_apply(store, apply=False)
    assert planned(plan) == {SECRETARIAT} and set(plan.skipped) == {SMALL, LARGE}
    assert sorted(Path(p).name for p in parsed) == [
        "employer.yaml",
        "enterprise.yaml",
        "service-provider.yaml",
        "social-secretariat.yaml",
    ]
    assert [str(c.address) for c in plan.changes] == [f"enterprise[{SECRETARIAT}].quality[employer]"]
    apply_plan(plan, store)
    parsed.clear()
    assert plan_and_apply(store, apply=False).skipped == (SMALL, SECRETARIAT, LARGE)
    assert parsed == []


def test_a_write_outside_reconciler_is_never_skipped(registry, store_url: str) -> None:
    store, _, _ = registry
    outside_write(store_url, f"UPDATE users SET services = 'dimona' WHERE enterprise = '{SMALL}'")
    plan = plan_and_apply(store, apply=False)
    assert SMALL in planned(plan) and SMALL not in plan.skipped
    assert {c.address.enterprise for c in plan.changes} == {SMALL}


def test_a_deleted_file_is_never_skipped(registry) -> None:
    store, folder, _ = registry
    (folder / "social-secretariat" / "service-provider.yaml").unlink()
    plan = plan_and_apply(store, apply=False)
    assert SECRETARIAT in planned(plan)
    assert f"enterprise[{SECRETARIAT}].quality[service-provider]" in {str(c.address) for c in plan.changes}


def test_a_new_file_for_a_skipped_enterprise_is_never_skipped(registry) -> None:
    store, folder, parsed = registry
    (folder / "small-extra.yaml").write_text("""enterprise:
  number: "0999.055.557"
qualities:
  - code: employer
    users:
      - ssin: "91110738238"
        name: Wim Claes
        email: wim@goudenkorst.example
        services: [dimona]
""")
    plan = plan_and_apply(store, apply=False)
    assert planned(plan) == {SMALL}
    assert f"enterprise[{SMALL}].quality[employer].user[91110738238]" in {str(c.address) for c in plan.changes}
    assert str(folder / "small-employer.yaml") in parsed


def test_a_new_tool_version_or_catalogue_reads_everything(registry, monkeypatch: pytest.MonkeyPatch) -> None:
    store, _, _ = registry
    import reconciler.plan.incremental

    original = reconciler.plan.incremental.__version__
    monkeypatch.setattr("reconciler.plan.incremental.__version__", "99.0.0")
    assert planned(plan_and_apply(store, apply=False)) == {SMALL, SECRETARIAT, LARGE}
    monkeypatch.setattr("reconciler.plan.incremental.__version__", original)
    assert planned(plan_and_apply(store, apply=False)) == set()
    monkeypatch.setattr("reconciler.plan.incremental.catalogue_sha", lambda: "another catalogue")
    assert planned(plan_and_apply(store, apply=False)) == {SMALL, SECRETARIAT, LARGE}


def test_a_saved_plan_records_what_it_was_made_from(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(EXAMPLES, tmp_path / "enterprises")
    state = f"sqlite:///{tmp_path / 's.db'}"
    assert run("plan", "enterprises", "--state", state, "--out", "p.plan").exit_code == 0
    assert run("apply", "p.plan", "--state", state, "--auto-approve").exit_code == 0
    result = run("plan", "enterprises", "--state", state, "--detailed-exitcode")
    assert result.exit_code == 0
    assert "3 enterprises unchanged since their last apply" in result.stdout
