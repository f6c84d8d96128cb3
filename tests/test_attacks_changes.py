"""Attacks on a plan's changes held as runs (``records.changes.Changes``): runs packed by the worker
processes (pickled bytes, a size and a SHA-256 digest), joined so that run boundaries never depend
on how the plan was put together, the plan's hash made of the runs' digests, apply making the
changes a run at a time with audit entries made per executed batch, and the renderers counting
from the runs' tally.

What must hold: a ``Changes`` is the tuple of its changes for every use a tuple has; the plan's
hash is a function of what the plan does, however its changes were put together (one process,
worker processes, a saved plan file, parts cut anywhere, empty or not in step order) and differs
when the changes differ; a packed run's digest is the digest of its bytes; apply stores exactly
what the same plan held as a tuple stores, and what it stored before for every plan; a failure
anywhere leaves the store as it was; the renderings of a packed plan are those of the tuple; apply
never holds every change of a plan at once.
"""

from __future__ import annotations

import gc
import hashlib
import pickle
import random
import shutil
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path
from typing import Any

import orjson
import pytest

from reconciler.apply import execute
from reconciler.apply.execute import apply_plan, in_steps
from reconciler.plan.document import plan_document
from reconciler.plan.gates import OVERRIDES, Policy
from reconciler.plan.pipeline import plan_paths
from reconciler.plan.plan import Plan, PlanPart
from reconciler.plan.saved import plan_hash, read_plan_file, write_plan_file
from reconciler.records import changes as changes_module
from reconciler.records.change import Action, Change
from reconciler.records.changes import Changes, Run, run_digest
from reconciler.records.state import Address, Kind
from reconciler.render.json import render_plan_json
from reconciler.render.markdown import render_plan_markdown
from reconciler.render.text import plan_chunks, summary, summary_chunks
from reconciler.store import chain
from reconciler.store.backends import open_store
from tests.conftest import EXAMPLES, STORE_KINDS, drop_store, new_store_url, outside_write
from tests.test_apply_batches import stored

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
SMALL = "0999055557"
SECRETARIAT = "0999077729"
JAN = "58022754967"
FATIMA = "61061906014"
EVERY_OVERRIDE = frozenset(OVERRIDES)


# --- Helpers -----------------------------------------------------------------------------------------

ODD_VALUES = (
    None,
    "",
    "é\u202e\x00\x1b",
    "Ünïcødé ✓",
    0,
    -1,
    2**62,
    1.5,
    True,
    False,
    ("a", "b"),
    (),
)


def change(enterprise: str, action: Action, kind: Kind, quality: str, key: str, value: Any = "x") -> Change:
    fields = (("name", value), ("email", f"{key}@example.be"))
    before = None if action is Action.CREATE else fields
    after = None if action is Action.DELETE else (("name", "after"), ("email", value))
    return Change(action, Address(enterprise, kind, quality, key), before, after)


def synthetic(seed: int = 0, enterprises: int = 4, per: int = 6) -> list[Change]:
    """Changes of several enterprises, actions, kinds and qualities, with odd values, in step order."""
    chooser = random.Random(seed)
    found = []
    for e in range(enterprises):
        number = f"02000000{e:02d}"
        found.append(change(number, Action.CREATE, Kind.ENTERPRISE, "", ""))
        for i in range(per):
            value = chooser.choice(ODD_VALUES)
            found.append(change(number, Action.CREATE, Kind.PERSON, "", f"p{i:03d}", value))
            found.append(change(number, Action.UPDATE, Kind.PERSON, "", f"q{i:03d}", value))
            quality = chooser.choice(("employer", "social_secretariat", "x\u202e"))
            found.append(change(number, Action.CREATE, Kind.USER, quality, f"u{i:03d}", value))
            found.append(change(number, Action.DELETE, Kind.USER, "employer", f"d{i:03d}", value))
        found.append(change(number, Action.DELETE, Kind.PERSON, "", "gone"))
    return sorted(found, key=lambda c: (c.address.enterprise, c.step, c.address.quality, c.address.key))


def shape(changes: Changes) -> list[tuple]:
    return [(r.enterprise, r.action, r.kind, r.quality, r.size) for r in changes.runs]


def cut(changes: list[Change], chooser: random.Random, pieces: int) -> list[list[Change]]:
    """``changes`` cut anywhere into ``pieces`` parts, empty ones among them."""
    cuts = sorted(chooser.choice(range(len(changes) + 1)) for _ in range(pieces - 1))
    return [changes[a:b] for a, b in zip([0, *cuts], [*cuts, len(changes)], strict=True)]


def sent(part: Iterable[Change], protocol: int = pickle.HIGHEST_PROTOCOL) -> Changes:
    """A part's changes as they come back from a worker process (``PlanPart.__reduce__``)."""
    number = "0200000000"
    back = pickle.loads(pickle.dumps(PlanPart(number, tuple(part), None, (), None), protocol=protocol))
    assert isinstance(back.changes, Changes)
    return back.changes


def as_workers_send(plan: Plan) -> Plan:
    """The same plan, its changes as worker processes send them back: cut where the enterprise
    changes, each piece packed and pickled, then joined as ``combine`` joins parts."""
    pieces = [tuple(group) for _, group in groupby(plan.changes, key=lambda c: c.address.enterprise)]
    return replace(plan, changes=Changes.joined(sent(piece) for piece in pieces))


def old_in_steps(changes: Iterable[Change], size: int) -> list[list[Change]]:
    """The batches apply executed before changes were held as runs: by step, plan order kept within."""
    steps: dict[int, list[Change]] = {}
    for item in changes:
        steps.setdefault(item.step, []).append(item)
    return [steps[s][i : i + size] for s in sorted(steps) for i in range(0, len(steps[s]), size)]


def old_hash(plan: Plan) -> str:
    """The plan's hash by its definition: the header, then each run's digest (each change as
    (action, address, before, after), all as one JSON list), the runs being the longest stretches
    of one enterprise, action, kind and quality, cut every ``RUN_SIZE`` changes."""
    header = orjson.dumps(
        [
            plan.versions,
            [tuple(r.__dict__.values()) for r in plan.refusals],
            plan.actor,
            plan.sync,
            [(d.address, d.applied, d.found) for d in plan.drift],
        ]
    )
    hasher = hashlib.sha256(header)
    key = lambda c: (c.address.enterprise, c.action, c.address.kind, c.address.quality)  # noqa: E731
    for _, group in groupby(list(plan.changes), key=key):
        found = list(group)
        for start in range(0, len(found), changes_module.RUN_SIZE):  # runs of at most RUN_SIZE changes
            rows = [
                (c.action.value, str(c.address), c.before, c.after)
                for c in found[start : start + changes_module.RUN_SIZE]
            ]
            hasher.update(hashlib.sha256(orjson.dumps(rows)).digest())
    return hasher.hexdigest()


def live_changes() -> int:
    """How many change objects this process holds now."""
    return sum(1 for o in gc.get_objects() if type(o) is Change)


class Peak:
    """The most change objects alive as each run is made into changes (``Run.items``).

    Counting walks every object (``gc.get_objects``), and so holds a reference to each for a
    moment: were it to hold the last one of a cursor the write-behind thread has just let go of,
    the cursor would be closed by this thread while that one uses the connection (SQLite calls
    that misuse).  So with a ``store`` given, it counts only once that thread has run what it was
    handed, as every other use of the connection does.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, store: Any = None):
        self.calls = 0
        self.peak = 0
        self.base = 0
        real = changes_module.unpacked_run

        def counting(run):
            made = real(run)
            self.calls += 1
            if store is not None and store._behind is not None:
                store._behind.settle()
            self.peak = max(self.peak, live_changes() - self.base)
            return made

        monkeypatch.setattr(changes_module, "unpacked_run", counting)

    def start(self) -> None:
        gc.collect()
        self.base = live_changes()
        self.peak = 0
        self.calls = 0


def registry_of(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "registry"
    folder.mkdir(exist_ok=True)
    for name in names:
        source = EXAMPLES / name
        if source.is_dir():
            shutil.copytree(source, folder / name)
        else:
            shutil.copy(source, folder / name)
    return folder


def plan_of(store: Any, folder: Path, workers: int, to_apply: bool = True) -> Plan:
    """The plan of ``folder``; ``to_apply`` as apply asks for it (the workers make the runs' digests)."""
    return plan_paths([folder], store, Policy(1.0), workers=workers, keep_facts=to_apply).plan


def is_packed(plan: Plan) -> bool:
    return bool(plan.changes.runs) and all(isinstance(run.changes, bytes) for run in plan.changes.runs)


def renderings(plan: Plan) -> dict[str, Any]:
    return {
        "text": "".join(plan_chunks(plan)),
        "color": "".join(plan_chunks(plan, color=True)),
        "summary": "".join(summary_chunks(plan)),
        "summary line": summary(plan),
        "markdown": render_plan_markdown(plan),
        "markdown 1000": render_plan_markdown(plan, 1000, "plan.json"),
        "markdown 4000": render_plan_markdown(plan, 4000),
        "json": render_plan_json(plan),
        "document": plan_document(plan),
        "counts": plan.counts(),
        "enterprises": plan.enterprises(),
        "new accounts": plan.new_accounts(),
    }


# --- A Changes is the tuple of its changes ------------------------------------------------------------

PLAN = synthetic()


def _shapes() -> dict[str, tuple[tuple[Change, ...], Changes]]:
    chooser = random.Random(5)
    shuffled = list(PLAN)
    chooser.shuffle(shuffled)
    pieces = cut(shuffled, chooser, 6)
    return {
        "empty": ((), Changes.of(())),
        "empty, packed": ((), Changes.of(()).packed()),
        "empty parts joined": ((), Changes.joined([(), [], Changes.of(()).packed(), iter(())])),
        "one change": ((PLAN[0],), Changes.of(PLAN[:1])),
        "one change, sent": ((PLAN[0],), sent(PLAN[:1])),
        "the plan": (tuple(PLAN), Changes.of(PLAN)),
        "the plan, packed": (tuple(PLAN), Changes.of(PLAN).packed()),
        "the plan, sent with protocol 2": (tuple(PLAN), sent(PLAN, 2)),
        "shuffled, cut and joined": (
            tuple(shuffled),
            Changes.joined(sent(p) if i % 2 else p for i, p in enumerate(pieces)),
        ),
    }


SHAPES = _shapes()


@pytest.mark.parametrize("name", list(SHAPES), ids=list(SHAPES))
def test_changes_answer_every_sequence_question_as_the_tuple_does(name: str) -> None:
    """Attacked: length, truth, iteration, indexes (negative and out of range), slices of every
    kind (negative steps, out of range, step 0), ``in``, ``count``, ``index``, ``reversed``, for
    empty, packed, sent and joined ``Changes``. Must hold: each answer (or error) is the tuple's."""
    expected, held = SHAPES[name]
    n = len(expected)
    assert len(held) == n and bool(held) == bool(expected)
    assert list(held) == list(expected) and list(held) == list(expected)  # iterated twice: nothing used up
    for index in range(-n - 3, n + 3):
        if -n <= index < n:
            assert held[index] == expected[index], index
        else:
            with pytest.raises(IndexError):
                held[index]
    bounds = (None, -100, -n - 1, -3, -1, 0, 1, 2, n - 1, n, n + 5)
    for start in bounds:
        for stop in bounds:
            for step in (None, 1, 2, 3, -1, -2):
                piece = slice(start, stop, step)
                assert held[piece] == expected[piece] and type(held[piece]) is tuple, piece
    with pytest.raises(ValueError):
        held[::0]
    with pytest.raises(TypeError):
        held["0"]  # type: ignore[index]
    assert list(reversed(held)) == list(reversed(expected))
    for item in expected[:3] + expected[-2:]:
        assert item in held and held.count(item) == expected.count(item) and held.index(item) == expected.index(item)
    stranger = change("0299999999", Action.CREATE, Kind.PERSON, "", "nobody")
    assert stranger not in held and held.count(stranger) == 0
    with pytest.raises(ValueError):
        held.index(stranger)


@pytest.mark.parametrize("name", list(SHAPES), ids=list(SHAPES))
def test_changes_compare_and_hash_as_the_tuple_does(name: str) -> None:
    """Attacked: ``==``/``!=``/``hash`` against the tuple (both ways), ``Changes`` of another
    representation, shorter and reordered sequences, and values of other types. Must hold: equal
    exactly when the tuple is equal, the same hash as the tuple, and no error for any other type.
    (A list of the same changes compares equal, where a tuple would not: that is meant, and the
    comparison is the same both ways.)"""
    expected, held = SHAPES[name]
    assert held == expected and expected == held and (held != expected) is False and (expected != held) is False
    assert hash(held) == hash(expected) == hash(Changes.of(expected)) == hash(Changes.of(expected).packed())
    assert held == Changes.of(expected) == Changes.of(expected).packed() == Changes.of(list(expected))
    assert held == list(expected) and list(expected) == held  # the same both ways
    if expected:
        assert held != expected[:-1] and expected[:-1] != held and held != Changes.of(expected[1:])
        assert held != (*expected, expected[0]) and held != Changes.of((*expected, expected[0])).packed()
        if tuple(reversed(expected)) != expected:
            assert held != tuple(reversed(expected)) and held != Changes.of(reversed(expected)).packed()
    others: list[Any] = [None, 0, 1, "", "changes", b"", set(), frozenset(expected), {}, object(), range(0)]
    others += [deque(expected), iter(expected), Counter(expected), len(expected)]
    for other in others:
        assert (held == other) == (expected == other), other
        assert (held != other) == (expected != other), other
        assert (other == held) == (other == expected), other


def test_a_packed_runs_digest_is_the_digest_of_its_bytes() -> None:
    """Attacked: runs packed with odd values (control and format characters, NUL, big ints, floats,
    booleans, nested tuples), sent under every pickle protocol, packed twice, and merged by
    ``joined`` with unpacked neighbours. Must hold: every run's digest is ``run_digest`` of the
    changes its bytes give back, its size is their number, and they are the changes packed."""
    for seed in range(6):
        changes = synthetic(seed)
        for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
            back = sent(changes, protocol)
            assert tuple(back) == tuple(changes)
            for run in back.runs + back.packed().runs:
                assert isinstance(run.changes, bytes)
                made = run.items()
                assert run.digest == run_digest(made) and run.size == len(made) > 0
                assert {(c.address.enterprise, c.action, c.address.kind, c.address.quality) for c in made} == {run[:4]}
        chooser = random.Random(seed)
        joined = Changes.joined(sent(p) if chooser.random() < 0.5 else p for p in cut(changes, chooser, 7))
        for run in joined.runs:
            assert run.hashed() == run_digest(run.items()) and run.size == len(run.items())


# --- The plan's hash -----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
def test_the_hash_is_the_same_however_the_changes_were_put_together(seed: int) -> None:
    """Attacked: the same changes (in step order, or shuffled as a hostile saved plan may hold them)
    cut anywhere into parts (empty ones among them), each part held as a tuple, a list, a
    generator, packed, or sent under any pickle protocol, then joined; and given to ``Plan`` as a
    tuple, a list or a packed ``Changes``. Must hold: the same runs, the same changes and the same
    hash every way, equal to the hash by its definition."""
    chooser = random.Random(seed)
    changes = synthetic(seed, enterprises=chooser.randint(1, 4), per=chooser.randint(1, 5))
    if seed % 2:
        chooser.shuffle(changes)
    reference = Plan(tuple(changes), (("0200000000", 3),), actor="someone")
    expected = plan_hash(reference)
    assert expected == old_hash(reference)
    ways: list[Callable[[list[Change]], Iterable[Change]]] = [
        tuple,
        list,
        lambda p: (c for c in p),
        lambda p: Changes.of(p).packed(),
        lambda p: sent(p, chooser.randint(2, pickle.HIGHEST_PROTOCOL)),
        lambda p: Changes.joined([Changes.of(p[:1]).packed(), p[1:]]),
    ]
    for _ in range(8):
        pieces = cut(changes, chooser, chooser.randint(1, 9))
        joined = Changes.joined(chooser.choice(ways)(piece) for piece in pieces)
        assert joined == changes and shape(joined) == shape(Changes.of(changes))
        assert all(run.size > 0 for run in joined.runs)
        assert plan_hash(replace(reference, changes=joined)) == expected
    for given in (list(changes), Changes.of(changes).packed(), sent(changes)):
        assert plan_hash(replace(reference, changes=given)) == expected


def test_the_hash_of_an_empty_plan_does_not_depend_on_its_empty_parts() -> None:
    """Attacked: an empty plan made of nothing, of empty parts, of packed empty parts and of an
    empty part sent back by a worker. Must hold: one hash, that of the header alone."""
    empties = [(), Changes.joined([]), Changes.joined([(), [], Changes.of(()).packed()]), sent(())]
    hashes = {plan_hash(Plan(given, ())) for given in empties}
    assert hashes == {plan_hash(Plan((), ()))} == {old_hash(Plan((), ()))}


@pytest.mark.parametrize("seed", range(4))
def test_different_changes_give_different_hashes(seed: int) -> None:
    """Attacked: one change edited, dropped, repeated, moved to another place (within its run and
    across runs), two neighbouring changes swapped, a change moved to another quality or kind, and
    a change split from its run by a change of another enterprise. Must hold: each gives another
    hash, packed or not."""
    chooser = random.Random(seed)
    changes = synthetic(seed, enterprises=3, per=4)
    base = plan_hash(Plan(tuple(changes), ()))
    variants: list[list[Change]] = []
    i = chooser.randrange(1, len(changes) - 1)
    edited = list(changes)
    target = edited[i]
    edited[i] = Change(target.action, target.address, target.before, (("name", "other"), ("email", None)))
    variants.append(edited)
    variants.append(changes[:i] + changes[i + 1 :])
    variants.append(changes[: i + 1] + changes[i:])
    for j in range(len(changes) - 1):
        if changes[j] != changes[j + 1]:
            swapped = list(changes)
            swapped[j], swapped[j + 1] = swapped[j + 1], swapped[j]
            variants.append(swapped)
    moved = list(changes)
    moved.append(moved.pop(i))
    variants.append(moved)
    requalified = list(changes)
    a_change = requalified[i]
    a = a_change.address
    requalified[i] = Change(a_change.action, a._replace(quality=a.quality + "x"), a_change.before, a_change.after)
    variants.append(requalified)
    rekinded = list(changes)
    other_kind = Kind.SENDER if a.kind is not Kind.SENDER else Kind.ROUTE
    rekinded[i] = Change(a_change.action, a._replace(kind=other_kind), a_change.before, a_change.after)
    variants.append(rekinded)
    intruder = change("0299999999", Action.CREATE, Kind.PERSON, "", "x")
    variants.append([*changes[:i], intruder, *changes[i:]])
    hashes: dict[tuple[Change, ...], str] = {tuple(changes): base}
    for variant in variants:
        assert variant != changes
        one = plan_hash(Plan(tuple(variant), ()))
        assert one == plan_hash(Plan(Changes.of(variant).packed(), ())) == old_hash(Plan(tuple(variant), ()))
        hashes[tuple(variant)] = one
    assert len(set(hashes.values())) == len(hashes)  # as many hashes as different plans


def test_equal_plans_have_equal_hashes_whatever_runs_hold_their_changes() -> None:
    """Regression (latent): two equal plans got different hashes.

    ``Changes`` accepted any runs (``Changes(runs)``); ``==`` compares the changes alone, but the
    plan's hash is made of one digest per run, so the same changes held in a run cut in two, or
    with an empty run beside them, gave a plan equal to the plan of the tuple with another hash
    (no command made such runs). Fixed: every ``Changes`` cuts its runs the same way when it is
    made. Must hold: equal plans, equal hashes.
    """
    whole = Changes.of(PLAN)
    index = next(i for i, run in enumerate(whole.runs) if run.size > 1)
    run = whole.runs[index]
    items = run.items()
    halves = [Run(*run[:4], 1, None, items[:1]), Run(*run[:4], len(items) - 1, None, items[1:])]
    split = Changes([*whole.runs[:index], *halves, *whole.runs[index + 1 :]])
    padded = Changes([*whole.runs, Run(SMALL, Action.CREATE, Kind.PERSON, "", 0, None, ())])
    for other in (split, padded):
        assert other == whole and Plan(other, ()) == Plan(whole, ())
        assert plan_hash(Plan(other, ())) == plan_hash(Plan(whole, ()))


def test_a_plan_planned_by_workers_read_back_from_a_file_or_shuffled_has_the_hash_of_its_changes(
    tmp_path: Path,
) -> None:
    """Attacked: the examples planned in one process and in two worker processes, each saved and
    read back from a plan file; the same plan with its changes shuffled (a hostile saved plan),
    saved and read back, held packed. Must hold: the same plan has one hash every way, equal to the
    hash by its definition; the shuffled plan hashes as its own changes do, and not as the plan."""
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        one, two = plan_of(store, EXAMPLES, 1), plan_of(store, EXAMPLES, 2)
        assert is_packed(two) and not is_packed(one)
        for run in two.changes.runs:  # the workers' digests are those of their bytes
            assert run.digest == run_digest(run.items())
        # A plan that is not to be applied is sent without digests; its hash, made anyway, is the same.
        three = plan_of(store, EXAMPLES, 2, to_apply=False)
        assert all(run.digest is None for run in three.changes.runs) and plan_hash(three) == plan_hash(two)
        identity = store.identity()
        expected = plan_hash(one)
        assert plan_hash(two) == expected == old_hash(one) and shape(one.changes) == shape(two.changes)
        for n, plan in enumerate((one, two)):
            path = tmp_path / f"plan-{n}.json"
            write_plan_file(path, plan, "digest", identity, now=NOW)
            back = read_plan_file(path).plan
            assert back.changes == one.changes and plan_hash(back) == expected
        shuffled = list(one.changes)
        random.Random(3).shuffle(shuffled)
        hostile = replace(one, changes=shuffled)
        path = tmp_path / "hostile.json"
        write_plan_file(path, hostile, "digest", identity, now=NOW)
        back = read_plan_file(path).plan
        assert list(back.changes) == shuffled
        assert plan_hash(back) == plan_hash(hostile) == plan_hash(as_workers_send(hostile)) == old_hash(hostile)
        assert plan_hash(back) != expected
    finally:
        store.close()


# --- Counts and renderings --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_places_counts_and_new_accounts_are_those_counted_change_by_change(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attacked: the tally of runs for plans in step order and shuffled (enterprises and qualities
    interleaved, runs of one key met several times), held as a tuple or packed. Must hold:
    ``places`` has the counts, in the order first met, that counting each change gives (the order
    the text summary lists its lines in), ``counts`` and ``new_accounts`` likewise; the batches
    apply executes are those it executed before."""
    chooser = random.Random(seed)
    changes = synthetic(seed, enterprises=3, per=4)
    if seed:
        chooser.shuffle(changes)
    counted = Counter((c.address.enterprise, c.address.quality, c.action) for c in changes)
    accounts = sum(1 for c in changes if c.action is Action.CREATE and c.address.kind is Kind.PERSON)
    actions = Counter(c.action for c in changes)
    for plan in (Plan(tuple(changes), ()), as_workers_send(Plan(tuple(changes), ()))):
        assert list(plan.places().items()) == list(counted.items())
        assert plan.new_accounts() == accounts
        assert plan.counts() == {action: actions.get(action, 0) for action in Action}
        assert plan.enterprises() == tuple(dict.fromkeys(c.address.enterprise for c in changes))
        for size in (1, 2, 5, 1000):
            monkeypatch.setattr(execute, "EXECUTED_TOGETHER", size)
            assert list(in_steps(plan.changes)) == old_in_steps(changes, size)


def test_a_packed_plan_renders_as_the_plan_held_as_a_tuple(tmp_path: Path) -> None:
    """Attacked: the examples planned in one process and by worker processes (packed), and the same
    plan shuffled and held as a tuple or packed. Must hold: text (plain and in colour), summary,
    markdown at several limits, JSON, the plan document, counts, enterprises and new accounts are
    the same for the packed plan as for the tuple."""
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        one, two = plan_of(store, EXAMPLES, 1), plan_of(store, EXAMPLES, 2)
    finally:
        store.close()
    assert is_packed(two)
    assert renderings(two) == renderings(one)
    shuffled = list(one.changes)
    random.Random(7).shuffle(shuffled)
    hostile = replace(one, changes=tuple(shuffled))
    assert renderings(as_workers_send(hostile)) == renderings(hostile)


# --- Apply -------------------------------------------------------------------------------------------


def _drift(url: str) -> None:
    """Records of both enterprises written by hand (outside reconciler)."""
    outside_write(url, f"UPDATE persons SET email = 'jan@elsewhere.example' WHERE ssin = '{JAN}'")
    outside_write(
        url,
        f"UPDATE persons SET email = 'sofie@elsewhere.example' WHERE enterprise = '{SECRETARIAT}' "
        "AND ssin = '87040208957'",
    )


def _edit_declaration(registry: Path) -> None:
    """The hand-written values declared (adopted at apply), a user and person removed, the small
    employer renamed, and a new enterprise declared."""
    small = registry / "small-employer.yaml"
    text = small.read_text().replace("jan@goudenkorst.example", "jan@elsewhere.example")
    text = text[: text.index(f'      - ssin: "{FATIMA}"')].replace("Bakkerij De Gouden Korst", "Bakkerij Zilver")
    small.write_text(text)
    for declared in (registry / "social-secretariat").glob("*.yaml"):
        declared.write_text(declared.read_text().replace("sofie.claes@ssdv.example", "sofie@elsewhere.example"))
    shutil.copytree(EXAMPLES / "large-employer", registry / "large-employer")


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_a_plan_from_worker_processes_stores_what_the_plan_made_in_one_process_stores(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attacked: two rounds of applies, each planned in one process on one store and by two worker
    processes (packed runs) on another, batches cut at 7 changes: a first apply of two enterprises,
    then one that adopts drift (in an enterprise it changes and in one it does not), removes a
    user and a person, updates, and creates a third enterprise. Must hold: the same plan hash; the
    same records, user names, audit entries in the same order per enterprise, chain heads,
    versions; every chain verifies with its head at its last entry; the renderings agree."""
    monkeypatch.setattr(execute, "EXECUTED_TOGETHER", 7)
    registry = registry_of(tmp_path, "small-employer.yaml", "social-secretariat")
    urls = {workers: new_store_url(kind, tmp_path) for workers in (1, 2)}
    try:
        for round_, overrides in (("run-1", frozenset()), ("run-2", EVERY_OVERRIDE)):
            plans = {}
            if round_ == "run-2":
                for url in urls.values():
                    _drift(url)
                _edit_declaration(registry)
            for workers, url in urls.items():
                store = open_store(url)
                try:
                    plans[workers] = plan_of(store, registry, workers)
                    apply_plan(plans[workers], store, now=NOW, run=round_, overrides=overrides)
                finally:
                    store.close()
            assert is_packed(plans[2]) and not is_packed(plans[1])
            assert plan_hash(plans[1]) == plan_hash(plans[2])
            assert renderings(plans[1]) == renderings(plans[2])
        assert {d.enterprise for d in plans[2].drift} == {SMALL, SECRETARIAT}
        assert Action.DELETE in {c.action for c in plans[2].changes}
        assert any(c.address.kind is Kind.ENTERPRISE and c.action is Action.CREATE for c in plans[2].changes)
        one, two = stored(urls[1]), stored(urls[2])
        assert one["problems"] == [] and one["heads_at_last_entry"]
        assert one == two
        assert [e[2] for e in one["entries"] if e[0] == SECRETARIAT][-1] == "adopt"
    finally:
        for url in urls.values():
            drop_store(url)


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_the_audit_trail_of_a_plan_not_in_step_order_follows_the_execution_order(kind: str, tmp_path: Path) -> None:
    """Defence: a saved plan whose changes of one enterprise are not in step order (``apply FILE``
    accepts any order: a plan file without a key can be rewritten) is executed step by step, as
    every plan is, and its audit trail records the changes in the order they were executed, each
    entry carrying the hash of the plan as listed.  (Before audit entries were made with each
    executed batch, they followed the plan's listed order; for the plans ``plan`` makes, whose
    changes of an enterprise are in step order, both orders are the same.)  Here the small
    employer's plan is applied reversed: its trail begins with the changes executed first.
    """
    url = new_store_url(kind, tmp_path)
    try:
        store = open_store(url)
        try:
            plan = plan_of(store, registry_of(tmp_path, "small-employer.yaml"), 1)
            backwards = replace(plan, changes=tuple(reversed(tuple(plan.changes))))
            steps = [c.step for c in backwards.changes]
            assert steps != sorted(steps)
            apply_plan(backwards, store, now=NOW)
        finally:
            store.close()
        entries = stored(url)
        assert entries["problems"] == []
        trail = [address for number, _, _, address, _, _ in entries["entries"] if number == SMALL]
        executed = [c for batch in in_steps(backwards.changes) for c in batch]
        assert trail == [str(c.address) for c in executed if c.address.enterprise == SMALL]
        assert trail != [str(c.address) for c in backwards.changes if c.address.enterprise == SMALL]
    finally:
        drop_store(url)


FAILURES = {
    "interrupted while the 12th run is made into changes": ("decode", 12, KeyboardInterrupt),
    "a run's bytes do not unpickle": ("decode", 20, pickle.UnpicklingError),
    "interrupted while the 3rd batch's audit entries are made": ("audit", 3, KeyboardInterrupt),
    "an error while the 5th batch's audit entries are made": ("audit", 5, RuntimeError),
}


@pytest.mark.parametrize("failure", list(FAILURES), ids=list(FAILURES))
@pytest.mark.parametrize("kind", STORE_KINDS)
def test_a_packed_apply_that_fails_midway_leaves_the_store_as_it_was(
    kind: str, failure: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attacked: a packed plan (two worker processes) onboarding two enterprises and changing a
    third already stored, batches of 7, failing after batches and audit entries were handed to the
    store: as a run is made into changes (Ctrl-C, bytes that do not unpickle) or as a batch's audit
    entries are made (Ctrl-C, an error). Must hold: the store is exactly as it was (rows, audit
    entries, runs, heads); the same plan then applies and the store is exactly the one an apply
    that never failed leaves."""
    monkeypatch.setattr(execute, "EXECUTED_TOGETHER", 7)
    where, nth, error = FAILURES[failure]
    registry = registry_of(tmp_path, "small-employer.yaml")
    urls = [new_store_url(kind, tmp_path), new_store_url(kind, tmp_path)]
    try:
        for url in urls:
            store = open_store(url)
            try:
                apply_plan(plan_of(store, registry, 1), store, now=NOW, run="run-1")
            finally:
                store.close()
        small = registry / "small-employer.yaml"
        small.write_text(small.read_text().replace("services: [dimona, dmfa]", "services: [dimona]"))
        shutil.copytree(EXAMPLES / "social-secretariat", registry / "social-secretariat")
        shutil.copytree(EXAMPLES / "large-employer", registry / "large-employer")
        failing, reference = urls
        store = open_store(failing)
        try:
            plan = plan_of(store, registry, 2)
            assert is_packed(plan) and len(plan.changes.runs) > nth
            before, heads = store.dump(), store.audit_heads()
            calls = {"n": 0}

            def broken_at(real: Any) -> Any:
                def wrapped(argument: Any) -> Any:
                    calls["n"] += 1
                    if calls["n"] == nth:
                        raise error("failed here")
                    return real(argument)

                return wrapped

            if where == "decode":
                monkeypatch.setattr(changes_module, "unpacked_run", broken_at(changes_module.unpacked_run))
            else:
                monkeypatch.setattr(chain, "change_events", broken_at(chain.change_events))
            with pytest.raises(error):
                apply_plan(plan, store, now=NOW, run="run-2")
            assert calls["n"] == nth
            assert store.dump() == before and store.audit_heads() == heads
            monkeypatch.undo()
            monkeypatch.setattr(execute, "EXECUTED_TOGETHER", 7)
            apply_plan(plan, store, now=NOW, run="run-2")
        finally:
            store.close()
        store = open_store(reference)
        try:
            apply_plan(plan_of(store, registry, 1), store, now=NOW, run="run-2")
        finally:
            store.close()
        after, expected = stored(failing), stored(reference)
        assert after["problems"] == [] and after["heads_at_last_entry"]
        assert after == expected
    finally:
        for url in urls:
            drop_store(url)


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_a_change_that_is_no_step_fails_the_apply_before_anything_is_written(kind: str, tmp_path: Path) -> None:
    """Attacked: a plan (as a hostile saved plan may hold it) that also removes an enterprise, which
    is no step of ``STEPS``, after changes that are steps, packed or not. Must hold: the apply
    fails (as it did before, with KeyError) and the store, its audit trail and heads are exactly
    as they were."""
    url = new_store_url(kind, tmp_path)
    try:
        registry = registry_of(tmp_path, "small-employer.yaml")
        store = open_store(url)
        try:
            apply_plan(plan_of(store, registry, 1), store, now=NOW)
            small = registry / "small-employer.yaml"
            small.write_text(small.read_text().replace("services: [dimona, dmfa]", "services: [dimona]"))
            plan = plan_of(store, registry, 1)
            assert plan.changes
            removal = Change(Action.DELETE, Address(SMALL, Kind.ENTERPRISE), (("name", "x"),), None)
            hostile = replace(plan, changes=(*plan.changes, removal))
            before, heads = store.dump(), store.audit_heads()
            for given in (hostile, as_workers_send(hostile)):
                with pytest.raises(KeyError):
                    apply_plan(given, store, now=NOW)
                assert store.dump() == before and store.audit_heads() == heads
        finally:
            store.close()
    finally:
        drop_store(url)


# --- Memory --------------------------------------------------------------------------------------


def _forbid_whole_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    """Indexing, comparing or hashing a ``Changes`` makes every change of it at once."""

    def refused(*_: Any) -> Any:
        raise AssertionError("the whole plan was made into changes at once")

    for name in ("__getitem__", "__eq__", "__hash__"):
        monkeypatch.setattr(Changes, name, refused)


def test_apply_makes_each_run_into_changes_once_and_never_holds_the_whole_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attacked: a first apply of the examples from a packed plan (worker processes), batches of 7,
    every change object counted as each run is made into changes. Must hold: each run is made into
    changes exactly once; nothing indexes, compares or hashes the plan's changes; apply never holds
    more change objects than a run and a few batches (never the whole plan)."""
    monkeypatch.setattr(execute, "EXECUTED_TOGETHER", 7)
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        plan = plan_of(store, EXAMPLES, 2)
        assert is_packed(plan)
        largest = max(run.size for run in plan.changes.runs)
        assert largest + 8 * 7 < len(plan.changes)
        peak = Peak(monkeypatch, store)
        _forbid_whole_plan(monkeypatch)
        peak.start()
        apply_plan(plan, store, now=NOW)
        assert peak.calls == len(plan.changes.runs)
        assert peak.peak <= largest + 8 * 7, (peak.peak, len(plan.changes))
    finally:
        store.close()
    assert stored(f"sqlite:///{tmp_path / 'state.db'}")["problems"] == []


def test_apply_holds_one_run_and_one_batch_of_changes_not_a_whole_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (memory, low): apply held every change of one enterprise, action, kind and
    quality at once, as they were one run, unpickled whole before ``in_steps`` sliced it into
    batches: the large employer's 437 users with batches of 7, an enterprise's million users in a
    first apply.  Fixed: runs hold at most ``RUN_SIZE`` changes (cut the same way however the plan
    was put together).  Must hold: at most a run and a batch of change objects at once.
    """
    monkeypatch.setattr(changes_module, "RUN_SIZE", 7)
    monkeypatch.setattr(execute, "EXECUTED_TOGETHER", 7)
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        plan = plan_of(store, EXAMPLES, 2)
        assert max(run.size for run in plan.changes.runs) == 7 and len(plan.changes) > 8 * 7
        peak = Peak(monkeypatch, store)
        peak.start()
        apply_plan(plan, store, now=NOW)
        assert peak.peak <= 8 * 7, f"{peak.peak} change objects held at once, batches of 7"
    finally:
        store.close()


def test_apply_reviewed_compares_the_plans_without_making_every_change_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (memory): ``apply --reviewed`` made every change of the packed plan at once.

    ``apply PATH --reviewed FILE`` checks that the plan made now is the one reviewed with
    ``plan.changes != reviewed.plan.changes`` (``as_reviewed``, reconciler/cli/planning.py line
    186). ``Changes.__eq__`` compared ``tuple(self) == tuple(other)``: the plan the workers packed
    was made into change objects all at once, and held while the reviewed plan's were, which is
    what packing is there to avoid. Fixed: changes are compared one by one as the runs are made.

    Must hold: the comparison holds at most a run of the packed plan's changes at a time.
    """
    from reconciler.cli.planning import as_reviewed

    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        plan = plan_of(store, EXAMPLES, 2)
        assert is_packed(plan)
        path = tmp_path / "reviewed.json"
        write_plan_file(path, plan_of(store, EXAMPLES, 1), "digest", store.identity(), now=NOW)
        reviewed = read_plan_file(path, verify=False)
        largest = max(run.size for run in plan.changes.runs)
        peak = Peak(monkeypatch)
        peak.start()
        as_reviewed(plan, reviewed, store)  # the same plan: nothing to say
        # A run, and the one change of the run before still being compared.
        assert peak.peak <= largest + 1, f"{peak.peak} of {len(plan.changes)} changes made at once"
    finally:
        store.close()
