"""A plan's changes held as runs (``records.changes``): packed by the worker processes, made into
changes a run at a time, and the same sequence, counts and hash however they were put together."""

from __future__ import annotations

import pickle
import random

import pytest

from reconciler.apply.execute import in_steps
from reconciler.plan.plan import Plan
from reconciler.plan.saved import plan_hash
from reconciler.records import changes as changes_module
from reconciler.records.change import STEPS, Action, Change
from reconciler.records.changes import Changes, run_digest
from reconciler.records.state import Address, Kind

SERVICES = (("services", ("dimona", "dmfa")), ("protected", False), ("until", None), ("profiles", ()))


def person(enterprise: str, key: str, action: Action = Action.CREATE) -> Change:
    fields = (("name", f"Person {key}"), ("email", f"{key}@example.be"), ("language", None))
    before, after = (None, fields) if action is Action.CREATE else (fields, None)
    return Change(action, Address(enterprise, Kind.PERSON, "", key), before, after)


def user(enterprise: str, quality: str, key: str, action: Action = Action.CREATE) -> Change:
    before, after = (None, SERVICES) if action is Action.CREATE else (SERVICES, None)
    return Change(action, Address(enterprise, Kind.USER, quality, key), before, after)


def enterprise_changes(number: str, people: int) -> list[Change]:
    """One enterprise's changes in plan order (by step, then quality): removals, people, users."""
    found = [user(number, "employer", "gone", Action.DELETE)]
    found += [person(number, f"{i:011d}") for i in range(people)]
    found += [user(number, "employer", f"{i:011d}") for i in range(0, people, 2)]
    found += [user(number, "social_secretariat", f"{i:011d}") for i in range(1, people, 2)]
    found += [person(number, "gone", Action.DELETE)]
    return sorted(found, key=lambda c: (c.step, c.address.quality))


PLAN = [c for number in ("0200000001", "0200000002", "0200000003") for c in enterprise_changes(number, 5)]


def test_runs_keep_the_changes_in_order_and_count_them() -> None:
    changes = Changes.of(PLAN)
    assert tuple(changes) == tuple(PLAN) and changes == tuple(PLAN) and changes == list(PLAN)
    assert len(changes) == len(PLAN) and bool(changes) and not Changes.of(())
    assert changes[3] == PLAN[3] and changes[2:5] == tuple(PLAN[2:5]) and changes[-1] == PLAN[-1]
    # Runs: consecutive changes of one enterprise, step and quality; none empty.
    for run in changes.runs:
        items = run.items()
        assert run.size == len(items) > 0
        assert {(c.address.enterprise, c.action, c.address.kind, c.address.quality) for c in items} == {
            (run.enterprise, run.action, run.kind, run.quality)
        }
    assert (
        len(changes.runs) == 3 * 5
    )  # per enterprise: a removed user, people, two qualities of users, a removed person
    assert changes.enterprises() == ("0200000001", "0200000002", "0200000003")


def test_packed_runs_hold_bytes_and_give_the_same_changes_counts_and_digests() -> None:
    changes = Changes.of(PLAN)
    packed = changes.packed()
    assert all(isinstance(run.changes, bytes) and run.digest is not None for run in packed.runs)
    assert packed == changes and tuple(packed) == tuple(PLAN)
    assert list(packed.digests()) == list(changes.digests()) == [run_digest(r.items()) for r in changes.runs]
    assert packed.tally() == changes.tally()
    assert packed.packed().runs == packed.runs  # packing again changes nothing
    sent = pickle.loads(pickle.dumps(packed))  # as a part comes back from a worker
    assert sent == changes and [r.changes for r in sent.runs] == [r.changes for r in packed.runs]


def test_the_tally_counts_every_change_once() -> None:
    tally = Changes.of(PLAN).packed().tally()
    expected: dict = {}
    for c in PLAN:
        key = (c.address.enterprise, c.address.quality, c.action, c.address.kind)
        expected[key] = expected.get(key, 0) + 1
    assert dict(tally) == expected
    plan = Plan(Changes.of(PLAN).packed(), ())
    assert plan.counts() == {Action.CREATE: 30, Action.UPDATE: 0, Action.DELETE: 6}
    assert plan.new_accounts() == 15
    assert plan.places()[("0200000002", "employer", Action.CREATE)] == 3
    assert plan.places()[("0200000002", "", Action.CREATE)] == 5


def shape(changes: Changes) -> list[tuple]:
    return [(r.enterprise, r.action, r.kind, r.quality, r.size) for r in changes.runs]


@pytest.mark.parametrize("cut", [1, 2, 7, 16, len(PLAN) - 1])
@pytest.mark.parametrize("packed_side", [0, 1])
def test_the_hash_does_not_depend_on_how_the_changes_were_put_together(cut: int, packed_side: int) -> None:
    """Parts joined (packed or not, cut anywhere, even inside a run) give the runs of the whole,
    so a plan made by worker processes has the hash of the same plan made in one process or read
    from a saved plan."""
    whole = Plan(tuple(PLAN), ())
    parts = [Changes.of(PLAN[:cut]), Changes.of(PLAN[cut:])]
    parts[packed_side] = parts[packed_side].packed()
    joined = Changes.joined(parts)
    assert shape(joined) == shape(whole.changes) and joined == whole.changes
    assert plan_hash(Plan(joined, ())) == plan_hash(whole)


def test_the_hash_follows_every_change() -> None:
    base = plan_hash(Plan(tuple(PLAN), ()))
    edited = list(PLAN)
    edited[4] = person(edited[4].address.enterprise, "99999999999")
    assert plan_hash(Plan(tuple(edited), ())) != base
    assert plan_hash(Plan(tuple(PLAN[:-1]), ())) != base
    swapped = list(PLAN)
    swapped[1], swapped[2] = swapped[2], swapped[1]
    assert plan_hash(Plan(tuple(swapped), ())) != base


def test_batches_of_packed_changes_are_those_of_the_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    from reconciler.apply import execute

    monkeypatch.setattr(execute, "EXECUTED_TOGETHER", 4)
    packed = list(in_steps(Changes.of(PLAN).packed()))
    assert packed == list(in_steps(PLAN))
    assert all(len(batch) <= 4 and len({c.step for c in batch}) == 1 for batch in packed)
    assert STEPS[packed[0][0].step] == (Action.DELETE, Kind.USER)
    # Each enterprise's changes come in the plan's order: the audit trail is the plan's.
    for number in ("0200000001", "0200000002", "0200000003"):
        executed = [c for batch in packed for c in batch if c.address.enterprise == number]
        assert executed == [c for c in PLAN if c.address.enterprise == number]


def test_random_orders_and_cuts_keep_the_sequence() -> None:
    chooser = random.Random(11)
    for _ in range(50):
        changes = list(PLAN)
        chooser.shuffle(changes)  # runs of any length, in any order: a saved plan can say anything
        cuts = sorted(chooser.sample(range(1, len(changes)), 3))
        parts = [changes[a:b] for a, b in zip([0, *cuts], [*cuts, len(changes)], strict=True)]
        joined = Changes.joined([Changes.of(p).packed() if i % 2 else p for i, p in enumerate(parts)])
        assert tuple(joined) == tuple(changes)
        assert list(joined.digests()) == list(Changes.of(changes).digests())
        assert [c for batch in in_steps(joined) for c in batch] == sorted(changes, key=lambda c: c.step)


def test_a_plan_given_any_sequence_holds_changes() -> None:
    for given in (tuple(PLAN), list(PLAN), Changes.of(PLAN).packed()):
        plan = Plan(given, ())
        assert isinstance(plan.changes, Changes) and plan.changes == tuple(PLAN)
    assert Plan((), ()).is_empty and Plan((), ()).counts() == dict.fromkeys(Action, 0)


def test_runs_hold_at_most_run_size_changes_cut_the_same_way_however_joined(monkeypatch: pytest.MonkeyPatch) -> None:
    """Apply makes a run into changes at once: runs are cut ``RUN_SIZE`` changes at a time, from the
    first change of their enterprise, action, kind and quality, whatever parts they were joined from."""
    monkeypatch.setattr(changes_module, "RUN_SIZE", 2)
    whole = Changes.of(PLAN)
    assert max(run.size for run in whole.runs) == 2 and tuple(whole) == tuple(PLAN)
    for cut in range(1, len(PLAN)):
        joined = Changes.joined([Changes.of(PLAN[:cut]).packed(), Changes.of(PLAN[cut:])])
        assert shape(joined) == shape(whole) and list(joined.digests()) == list(whole.digests())
        assert tuple(joined) == tuple(PLAN)
