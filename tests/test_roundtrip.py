"""Round trips: apply an example, export the store, and the export means exactly the same."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import EXAMPLES

from reconciler.apply.execute import apply_plan
from reconciler.plan.desired import load_desired
from reconciler.plan.plan import make_plan
from reconciler.render.export import export

EXAMPLE_PATHS = sorted(p.name for p in EXAMPLES.iterdir() if p.suffix == ".yaml" or p.is_dir())


@pytest.mark.parametrize("example", EXAMPLE_PATHS)
def test_export_then_plan_gives_no_changes(example: str, store, tmp_path: Path) -> None:
    desired, problems = load_desired([EXAMPLES / example])
    assert problems == []
    apply_plan(make_plan(desired.enterprises, store.read(desired.enterprises)), store)
    written = export(store.read(), tmp_path / "export")
    assert len(written) == 1
    exported, problems = load_desired([tmp_path / "export"])
    assert problems == []
    assert exported.enterprises == desired.enterprises
    assert make_plan(exported.enterprises, store.read(exported.enterprises)).is_empty


def test_examples_cover_what_the_issue_asks_for() -> None:
    desired, _ = load_desired([EXAMPLES])
    qualities = {
        number: sum(1 for a in state.records if a.kind.value == "quality")
        for number, state in desired.enterprises.items()
    }
    users = {
        number: sum(1 for a in state.records if a.kind.value == "user") for number, state in desired.enterprises.items()
    }
    assert qualities == {"0999055557": 1, "0999077729": 3, "0999123457": 6}
    assert users["0999123457"] >= 200
