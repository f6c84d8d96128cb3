"""A plan is executed step by step over all its enterprises, in batches, and its audit entries are
written many enterprises at a time: the store ends exactly as when each enterprise is applied on
its own, in order, user names included."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.apply import execute
from reconciler.apply.execute import apply_plan, in_steps
from reconciler.plan.gates import Policy
from reconciler.plan.pipeline import plan_paths
from reconciler.records.change import STEPS, Action, Change
from reconciler.records.state import Address, Kind
from reconciler.store.audit import verify
from reconciler.store.backends import open_store
from tests.conftest import ROOT, STORE_KINDS, drop_store, new_store_url


def change(enterprise: str, action: Action, kind: Kind, key: str) -> Change:
    after = None if action is Action.DELETE else (("name", key),)
    before = None if action is Action.CREATE else (("name", key),)
    return Change(action, Address(enterprise, kind, "employer", key), before, after)


def test_batches_follow_the_steps_and_keep_the_plan_order_within_a_step(monkeypatch) -> None:
    monkeypatch.setattr(execute, "EXECUTED_TOGETHER", 3)
    plan = [
        change("0200000001", Action.CREATE, Kind.PERSON, "a"),
        change("0200000001", Action.CREATE, Kind.USER, "a"),
        change("0200000001", Action.DELETE, Kind.PERSON, "z"),
        change("0200000002", Action.DELETE, Kind.USER, "q"),
        change("0200000002", Action.CREATE, Kind.PERSON, "b"),
        change("0200000002", Action.CREATE, Kind.PERSON, "c"),
        change("0200000002", Action.CREATE, Kind.USER, "b"),
        change("0200000003", Action.CREATE, Kind.PERSON, "d"),
        change("0200000003", Action.CREATE, Kind.PERSON, "e"),
    ]
    batches = list(in_steps(plan))
    assert [[(c.address.enterprise, c.address.key) for c in batch] for batch in batches] == [
        [("0200000002", "q")],  # users are removed first
        [("0200000001", "a"), ("0200000002", "b"), ("0200000002", "c")],  # persons created, three at a time
        [("0200000003", "d"), ("0200000003", "e")],
        [("0200000001", "a"), ("0200000002", "b")],  # then users
        [("0200000001", "z")],  # people go last
    ]
    assert all(len({c.step for c in batch}) == 1 for batch in batches)
    steps = [batch[0].step for batch in batches]
    assert steps == sorted(steps)
    assert [STEPS[s] for s in dict.fromkeys(steps)] == [
        (Action.DELETE, Kind.USER),
        (Action.CREATE, Kind.PERSON),
        (Action.CREATE, Kind.USER),
        (Action.DELETE, Kind.PERSON),
    ]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("registry") / "data"
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "generate.py"), "1500", str(folder), "--seed", "11"],
        check=True,
        capture_output=True,
    )
    return folder


def stored(url: str) -> dict:
    """What a store holds of a registry, as rows to compare, and whether its audit trail verifies
    with every stored head at its chain's last entry."""
    store = open_store(url)
    try:
        with store._snapshot():
            tables = {
                "accounts": store._rows(
                    "SELECT enterprise, ssin, username, status FROM accounts ORDER BY enterprise, ssin"
                ),
                "persons": store._rows("SELECT * FROM persons ORDER BY enterprise, ssin"),
                "users": store._rows("SELECT * FROM users ORDER BY enterprise, quality, ssin"),
                "qualities": store._rows("SELECT * FROM qualities ORDER BY enterprise, code"),
                "enterprises": store._rows(
                    "SELECT number, name, version, applied_version, audit_seq FROM enterprises ORDER BY number"
                ),
                "entries": store._rows(
                    "SELECT enterprise, seq, action, address, before, after FROM audit_log ORDER BY enterprise, seq"
                ),
            }
        entries, heads = store.audit_entries(), store.audit_heads()
        tables["heads"] = sorted(heads.items())
        tables["problems"] = verify(entries, heads)
        tables["heads_at_last_entry"] = all(
            heads[number] == (entry.seq, entry.hash)
            for number in heads
            for entry in [max((e for e in entries if e.enterprise == number), key=lambda e: e.seq)]
        )
        return tables
    finally:
        store.close()


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_one_apply_of_many_enterprises_stores_what_applying_each_in_turn_stores(
    kind: str, registry: Path, tmp_path: Path, monkeypatch
) -> None:
    """Batches and audit writes cut across enterprises (small sizes here, so that every cut is
    met): records, user names and audit entries are those of one apply per enterprise."""
    monkeypatch.setattr(execute, "EXECUTED_TOGETHER", 37)
    together, apart = new_store_url(kind, tmp_path), new_store_url(kind, tmp_path)
    try:
        store = open_store(together)
        try:
            whole = plan_paths([registry], store, Policy(1.0), workers=1).plan
            assert len({c.address.enterprise for c in whole.changes}) > 5
            apply_plan(whole, store)
        finally:
            store.close()
        store = open_store(apart)
        try:
            for number in sorted({c.address.enterprise for c in whole.changes}):
                apply_plan(plan_paths([registry], store, Policy(1.0), workers=1, only=frozenset({number})).plan, store)
        finally:
            store.close()
        one, each = stored(together), stored(apart)
        assert one["problems"] == [] and each["problems"] == []
        assert one["heads_at_last_entry"] and each["heads_at_last_entry"]
        for table in ("accounts", "persons", "users", "qualities", "entries"):
            assert one[table] == each[table], table
        assert len({username for _, _, username, _ in one["accounts"]}) == len(one["accounts"])
    finally:
        drop_store(together)
        drop_store(apart)
