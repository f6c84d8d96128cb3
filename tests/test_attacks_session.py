"""Attacks on the speed-ups of pull-request and full plans: the listing that knows the real path of the
files it walks, the YAML suffix test without ``os.path.splitext``, remembered hashes checked from
the stat result, the memo of real paths and heads, tasks sent by index with small enterprises in
batches, plan parts pickled with their changes as plain values, H006 against the users left out,
one schema check per file read by the fast path, the null device opened once, and SQLite's larger
page cache while a transaction writes.

Each test fails if the property it defends breaks; those marked "Found" failed on the code as it
was first written (the comment says what went wrong and how it was mended).
"""

from __future__ import annotations

import copy
import hashlib
import os
import pickle
import random
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from test_attacks_patch import A, B, block, registry, user, write

from reconciler.apply.execute import apply_plan
from reconciler.declare import declared, fastload
from reconciler.declare.declared import group_documents
from reconciler.declare.reading import listing, load_file
from reconciler.plan import pipeline, verdicts
from reconciler.plan.desired import _hashed, select
from reconciler.plan.document import plan_document
from reconciler.plan.drift import Drift
from reconciler.plan.ending import Ending
from reconciler.plan.facts import COLUMNS, UserFact, Users
from reconciler.plan.gates import OVERRIDES, Policy, Refusal
from reconciler.plan.pipeline import Shard, plan_paths
from reconciler.plan.plan import PlanPart
from reconciler.records.change import Action, Change
from reconciler.records.changes import Changes
from reconciler.records.state import Address, Kind, fields
from reconciler.store.backends import open_store
from reconciler.store.port import LockTimeout

C, D, E = "0900101305", "0900202659", "0900303916"  # valid numbers, each with its own NSSO number


def applied(url: str, paths: list) -> object:
    """A store holding what ``paths`` declare, applied with facts; the store, open."""
    store = open_store(url)
    first = plan_paths(paths, store, Policy(), keep_facts=True)
    assert first.problems == []
    apply_plan(first.plan, store, overrides=frozenset(OVERRIDES))
    return store


# --- the YAML suffix test --------------------------------------------------------------------------
# ``name.endswith((".yaml", ".yml")) and "." in name.lstrip(".")`` replaced ``os.path.splitext``:
# leading dots start no suffix, every other last dot does.

_PIECES = [".", "..", "a", "yaml", "yml", ".yaml", ".yml", "YAML", "y", "l", " ", "é", "-"]
_TRICKY = [".yaml", "..yaml", "...yaml", "a..yaml", ".a.yaml", ".yaml.yaml", "..a.yml", "a.yaml.", "a.YAML"]
_TRICKY += [".yml", "a.yml", "yaml", "ayaml", "a.yaml ", " .yaml", ". .yaml", "a.b.yaml", ".-.yml", "é.yaml"]


def _splitext_says_yaml(name: str) -> bool:
    return os.path.splitext(name)[1] in (".yaml", ".yml")


def test_yaml_names_are_chosen_as_splitext_chose_them(tmp_path: Path) -> None:
    rnd = random.Random(17)
    names = set(_TRICKY)
    while len(names) < 400:
        names.add("".join(rnd.choice(_PIECES) for _ in range(rnd.randint(1, 5))))
    names -= {".", ".."}
    root = tmp_path / "reg"
    (root / "sub").mkdir(parents=True)
    written = []
    for name in sorted(names):
        if "/" in name:
            continue
        (root / "sub" / name).write_text("a: b\n", encoding="utf-8")
        written.append(name)
    found, problems, real = listing([root])
    assert problems == []
    assert sorted(Path(f).name for f in found) == sorted(n for n in written if _splitext_says_yaml(n))
    assert set(real) == set(found)


def test_names_that_are_not_utf8_are_refused_as_before(tmp_path: Path) -> None:
    """A name of bytes that are no UTF-8 is reported (S006's lone surrogate), never listed, whatever its suffix."""
    root = os.fsencode(tmp_path / "reg")
    os.mkdir(root)
    for name in (b"\xff.yaml", b".\xff.yaml", b"\xff..yaml", b"\xff.yml", b"a.yaml\xff"):
        with open(root + b"/" + name, "w", encoding="utf-8") as handle:
            handle.write("a: b\n")
    found, problems, real = listing([os.fsdecode(root)])
    assert found == [] and real == {}
    assert sorted(Path(p.position.path).name for p in problems) == sorted(
        os.fsdecode(n) for n in (b"\xff.yaml", b".\xff.yaml", b"\xff..yaml", b"\xff.yml")
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=6).map("".join))
def test_the_suffix_test_agrees_with_splitext(name: str) -> None:
    """The expression ``_yaml_files`` uses, against ``os.path.splitext`` on any name made of dots and suffixes."""
    fast = name.endswith((".yaml", ".yml")) and "." in name.lstrip(".")
    assert fast == _splitext_says_yaml(name)


# --- real paths known from the listing --------------------------------------------------------------


def _tree(tmp_path: Path) -> Path:
    """A registry reached through links: its real folder, a link to it, links to files and folders."""
    real = tmp_path / "real" / "reg"
    (real / "x" / "y").mkdir(parents=True)
    (real / ".hidden").mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for name in ("a.yaml", "x/b.yaml", "x/y/c.yml", ".hidden/h.yaml", "x/.dot.yaml"):
        (real / name).write_text("a: b\n", encoding="utf-8")
    (elsewhere / "t.yaml").write_text("a: b\n", encoding="utf-8")
    (real / "x" / "to-b.yaml").symlink_to("b.yaml")
    (real / "x" / "out.yaml").symlink_to(Path("..") / ".." / ".." / "elsewhere" / "t.yaml")
    (real / "x" / "to-y").symlink_to("y", target_is_directory=True)  # a linked folder: not walked
    (tmp_path / "door").symlink_to(real, target_is_directory=True)
    (tmp_path / "relative-door").symlink_to(Path("real") / "reg", target_is_directory=True)
    (tmp_path / "deep").symlink_to(real / "x" / "y", target_is_directory=True)
    return real


_GIVEN = [
    ["."],
    [".."],
    ["../x/.."],
    ["y"],
    ["y/.."],
    ["../../../deep/.."],
    ["../../../relative-door"],
    ["{tmp}/door"],
    ["{tmp}/door/x/y/.."],
    ["{tmp}/deep/../.."],
    ["//{tmp}/door"],
    ["../x/to-b.yaml", "{tmp}/door/x/out.yaml", "."],
    ["{tmp}/real/reg", "{tmp}/door", "../../../relative-door/x"],
]


@pytest.mark.parametrize("given", _GIVEN)
def test_real_paths_through_links_and_dots_are_the_systems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: list[str]
) -> None:
    """From a working folder reached through a link, every way of naming the registry: the real path
    the listing, the hashing and the selection give each file is ``os.path.realpath``'s."""
    _tree(tmp_path)
    monkeypatch.chdir(tmp_path / "door" / "x")
    paths = [g.format(tmp=str(tmp_path).lstrip("/") if g.startswith("//") else tmp_path) for g in given]
    found, problems, walked = listing(paths)
    assert problems == [] and found
    assert all(walked[path] == (os.path.realpath(path), os.lstat(path).st_ino) for path in walked)
    assert all(path in walked for path in found if not os.path.islink(path) and path not in paths)
    reals, hashed = _hashed(found, None, walked)
    assert reals == {path: os.path.realpath(path) for path in found}
    assert set(hashed) == set(reals.values())
    selection = select(paths, None)
    assert {os.fspath(p): selection.real(p) for p in selection.files} == reals


# Found: the listing fixed the real path of every file it walks when it lists it; ``_hashed`` then
# reads (and hashes) the file through whatever its folders are by then.  A folder swapped for a link
# between the two (by anyone who may write the registry's folder while a plan runs) makes the hash of
# the file the link leads to recorded under the real path the file had before: the sync records,
# skip decisions and what apply remembers name a file whose content was not the one hashed.  The
# code before looked each folder up when it hashed (``_real_folder``) and named the file where it
# was read.  Mended, keeping the speed: the listing remembers each walked file's inode
# (``DirEntry.inode()`` costs no system call), and the walked real path is taken only when the
# ``lstat`` ``_hashed`` makes anyway finds the same inode; else ``os.path.realpath`` is asked.
def _swappable(tmp_path: Path) -> tuple[Path, Path]:
    """A registry ``reg`` with ``x/a.yaml``, and another folder holding an ``a.yaml`` of its own."""
    root = tmp_path / "reg"
    (root / "x").mkdir(parents=True)
    (root / "x" / "a.yaml").write_text("a: b\n", encoding="utf-8")
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.yaml").write_text("a: c\n", encoding="utf-8")
    return root, other


def _swap(root: Path, other: Path) -> None:
    """``reg/x`` moved away, and a link to the other folder put in its place."""
    (root / "x").rename(root.parent / "moved")
    (root / "x").symlink_to(other, target_is_directory=True)


def test_a_folder_swapped_for_a_link_after_the_listing(tmp_path: Path) -> None:
    root, other = _swappable(tmp_path)
    found, _, walked = listing([root])
    _swap(root, other)
    reals, hashed = _hashed(found, None, walked)
    path = str(root / "x" / "a.yaml")
    assert hashed == {reals[path]: hashlib.sha256(b"a: c\n").hexdigest()}
    assert reals[path] == os.path.realpath(path) == str(other.resolve() / "a.yaml")


# Found: the same, for the whole of a full plan.  ``Selection.real`` answered from the listing made
# when the plan started; the planning of each enterprise asks it only after reading the enterprise's
# files (``_plan_shard``: the files a part's sync record names, ``given``, the facts kept), where it
# used to ask ``real_path`` then.  A folder swapped for a link while the plan runs made the plan
# record, for apply to remember, the content read through the link under the real path the folder
# had.  Mended the same way: ``Selection.real`` takes the walked real path only for the inode listed.
def test_a_folder_swapped_for_a_link_while_a_full_plan_runs(tmp_path: Path) -> None:
    root, other = _swappable(tmp_path)
    selection = select([root], None)
    _swap(root, other)
    [path] = selection.files
    assert selection.real(path) == os.path.realpath(path) == str(other.resolve() / "a.yaml")


def test_a_registry_under_a_name_that_is_not_utf8(tmp_path: Path) -> None:
    """A root whose own name is no UTF-8 (its files' names are): listed, real paths the system's, and
    the remembered hashes, which cannot be written as JSON, simply not kept."""
    root = os.fsdecode(os.fsencode(tmp_path) + b"/\xffreg")
    os.makedirs(os.path.join(root, "sub"))
    for name in ("a.yaml", "sub/b.yaml"):
        with open(os.path.join(root, name), "w", encoding="utf-8") as handle:
            handle.write('enterprise:\n  number: "0900000048"\n')
    found, problems, walked = listing([root])
    assert problems == [] and len(found) == 2
    cache = tmp_path / "cache"
    hashes = verdicts.Hashes.open(cache)
    reals, hashed = _hashed(found, hashes, walked)
    assert reals == {path: os.path.realpath(path) for path in found}
    for path in found:
        hashes.put(path, hashed[reals[path]], A, verdicts.stamp(os.stat(path)), 10**19)
    hashes.save()  # orjson refuses the lone surrogates: nothing is written, nothing raised
    assert not (cache / verdicts.HASHES_FILE).exists()


def test_a_file_given_twice_keeps_its_enterprise_from_being_skipped(tmp_path: Path, store_url: str) -> None:
    """Unchanged files given a second time (through a link to the folder, by another spelling) are read
    twice by a full read: an enterprise holding one is planned, never skipped, with the full read's problems."""
    root = tmp_path / "reg"
    write(root, {**registry(A, "a"), **registry(B, "b", 100)})
    (tmp_path / "door").symlink_to(root, target_is_directory=True)
    store = applied(store_url, [root])
    try:
        for paths in (
            [root, tmp_path / "door" / "a"],
            [root, root / "a" / "u1.yaml"],
            [root, Path(os.path.relpath(root / "a" / "u2.yaml"))],
            [root, root / "a" / ".." / "a" / "u3.yaml"],
        ):
            incremental = plan_paths(paths, store, Policy(), keep_facts=True)
            full = plan_paths(paths, store, Policy(), full=True, keep_facts=True)
            twice = str(paths[1]) != str(root / "a" / "u1.yaml")  # given by the listing's own spelling: once
            assert (A in incremental.plan.skipped) is not twice, paths
            assert B in incremental.plan.skipped
            assert incremental.problems == full.problems, paths
    finally:
        store.close()


# --- remembered hashes checked from the stat result -------------------------------------------------


def _seal_body(cache: Path, body: bytes) -> None:
    verdicts._write_sealed(cache, verdicts.HASHES_FILE, verdicts.HASHES_GENERATION, body)


@pytest.mark.parametrize("huge", [2**64, 2**64 + 5, -(2**63) - 1, 10**30])
def test_a_hash_entry_with_a_count_past_64_bits(tmp_path: Path, huge: int) -> None:
    """JSON numbers no stat result holds: orjson refuses the whole body, so nothing is remembered (no crash)."""
    cache = tmp_path / "cache"
    victim = tmp_path / "v.yaml"
    victim.write_text("a: b\n", encoding="utf-8")
    found = verdicts.stamp(os.stat(victim))
    body = b'{"%s": ["%s", null, %d, %d, %d, %d, %d]}' % (str(victim).encode(), b"ab" * 32, *found[:4], huge)
    _seal_body(cache, body)
    hashes = verdicts.Hashes.open(cache)
    assert hashes.get(str(victim), os.stat(victim)) is None
    _, hashed = _hashed([str(victim)], hashes, {})
    assert hashed == {str(victim.resolve()): hashlib.sha256(b"a: b\n").hexdigest()}


def test_a_hash_remembered_for_a_file_dated_before_1970(tmp_path: Path) -> None:
    """A negative modification time is a stamp like any other: the hash kept for it is the file's own,
    and none is used once the file changes (the stamp then differs)."""
    cache = tmp_path / "cache"
    victim = tmp_path / "v.yaml"
    victim.write_text("a: b\n", encoding="utf-8")
    os.utime(victim, ns=(-(10**18), -(10**18)))
    info = os.stat(victim)
    assert info.st_mtime_ns < 0
    hashes = verdicts.Hashes.open(cache)
    sha = hashlib.sha256(b"a: b\n").hexdigest()
    hashes.put(str(victim), sha, A, verdicts.stamp(info), 10**19)
    hashes.save()
    again = verdicts.Hashes.open(cache)
    assert again.get(str(victim), os.stat(victim)) in (None, (sha, A))
    victim.write_text("a: c\n", encoding="utf-8")
    os.utime(victim, ns=(-(10**18), -(10**18)))
    assert verdicts.Hashes.open(cache).get(str(victim), os.stat(victim)) is None


# --- one process or several, small enterprises in batches -------------------------------------------


def _five(root: Path) -> dict[str, dict]:
    files = {}
    for index, number in enumerate((A, B, C, D, E)):
        files |= registry(number, f"e{index}", 100 * index)
    write(root, files)
    return files


def _same(one, two) -> None:
    assert plan_document(one.plan) == plan_document(two.plan)
    assert one.plan == two.plan
    assert one.problems == two.problems
    assert one.warnings == two.warnings
    assert one.digest == two.digest


def _both(paths: list, store, **options) -> tuple:
    forked: list[int] = []
    original = pipeline._in_processes

    def spy(*args, **kwargs):
        forked.append(len(pipeline._batches(args[1])))
        return original(*args, **kwargs)

    pipeline._in_processes = spy
    try:
        one = plan_paths(paths, store, Policy(1.0), workers=1, keep_facts=True, **options)
        assert forked == []
        two = plan_paths(paths, store, Policy(1.0), workers=3, keep_facts=True, **options)
    finally:
        pipeline._in_processes = original
    return one, two, forked


def test_plans_of_batched_enterprises_equal_the_plans_of_one_process(tmp_path: Path, store_url: str) -> None:
    """Five enterprises of six files go to the workers as one task (fewer than 64 files each): changes,
    a broken file, a rule across files and a user added, planned whole and from changed files alone."""
    root = tmp_path / "reg"
    files = _five(root)
    store = applied(store_url, [root])
    try:
        block(files, "e0/u1.yaml")["users"].pop()
        block(files, "e1/u2.yaml")["users"].append(user(150))
        block(files, "e2/u3.yaml")["users"].append(user(210))  # H006: user 210 is in e2/u1.yaml too
        files["e3/u1.yaml"]["qualities"][0]["users"][0]["services"] = ["no-such-service"]
        write(root, files)
        for options in ({}, {"full": True}):
            one, two, forked = _both([root], store, **options)
            _same(one, two)
            assert forked == [1]  # every enterprise in one task
            assert {p.rule for p in one.problems} >= {"H006", "S004"}
        block(files, "e2/u3.yaml")["users"].pop()
        files["e3/u1.yaml"]["qualities"][0]["users"][0]["services"] = ["dimona"]
        write(root, files)
        one, two, forked = _both([root], store)
        _same(one, two)
        assert one.problems == [] and {c.address.enterprise for c in one.plan.changes} == {A, B}
        apply_plan(two.plan, store, overrides=frozenset(OVERRIDES))
        assert plan_paths([root], store, Policy(), full=True).plan.changes == ()
    finally:
        store.close()


def test_a_head_that_lies_in_a_batch_is_regrouped_in_both(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A head naming "0900" over a number written on two lines (the content names C): the worker given
    that file raises ``Regroup`` and the plan is made again by reading; the same plan in one process."""
    root = tmp_path / "reg"
    _five(root)
    store = applied(store_url, [root])
    streams: list[bool] = []
    original = pipeline._plan

    def spy(*arguments):
        streams.append(arguments[4])
        return original(*arguments)

    monkeypatch.setattr(pipeline, "_plan", spy)
    try:
        extra = yaml.safe_dump({"qualities": [{"code": "employer", "users": [user(240)]}]}, sort_keys=False)
        (root / "e2" / "lying.yaml").write_text(f"enterprise:\n  number: 0900\n    101305\n{extra}", encoding="utf-8")
        for options in ({}, {"full": True}, {"only": frozenset({C})}, {"only": frozenset({B})}):
            streams.clear()
            one, two, forked = _both([root], store, **options)
            _same(one, two)
            assert one.problems == []
            assert forked == [1] and streams == [True, False, True, False]  # Regroup in both
        one, _, _ = _both([root], store)
        assert {(c.action, c.address.enterprise, c.address.key) for c in one.plan.changes} == {
            (Action.CREATE, C, user(240)["ssin"])
        }
    finally:
        store.close()


def test_an_enterprise_selected_in_one_and_several_processes(tmp_path: Path, store_url: str) -> None:
    root = tmp_path / "reg"
    files = _five(root)
    store = applied(store_url, [root])
    try:
        for name in ("e0/u1.yaml", "e1/u1.yaml", "e4/u3.yaml"):
            block(files, name)["users"].pop()
        write(root, files)
        for only in (frozenset({B}), frozenset({A, E}), frozenset({"0900000049"})):
            for options in ({}, {"full": True}):
                one, two, _ = _both([root], store, only=only, **options)
                _same(one, two)
                assert {c.address.enterprise for c in one.plan.changes} == set(only) & {A, B, E}
    finally:
        store.close()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 100), max_size=30))
def test_batches_keep_every_enterprise_whole_and_in_order(sizes: list[int]) -> None:
    groups = [[f"e{n}/{i}.yaml" for i in range(size)] for n, size in enumerate(sizes)]
    tasks = pipeline._batches(groups)
    assert [p for task in tasks for p in task] == [p for group in groups for p in group]
    task_of = {p: index for index, task in enumerate(tasks) for p in task}
    assert all(len({task_of[p] for p in group}) == 1 for group in groups)  # no enterprise split over tasks
    groups_of = [[g for g in groups if task_of[g[0]] == index] for index in range(len(tasks))]
    # A task is one enterprise, or small ones holding at most BATCH_FILES files together...
    assert all(len(mine) == 1 or len(task) <= pipeline.BATCH_FILES for mine, task in zip(groups_of, tasks, strict=True))
    # ...and the next enterprise went to a task of its own only because it would not fit.
    for index in range(len(tasks) - 1):
        assert len(tasks[index]) + len(groups_of[index + 1][0]) > pipeline.BATCH_FILES


# --- parts pickled with their changes as plain values -----------------------------------------------


def _part() -> PlanPart:
    shared = fields(Kind.USER, services=("dimona", "dmfa"), protected=False, until=None, profiles=())
    other = fields(Kind.USER, services=("dimona",), protected=True, until="2031-01-01", profiles=("p",))
    changes = []
    for n, (action, kind) in enumerate((a, k) for a in Action for k in Kind):
        before = None if action is Action.CREATE else (shared if n % 2 else other)
        after = None if action is Action.DELETE else shared
        quality = "" if kind in (Kind.ENTERPRISE, Kind.PERSON) else "employer\u202e"
        changes.append(Change(action, Address(A, kind, quality, f"k{n}\x00é"), before, after))
    changes += [Change(Action.CREATE, Address(A, Kind.USER, "employer", f"u{i}"), None, shared) for i in range(3)]
    drift = (Drift(A, "enterprise[x]", {"a": 1}, None),)
    ending = (Ending(A, "employer", "user", "75031366754", "Els", "2031-01-01"),)
    refusals = (Refusal("removals", A, "too many", "--allow"),)
    sync = (A, 7, "d" * 64, (("/r/a.yaml", "e" * 64),), "2031-01-01")
    return PlanPart(A, tuple(changes), 7, refusals, sync, drift, ending, ((A, "payroll", ("dimona",)),), (("p", "{}"),))


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_a_part_comes_back_equal_under_every_protocol(protocol: int) -> None:
    part = _part()
    back = pickle.loads(pickle.dumps(part, protocol=protocol))
    assert back == part
    assert type(back.changes) is Changes  # packed: made into changes when used
    assert all(isinstance(run.changes, bytes) for run in back.changes.runs)
    assert all(type(c) is Change and type(c.address) is Address for c in back.changes)
    assert [(c.action, c.address.kind) for c in back.changes] == [(c.action, c.address.kind) for c in part.changes]
    assert all(
        c.action is o.action and c.address.kind is o.address.kind
        for c, o in zip(back.changes, part.changes, strict=True)
    )
    assert {hash(c.address) for c in back.changes} == {hash(c.address) for c in part.changes}
    # Fields shared in a run are shared again (pickle's memo): the three users created last.
    last = back.changes.runs[-1]
    assert last.size == 3 and len({id(c.after) for c in last.items()}) == 1


def test_a_part_copied_or_sent_inside_a_shard() -> None:
    part = _part()
    assert copy.copy(part) == part and copy.deepcopy(part) == part
    empty = PlanPart(B, (), None, (), None)
    shard = Shard([part, empty], [], {"/r/a.yaml": "e" * 64}, 6, {C}, {A: ["/r/a.yaml"]})
    back = pickle.loads(pickle.dumps(shard, protocol=pickle.HIGHEST_PROTOCOL))
    assert back == shard


# --- the users left out, found by column --------------------------------------------------------------

_COLUMN_VALUES = st.fixed_dictionaries(
    {
        "quality": st.sampled_from(["employer", "mandatary"]),
        "ssin": st.sampled_from(["1", "2", "3", "4"]),
        "name": st.text(max_size=2),
        "email": st.none() | st.just("a@b.example"),
        "language": st.none() | st.just("nl"),
        "until": st.none() | st.just("2031-01-01"),
        "profiles": st.lists(st.sampled_from(["p", "q"]), max_size=2),
        "github": st.none() | st.just("octo"),
        "gitlab": st.none(),
    }
)


def _users(rows: list[dict]) -> Users:
    return Users({name: [row[name] for row in rows] for name in COLUMNS})


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_COLUMN_VALUES, max_size=5), max_size=3), st.sets(st.sampled_from(["1", "2", "5"])))
def test_users_found_and_joined_by_column_as_by_row(parts: list[list[dict]], ssins: set[str]) -> None:
    rows = [row for part in parts for row in part]
    joined = Users.joined([_users(part) for part in parts])
    assert joined.columns == _users(rows).columns
    expected = [UserFact(**row) for row in rows if row["ssin"] in ssins]
    assert joined.of(ssins) == expected
    assert joined.of(frozenset(ssins)) == expected
    read = {("employer", s) for s in ssins}
    assert read.isdisjoint(zip(joined.columns["quality"], joined.columns["ssin"], strict=True)) == (
        not read & joined.pairs()
    )


# --- one schema check for a file read by the fast path ---------------------------------------------

_DOCUMENT = """\
enterprise:
  number: "0999.055.557"
  name: Bakkerij
main_access_manager:
  ssin: "75031366754"
  name: Els Mertens
  email: els@goudenkorst.example
qualities:
  - code: employer
    default: {default}
    nsso_number: "010-4521873-24"
    notification_email: administratie@goudenkorst.example
    users:
      - ssin: "80010112345"
        name: A B
        email: a@b.example
        services: [{service}]
"""


@pytest.mark.parametrize(
    ("default", "service"),
    [("true", "dimona"), ("yes", "dimona"), ("true", "nonsense"), ("on", "nonsense"), ('"true"', "dimona")],
)
def test_a_fast_document_says_what_an_exact_one_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, default: str, service: str
) -> None:
    """Valid or not, with YAML 1.1 booleans or not: the same declarations and problems from both readers,
    and a document the fast path read and the schema passed is checked once."""
    path = tmp_path / "e.yaml"
    path.write_text(_DOCUMENT.format(default=default, service=service), encoding="utf-8")
    exact, _ = load_file(path)
    fast, _ = load_file(path, fast=True)
    assert exact is not None and fast is not None
    calls: list[str] = []
    real_validate = declared.validate_document

    def counting(document, *arguments):
        calls.append(document.path)
        return real_validate(document, *arguments)

    monkeypatch.setattr(declared, "validate_document", counting)
    from_exact, exact_problems = group_documents([exact])
    calls_exact = len(calls)
    from_fast, fast_problems = group_documents([fast])
    assert fast_problems == exact_problems
    assert set(from_fast) == set(from_exact)
    assert calls_exact == 1
    assert len(calls) - calls_exact == (1 if fast.exact or exact_problems else 0)


# --- the null device opened once ------------------------------------------------------------------


def _descriptors() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_the_null_device_is_opened_once_and_stderr_comes_back() -> None:
    """Hundreds of files that make rapidyaml complain: no descriptor leaks, fd 2 is what it was, the
    silencing holds in a forked child too."""
    bad = b"a: b: c\n"  # rapidyaml prints "two colons on same line" to fd 2 itself
    fastload.load_fast(b"a: b\n", "warm.yaml")
    before, stderr = _descriptors(), os.fstat(2)
    deep = "".join("  " * i + "a:\n" for i in range(80)).encode() + b"  " * 80 + b"b\n"  # fails in emitting
    for index in range(300):
        assert fastload.load_fast(bad + b"#" * index, f"bad{index}.yaml") is None
        assert fastload.load_fast(deep, "deep.yaml") is None
        assert fastload.load_fast(b"a: b\n", "ok.yaml") is not None
    after = os.fstat(2)
    assert _descriptors() == before
    assert (after.st_dev, after.st_ino) == (stderr.st_dev, stderr.st_ino)
    assert len(fastload._NULL_DEVICE) == 1
    read, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through its exit code
        code = 1
        try:
            os.dup2(write_end, 2)
            ok = fastload.load_fast(bad, "bad.yaml") is None and fastload.load_fast(deep, "deep.yaml") is None
            ok = ok and fastload.load_fast(b"a: b\n", "x.yaml") is not None
            os.write(2, b"done")
            code = 0 if ok else 1
        finally:
            os._exit(code)
    os.close(write_end)
    _, status = os.waitpid(child, 0)
    with os.fdopen(read, "rb") as handle:
        said = handle.read()
    assert os.waitstatus_to_exitcode(status) == 0
    assert said == b"done"  # nothing of rapidyaml's on the child's stderr


# --- SQLite's page cache while a transaction writes -------------------------------------------------


def _cache(store) -> int:
    return store.connection.execute("PRAGMA cache_size").fetchone()[0]


@pytest.mark.parametrize("failure", [RuntimeError("half way"), KeyboardInterrupt(), sqlite3.IntegrityError("x")])
def test_a_failed_transaction_rolls_back_raises_its_own_error_and_gives_the_cache_back(
    tmp_path: Path, failure: BaseException
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        default = _cache(store)
        with pytest.raises(type(failure)) as raised, store.transaction(datetime.now(UTC), [A], "r"):
            assert _cache(store) == -64 * 1024
            store.connection.execute("CREATE TABLE scratch (x)")
            raise failure
        assert raised.value is failure
        assert _cache(store) == default
        assert store.connection.execute("SELECT count(*) FROM sqlite_master WHERE name = 'scratch'").fetchone()[0] == 0
        assert store.connection.execute("SELECT count(*) FROM apply_in_progress").fetchone()[0] == 0
        assert not store.connection.in_transaction
        assert not store.holder_file.exists()
        with store.transaction(datetime.now(UTC), [A], "r2"):
            pass
        assert _cache(store) == default
    finally:
        store.close()


def test_a_lock_timeout_leaves_the_waiting_connection_as_it_was(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    holder, waiter = open_store(url), open_store(url, lock_timeout=0.05)
    try:
        default = _cache(waiter)
        with holder.transaction(datetime.now(UTC), [A], "holding"):
            with pytest.raises(LockTimeout), waiter.transaction(datetime.now(UTC), [B], "waiting"):
                pass
            assert _cache(waiter) == default
            assert holder.holder_file.exists()  # the waiter's failure removed no one's holder record
        assert _cache(holder) == default
    finally:
        holder.close()
        waiter.close()
