"""Planning in several processes gives exactly the plan, problems and skips of one process."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.apply.execute import apply_plan
from reconciler.plan import pipeline
from reconciler.plan.document import plan_document
from reconciler.plan.gates import Policy
from reconciler.plan.pipeline import plan_paths
from reconciler.plan.plan import PlanPart
from reconciler.plan.saved import plan_hash
from reconciler.records.change import Action, Change
from reconciler.records.state import Address, Kind
from tests.conftest import ROOT, outside_write


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("registry") / "data"
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "generate.py"), "3000", str(folder), "--seed", "7"],
        check=True,
        capture_output=True,
    )
    return folder


def both(paths: list[Path], store, **options) -> tuple:
    one = plan_paths(paths, store, Policy(1.0), workers=1, **options)
    calls = len(forked)
    two = plan_paths(paths, store, Policy(1.0), workers=2, **options)
    assert len(forked) == calls + 1, "the plan was not made in several processes"
    return one, two


forked: list[int] = []


@pytest.fixture(autouse=True)
def count_forks(monkeypatch: pytest.MonkeyPatch) -> None:
    original = pipeline._in_processes

    def spy(*args, **kwargs):
        forked.append(args[4])
        return original(*args, **kwargs)

    monkeypatch.setattr(pipeline, "_in_processes", spy)


def same(one, two) -> None:
    assert plan_document(one.plan) == plan_document(two.plan)
    assert one.plan == two.plan
    # The workers' changes stay packed, with the digests they made: the hash is the one-process plan's.
    assert all(isinstance(run.changes, bytes) for run in two.plan.changes.runs)
    assert plan_hash(one.plan) == plan_hash(two.plan)
    assert one.problems == two.problems
    assert one.digest == two.digest


def test_parallel_plans_equal_serial_ones(registry: Path, store, store_url: str) -> None:
    one, two = both([registry], store)
    same(one, two)
    assert len(one.plan.changes) > 3000 and not one.problems
    apply_plan(two.plan, store)
    outside_write(
        store_url, "UPDATE users SET services = 'dimona' WHERE ssin IN (SELECT ssin FROM users ORDER BY ssin LIMIT 7)"
    )
    one, two = both([registry], store, full=True)
    same(one, two)
    assert 0 < len(one.plan.changes) <= 7
    one, two = both([registry], store)  # incremental: the untouched enterprises are skipped in both
    same(one, two)
    assert one.plan.skipped and len(one.plan.changes) == len(two.plan.changes)


def test_parallel_problems_equal_serial_ones(registry: Path, store, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    files = sorted(registry.rglob("*.yaml"))
    for index, path in enumerate(files):
        target = broken / path.relative_to(registry)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = path.read_text(encoding="utf-8")
        if index % 5 == 0:
            text = text.replace("services: [", "services: [nonsense, ", 1).replace('ssin: "', 'ssin: "1', 1)
        target.write_text(text, encoding="utf-8")
    one, two = both([broken], store)
    same(one, two)
    assert len(one.problems) > len(files) // 5


def test_tasks_hold_every_file_once_and_pack_only_small_enterprises() -> None:
    groups = [[Path(f"big/{i}.yaml") for i in range(100)]] + [
        [Path(f"e{n}/{i}.yaml") for i in range(n % 3 + 1)] for n in range(200)
    ]
    tasks = pipeline._batches(groups)
    assert [path for task in tasks for path in task] == [path for group in groups for path in group]
    assert tasks[0] == groups[0]  # a large enterprise is a task of its own
    assert all(pipeline.BATCH_FILES - 3 < len(task) <= pipeline.BATCH_FILES for task in tasks[1:-1])
    assert pipeline._batches([]) == []
    two_large = [[Path(f"a/{i}.yaml") for i in range(50)], [Path(f"b/{i}.yaml") for i in range(50)]]
    assert pipeline._batches(two_large) == two_large  # two large enterprises go to both workers


def test_a_part_sent_between_processes_comes_back_equal() -> None:
    """Parts travel with their changes as plain values: every action and kind, with and without
    fields on either side, comes back as the same change of the same types."""
    shared = (("services", ("a", "b")), ("protected", False))
    changes = tuple(
        Change(action, Address("0403170701", kind, "EMPLOYER" if n % 2 else "", f"k{n}"), before, after)
        for n, (action, kind) in enumerate((a, k) for a in Action for k in Kind)
        for before, after in ((None, shared), (shared, None), (shared, shared))
    )
    part = PlanPart("0403170701", changes, 3, (), ("0403170701", 3, "d", (("p", "s"),), None), facts=(("p", "{}"),))
    back = pickle.loads(pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL))
    assert back == part
    assert [type(c.address) for c in back.changes] == [Address] * len(changes)
    assert [(c.action, c.address.kind) for c in back.changes] == [(c.action, c.address.kind) for c in changes]
