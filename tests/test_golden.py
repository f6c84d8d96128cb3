"""Golden plan outputs (text, JSON and the Markdown comment) for the examples planned against an empty store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT, check_golden
from jsonschema import Draft202012Validator

from reconciler.plan.desired import load_desired
from reconciler.plan.plan import make_plan
from reconciler.render.json import render_plan_json
from reconciler.render.markdown import render_plan_markdown
from reconciler.render.text import render_plan

GOLDEN = Path(__file__).resolve().parent / "golden"
CASES = ["small-employer.yaml", "social-secretariat"]


@pytest.mark.parametrize("example", CASES)
def test_plan_of_a_new_enterprise(example: str, update_golden: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    desired, problems = load_desired([EXAMPLES.relative_to(ROOT) / example])
    assert problems == []
    plan = make_plan(desired.enterprises, {})
    stem = Path(example).stem
    check_golden(GOLDEN / f"{stem}.txt", render_plan(plan), update_golden)
    check_golden(GOLDEN / f"{stem}.json", render_plan_json(plan), update_golden)
    check_golden(GOLDEN / f"{stem}.md", render_plan_markdown(plan), update_golden)


def test_empty_plan_text() -> None:
    assert render_plan(make_plan({}, {})) == "No changes. The stored state matches the declaration.\n"


@pytest.mark.parametrize("example", CASES)
def test_json_plan_matches_its_schema(example: str) -> None:
    desired, _ = load_desired([EXAMPLES / example])
    document = json.loads(render_plan_json(make_plan(desired.enterprises, {})))
    schema = json.loads((ROOT / "schemas" / "plan.schema.json").read_text())
    assert list(Draft202012Validator(schema).iter_errors(document)) == []
