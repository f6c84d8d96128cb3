"""Planning one enterprise at a time gives exactly the plan of planning all at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import EXAMPLES

from reconciler.apply.execute import apply_plan
from reconciler.plan.desired import load_desired
from reconciler.plan.gates import Policy
from reconciler.plan.pipeline import plan_paths
from reconciler.plan.plan import make_plan


def test_streamed_plan_equals_the_plan_of_everything(store, tmp_path: Path) -> None:
    small = EXAMPLES / "small-employer.yaml"
    apply_plan(make_plan(load_desired([small])[0].enterprises, {}), store)
    desired, problems = load_desired([EXAMPLES])
    assert problems == []
    expected = make_plan(desired.enterprises, store.read(desired.enterprises), Policy(), desired.files_of)
    streamed = plan_paths([EXAMPLES], store, Policy(), full=True)
    assert streamed.problems == []
    assert streamed.plan == expected
    assert streamed.digest == desired.digest


def test_a_misleading_head_falls_back_to_grouping_by_content(store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("reconciler.plan.desired.head_number", lambda path: "0999055557")  # every file lies
    streamed = plan_paths([EXAMPLES], store, Policy(), full=True)
    assert streamed.problems == []
    assert {c.address.enterprise for c in streamed.plan.changes} == {"0999055557", "0999077729", "0999123457"}


def test_problems_are_collected_across_enterprises(store) -> None:
    invalid = Path(__file__).resolve().parent / "fixtures" / "invalid"
    streamed = plan_paths(
        [invalid / "many_problems_across_files", invalid / "h004_two_access_managers.yaml"], store, Policy(), full=True
    )
    rules = [p.rule for p in streamed.problems]
    assert "S001" in rules and "H014" in rules and "H008" in rules
    assert streamed.problems == sorted(streamed.problems)
