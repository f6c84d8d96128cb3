"""Attacks on the speed-ups of the trap scan, the listing of folders, the remembered hashes, the
reading of sync records and stored users, the diff, the declared models and the plan summary:
inputs (YAML authors, file names, a tampered cache folder, a tampered store) for which the faster
code could answer otherwise than the code it replaced, crash, or trust what it should not.

Each test fails if the property it defends breaks; those marked "Defect" keep defects that were
found in this faster code, and fixed, from coming back (the comment says what went wrong).
"""

from __future__ import annotations

import os
import random
import shutil
from collections import Counter
from pathlib import Path

import orjson
import pytest
from conftest import EXAMPLES, drop_store, new_store_url, outside_write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_attacks_patch import A, B, block, registry, user, write
from test_trap_scan import reference_has_trap

from reconciler.apply.execute import apply_plan
from reconciler.declare.declared import Role, appoint, group_documents
from reconciler.declare.fastload import has_trap, load_fast
from reconciler.declare.model import Person
from reconciler.declare.reading import discover, listing, load_file
from reconciler.plan import verdicts
from reconciler.plan.desired import _hashed, select
from reconciler.plan.facts import COLUMNS, FORMAT, facts_from
from reconciler.plan.gates import OVERRIDES, Policy
from reconciler.plan.pipeline import _to_read, plan_paths
from reconciler.plan.plan import combine, diff_enterprise, plan_enterprise
from reconciler.plan.validation import validate_paths
from reconciler.records.change import Action, Change
from reconciler.records.state import Address, EnterpriseState, Kind, StoredEnterprise, fields
from reconciler.render.text import summary_chunks
from reconciler.store import tables
from reconciler.store.backends import open_store


def applied(root: Path, url: str, paths: list) -> object:
    """A store holding what ``paths`` declare, applied with facts; the store, open."""
    store = open_store(url)
    first = plan_paths(paths, store, Policy(), keep_facts=True)
    assert first.problems == []
    apply_plan(first.plan, store, overrides=frozenset(OVERRIDES))
    return store


# --- a registry given as "." ---------------------------------------------------------------------
# ``discover`` now hands its callers the paths as found ("./a/u1.yaml" under "."), where it used to
# hand them ``Path`` objects, which drop the "./".  The places that compare those strings with the
# spelling of a ``Path`` ("a/u1.yaml") no longer find them.


# Defect: ``reading.discover`` returns "./a/u1.yaml"; ``plan.patch`` shows the unchanged
# files under ``Selection.named`` ("./a/u2.yaml") while the order of files comes from ``Path``
# ("a/u2.yaml"), so ``partial.read_partially`` finds no place for them and gives up: a registry
# planned from its root as "." is never planned from its changed files alone (it is read whole).
def test_a_registry_given_as_dot_is_planned_from_its_changed_files(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch, patched_enterprises: list[str]
) -> None:
    root = tmp_path / "reg"
    files = {**registry(A, "a"), **registry(B, "b", 100)}
    write(root, files)
    monkeypatch.chdir(root)
    store = applied(root, store_url, ["."])
    try:
        block(files, "a/u1.yaml")["users"].pop()
        write(root, files)
        planned = plan_paths(["."], store, Policy(), keep_facts=True)
        assert planned.problems == []
        assert [c.action for c in planned.plan.changes] == [Action.DELETE, Action.DELETE]
        assert patched_enterprises == [A]  # as for the same registry given as "reg" from its parent
    finally:
        store.close()


# Defect: the same "./" spelling: ``pipeline._to_read`` looks the files up in ``Selection.named`` by
# ``os.fspath(Path)`` ("a/u1.yaml") while its keys are "./a/u1.yaml": every file of an enterprise
# that would be planned from its one changed file counts as to be read (6, not 1), which decides
# whether planning forks a process per core.
def test_the_files_to_read_of_a_registry_given_as_dot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "reg"
    files = registry(A, "a")
    write(root, files)
    monkeypatch.chdir(root)
    url = new_store_url("sqlite", tmp_path)
    store = applied(root, url, ["."])
    try:
        block(files, "a/u1.yaml")["users"].pop()
        write(root, files)
        for given in (str(root), "."):
            selection = select([given], store.sync_records)
            assert selection.patch, given
            assert _to_read(selection) == 1, given
    finally:
        store.close()


# Defect: ``validate .`` keeps nothing for the next run.  Its groups hold "./small-employer.yaml"
# (``validation._groups`` takes discover's text as it is) while the documents read carry
# "small-employer.yaml" (``load_file(Path(...))``); ``check_group`` then finds no hash for any
# document (``as_hashed`` False), so no verdict is ever written and every run reads every file.
def test_validate_of_dot_remembers_its_verdicts(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree)
    cache = tmp_path / "verdicts"
    first = validate_paths(["."], cache, workers=1)
    assert first.problems == [] and first.enterprises == 2
    second = validate_paths(["."], cache, workers=1)
    assert second.cached == 2  # as ``validate registry`` from the parent folder: nothing read again


# Defect: the P001 message points at the file as ``Selection.named`` spells it: "./employer.yaml"
# when the folder was given as ".", where it said "employer.yaml" (the spelling of every other
# message about that file, and of ``validate``).
def test_a_partial_plan_of_dot_names_its_file_as_every_other_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "reg"
    files = registry(A, "a")
    files["other/u3.yaml"] = files.pop("a/u3.yaml")
    write(root, files)
    monkeypatch.chdir(tmp_path)
    store = applied(root, new_store_url("sqlite", tmp_path), [root])
    try:
        monkeypatch.chdir(root / "a")
        planned = plan_paths(["."], store, Policy(), keep_facts=True)
        assert [p.rule for p in planned.problems] == ["P001"]
        assert planned.problems[0].position.path == "employer.yaml"
    finally:
        store.close()


def test_discover_of_a_file_given_with_dot_slash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file given as "./x.yaml" or "x//y.yaml" is found under the one spelling a ``Path`` gives it."""
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "y.yaml").write_text("a: b\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    found, problems = discover(["./x/y.yaml", "x//y.yaml", "x/./y.yaml", "./x"])
    assert problems == []
    assert found == ["x/y.yaml"]


# --- the trap scan -------------------------------------------------------------------------------
# RE2 reads the bytes as UTF-8: a character whose encoding ends in a byte that is a blank in Latin-1
# (0x85, 0xa0) must not count as a blank before "#" or an indicator, nor must a blank made of
# several bytes be missed.

_LATIN1_LOOKALIKES = ["Å", "à", "ą", "Ġ", "ࢅ", "\u3085", "\U0001f405", "\u0385", "\u2085", "\u20a0"]
_WIDE_BLANKS = [
    "\x85",
    "\xa0",
    "\u1680",
    "\u2000",
    "\u2007",
    "\u200a",
    "\u2028",
    "\u2029",
    "\u202f",
    "\u205f",
    "\u3000",
]


@pytest.mark.parametrize("character", _LATIN1_LOOKALIKES + _WIDE_BLANKS)
def test_the_scan_reads_characters_not_bytes(character: str) -> None:
    for text in (
        f"a: b{character}#c\n",
        f"a: {character}#c\n",
        f"a: b{character}&c\n",
        f"a: b{character}!c\n",
        f"a: [b{character}*c]\n",
        f"? {character}\n",
        f"a:\n  -{character}x\n",
        f"a: '{character}\n",
        f"a: [{character}\n",
    ):
        assert has_trap(text.encode("utf-8")) == reference_has_trap(text), repr(text)


def test_a_comment_glued_to_a_character_ending_in_a_latin1_blank_is_a_trap() -> None:
    """ "Å#" is a "#" right after text (Y008, or text to YAML 1.2): the fast path must never read it."""
    for character in _LATIN1_LOOKALIKES:
        raw = f'enterprise:\n  number: "0999055557"\n  name: X{character}#y\n'.encode()
        assert has_trap(raw), character
        assert load_fast(raw, "x.yaml") is None, character


_WIDE = st.sampled_from(
    [
        *" \t\n\r:-[]{},#'\"!&*@`%|>?.+0~=<\\a",
        *_LATIN1_LOOKALIKES,
        *_WIDE_BLANKS,
        "\x1c",
        "\x1f",
        "\x7f",
        "\x9f",
        "\u202e",
        "\u2066",
        "\u2069",
        "\ufeff",
        "\U0010ffff",
        "yes",
        "no",
        "Off",
        "<<",
        "---",
        "...",
        "key: ",
        "- ",
        "\n  ",
        "''",
        "\r\n",
    ]
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_WIDE, max_size=20).map("".join))
def test_the_scan_agrees_on_texts_of_wide_characters(text: str) -> None:
    assert has_trap(text.encode("utf-8")) == reference_has_trap(text)


def test_the_scan_at_the_end_of_a_file_without_a_line_feed() -> None:
    r"""``\z`` and ``\n?\z`` where Python's ``$`` and ``\Z`` were: the last line, with and without its line feed."""
    for tail in ("no", "no ", "no # c", "yes\n", "'a", '"a', "[a", "{a: b", ": ", "?", "...", "--- ", "  ", "\r"):
        for text in (f"a:\n  {tail}", f"a: {tail}", f"a:\n  - b\n  - {tail}", tail):
            assert has_trap(text.encode("utf-8")) == reference_has_trap(text), repr(text)


# --- listing folders -----------------------------------------------------------------------------

_TRICKY_NAMES = ["a", "a-b", "a.b", "a b", "a0", "A", "B", "_", "~", "é", "e\u0301", "z", "a!", "[x]", "0"]


def test_folders_are_listed_in_the_order_paths_sort_part_by_part(tmp_path: Path) -> None:
    """Depth first with each folder's names sorted must be the order of paths compared part by part:
    "a/z.yaml" before "a-b.yaml" (by whole strings, "-" sorts before "/")."""
    rnd = random.Random(7)
    root = tmp_path / "reg"
    expected = set()
    for _ in range(120):
        depth = rnd.randint(0, 3)
        folder = root.joinpath(*(rnd.choice(_TRICKY_NAMES) for _ in range(depth)))
        name = rnd.choice(_TRICKY_NAMES) + rnd.choice([".yaml", ".yml", ".yaml", ".txt"])
        if any(p.is_file() for p in [folder, *folder.parents] if p != tmp_path and p.is_relative_to(root)):
            continue
        if (folder / name).is_dir():
            continue
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("a: b\n", encoding="utf-8")
        if name.endswith((".yaml", ".yml")):
            expected.add(str(folder / name))
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x.yaml").write_text("a: b\n", encoding="utf-8")
    found, problems, real = listing([root])
    assert problems == []
    assert set(found) == expected
    assert found == sorted(found, key=lambda full: full.split(os.sep))
    assert real == {full: (os.path.realpath(full), os.lstat(full).st_ino) for full in found}  # no link: each known


def test_problems_of_a_listing_are_sorted_and_complete(tmp_path: Path) -> None:
    root = tmp_path / "reg"
    (root / "b" / "c").mkdir(parents=True)
    (root / "b" / "c" / "z.yaml").symlink_to(tmp_path / "nowhere")
    (root / "a.yaml").symlink_to(tmp_path / "nowhere")
    os.mkfifo(root / "b" / "pipe.yaml")
    (root / "b" / "escape\x1bname.yaml").write_text("a: b\n", encoding="utf-8")
    (root / "b" / "ok.yaml").write_text("a: b\n", encoding="utf-8")
    (root / "loop").symlink_to(root, target_is_directory=True)  # a linked folder is not followed
    found, problems, _ = listing([root])
    assert found == [str(root / "b" / "ok.yaml")]
    assert [p.position.path for p in problems] == sorted(
        [
            str(root / "a.yaml"),
            str(root / "b" / "c" / "z.yaml"),
            str(root / "b" / "pipe.yaml"),
            str(root / "b" / "escape\x1bname.yaml"),
        ]
    )
    assert problems == sorted(problems)


def test_a_folder_nested_deeper_than_the_call_stack(tmp_path: Path) -> None:
    """A tree nested deeper than Python's recursion limit is listed whole, without a crash."""
    root = tmp_path / "reg"
    root.mkdir()
    folders = [root]
    try:
        for _ in range(1100):  # about 2,200 bytes: within PATH_MAX
            folders.append(folders[-1] / "d")
            os.mkdir(folders[-1])
        (folders[-1] / "deep.yaml").write_text("a: b\n", encoding="utf-8")
        (root / "top.yaml").write_text("a: b\n", encoding="utf-8")
        found, problems, _ = listing([root])
        assert problems == []
        assert found == [str(folders[-1] / "deep.yaml"), str(root / "top.yaml")]
    finally:  # removed here, from the bottom up: a recursive removal of it would exhaust the call stack
        if (folders[-1] / "deep.yaml").exists():
            (folders[-1] / "deep.yaml").unlink()
        for folder in reversed(folders[1:]):
            if folder.exists():
                folder.rmdir()


# --- remembered hashes in a tampered cache folder ------------------------------------------------


def _seal(cache: Path, entries: dict) -> None:
    verdicts._write_sealed(cache, verdicts.HASHES_FILE, verdicts.HASHES_GENERATION, orjson.dumps(entries))


@pytest.mark.parametrize(
    "forged",
    [
        lambda sha, st_: [sha, None, bool(st_[0]), *st_[1:]],  # the size written as true or false
        lambda sha, st_: [sha, None, *[float(n) for n in st_]],
        lambda sha, st_: [sha.upper(), None, *st_],
        lambda sha, st_: [sha + "0", None, *st_],
        lambda sha, st_: [sha, 900000048, *st_],
        lambda sha, st_: [sha, ["0900000048"], *st_],
        lambda sha, st_: [sha, None, *st_, 0],
        lambda sha, st_: [sha, None, *st_[:4]],
        lambda sha, st_: {"0": sha},
        lambda sha, st_: [None, None, *st_],
        lambda sha, st_: [sha, None, *[str(n) for n in st_]],
        lambda sha, st_: [sha, None, *[[n] for n in st_]],
        lambda sha, st_: [sha, None, *st_[:4], float(st_[4])],
        lambda sha, st_: [sha, None, False, *st_[1:]],
        lambda sha, st_: [sha, True, *st_],
        lambda sha, st_: [sha, 0, *st_],
        lambda sha, st_: [sha, {"n": 1}, *st_],
        lambda sha, st_: [[sha], None, *st_],
        lambda sha, st_: [sha + "\n", None, *st_],
        lambda sha, st_: [sha[:-1] + "G", None, *st_],
        lambda sha, st_: [sha, *st_],
        lambda sha, st_: [sha],
        lambda sha, st_: [],
        lambda sha, st_: None,
        lambda sha, st_: "x",
        lambda sha, st_: [sha, None, *st_, *st_],
    ],
)
@pytest.mark.parametrize("content", [b"\x01", b""])  # size 1 and 0: stamps equal to true and false
def test_a_forged_hash_entry_is_no_entry(tmp_path: Path, forged, content: bytes) -> None:
    cache = tmp_path / "cache"
    victim, other = tmp_path / "v.yaml", tmp_path / "o.yaml"
    victim.write_bytes(content)
    other.write_text("a: b\n", encoding="utf-8")
    sha = "ab" * 32
    found = list(verdicts.stamp(os.stat(victim)))
    _seal(cache, {str(victim): forged(sha, found), str(other): [sha, "0900000048", *verdicts.stamp(os.stat(other))]})
    hashes = verdicts.Hashes.open(cache)
    assert hashes.get(str(victim), os.stat(victim)) is None
    assert hashes.get(str(other), os.stat(other)) == (sha, "0900000048")
    assert str(victim) not in hashes.seen
    hashes.put(str(tmp_path / "new.yaml"), sha, None, (1, 0, 0, 1, 1), 10**19)
    hashes.save()
    body = verdicts._read_sealed(cache / verdicts.HASHES_FILE, verdicts.HASHES_GENERATION)
    assert body is not None
    kept = orjson.loads(body)
    assert str(victim) not in kept  # never written back as if it were one
    assert str(other) in kept


def test_a_hash_remembered_under_another_stamp_is_not_used(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    victim = tmp_path / "v.yaml"
    victim.write_text("a: b\n", encoding="utf-8")
    found = list(verdicts.stamp(os.stat(victim)))
    for changed in range(5):
        stamp = list(found)
        stamp[changed] += 1
        _seal(cache, {str(victim): ["ab" * 32, None, *stamp]})
        assert verdicts.Hashes.open(cache).get(str(victim), os.stat(victim)) is None


# --- sync records read in one pass ---------------------------------------------------------------


def test_sync_records_in_one_pass_agree_with_looking_each_file_up(tmp_path: Path, store_url: str) -> None:
    """Both ways of reading sync records (one pass when a quarter of the files or more are asked for,
    a lookup per file otherwise) say the same, also of rows a hand made: a path that differs only
    in case, in Unicode normalization or by a trailing blank is another file, and a row of an
    enterprise the store does not hold gives no record."""
    root = tmp_path / "reg"
    write(root, {**registry(A, "a"), **registry(B, "b", 100)})
    store = applied(root, store_url, [root])
    try:
        real = sorted(os.path.realpath(p) for p in root.rglob("*.yaml"))
        sha = "cd" * 32
        ghost = str(tmp_path / "ghost.yaml")
        for path, number in (
            (real[0].upper(), A),
            (real[1] + " ", A),
            (str(tmp_path / "e\u0301.yaml"), B),
            (ghost, "0900000246"),
        ):
            outside_write(
                store_url,
                f"INSERT INTO declared_files (path, enterprise, sha256) VALUES ('{path}', '{number}', '{sha}')",
            )
        asked = [*real, str(tmp_path / "\u00e9.yaml"), real[0].lower() + "x", ghost]
        owner, records = store.sync_records(asked)
        one_by_one_owner: dict = {}
        one_by_one_records: dict = {}
        for path in asked:
            o, r = store.sync_records([path])
            one_by_one_owner |= o
            one_by_one_records |= r
        assert owner == one_by_one_owner
        assert records == one_by_one_records
        assert owner[ghost] == "0900000246" and "0900000246" not in records
        assert set(records) == {A, B}
        assert set(records[A].files) == {p for p in real if "/a/" in p} | {real[0].upper(), real[1] + " "}
        assert str(tmp_path / "\u00e9.yaml") not in owner
    finally:
        store.close()


# Defect: migration 0015 widens the index on ``declared_files`` to (enterprise, path, sha256); on
# PostgreSQL a btree entry holds at most 2704 bytes, so a file whose real path is about 2,620 to
# 2,690 bytes long (which the primary key on the path alone still takes) can no longer be applied:
# the INSERT into ``declared_files`` fails ("index row size ... exceeds btree version 4 maximum").
def test_a_file_at_a_long_real_path_is_applied_on_postgresql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rnd = random.Random(3)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    root = tmp_path.resolve()
    target = 2642  # the longest file, "a/enterprise.yaml", then has a real path of 2,660 bytes
    while len(str(root)) < target:
        room = target - len(str(root)) - 1
        root = root / "".join(rnd.choice(alphabet) for _ in range(min(200, max(room, 1))))
    assert len(str(root)) == target
    monkeypatch.chdir(tmp_path)
    os.makedirs(root)
    write(root, registry(A, "a"))
    url = new_store_url("postgresql", tmp_path)
    try:
        store = applied(root, url, [root])
        try:
            files = store.applied_files([A])[A]
            assert max(len(p.encode()) for p in files) == 2660
        finally:
            store.close()
    finally:
        drop_store(url)


# Defect: the same limit when a store is upgraded: a store that already remembers a file at such a
# path cannot be opened, since migration 0015 cannot build its index.
def test_a_store_remembering_a_long_path_still_opens_on_postgresql(tmp_path: Path) -> None:
    url = new_store_url("postgresql", tmp_path)
    try:
        open_store(url).close()
        rnd = random.Random(5)  # text that does not compress: an index entry holds it as it is
        long = "/" + "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(2650))
        outside_write(url, "DROP INDEX declared_files_enterprise")
        outside_write(url, "CREATE INDEX declared_files_enterprise ON declared_files (enterprise)")
        outside_write(
            url, f"INSERT INTO declared_files (path, enterprise, sha256) VALUES ('{long}', '{A}', '{'ab' * 32}')"
        )
        outside_write(url, "DELETE FROM schema_migrations WHERE version = 15")
        store = open_store(url)
        try:
            assert store.sync_records([long])[0] == {long: A}
        finally:
            store.close()
    finally:
        drop_store(url)


# --- stored users converted once per combination -------------------------------------------------


def test_stored_users_read_as_their_own_columns_say(tmp_path: Path, store_url: str) -> None:
    """Rows of one combination share their fields; rows of another never get them, whatever the memo holds."""
    root = tmp_path / "reg"
    files = registry(A, "a")
    block(files, "a/u1.yaml")["users"] += [user(40, services=("dmfa", "dimona")), user(41, services=("dimona", "dmfa"))]
    write(root, files)
    store = applied(root, store_url, [root])
    try:
        # A hand's write: the same services in another order and spacing, one more, a protected flag.
        outside_write(
            store_url,
            "UPDATE users SET services = '  dmfa  dimona dimona ', protected = 1 WHERE ssin = '"
            + user(40)["ssin"]
            + "'",
        )
        records = store.read([A])[A].state.records
        first = records[Address(A, Kind.USER, "employer", user(40)["ssin"])]
        second = records[Address(A, Kind.USER, "employer", user(41)["ssin"])]
        assert dict(first) == {"services": ("dimona", "dmfa"), "protected": True, "until": None, "profiles": ()}
        assert dict(second) == {"services": ("dimona", "dmfa"), "protected": False, "until": None, "profiles": ()}
        payroll = records[Address(A, Kind.USER, "employer", user(10)["ssin"])]
        assert dict(payroll)["profiles"] == ("payroll",)
    finally:
        store.close()


def test_stored_users_when_the_memo_is_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tables, "_USER_FIELDS", {})
    monkeypatch.setattr(tables, "_USER_FIELDS_KEPT", 1)
    table = tables.TABLES[Kind.USER]
    rows = [
        (A, "q", "1", "b a", 0, None, ""),
        (A, "q", "2", "c", 1, "2030-01-01", "p o"),
        (A, "q", "3", "b a", 0, None, ""),
    ]
    into: dict = {}
    table.collect(rows, into)
    got = [dict(into[A][Address(A, Kind.USER, "q", row[2])]) for row in rows]
    assert got == [
        {"services": ("a", "b"), "protected": False, "until": None, "profiles": ()},
        {"services": ("c",), "protected": True, "until": "2030-01-01", "profiles": ("o", "p")},
        {"services": ("a", "b"), "protected": False, "until": None, "profiles": ()},
    ]
    assert len(tables._USER_FIELDS) == 1


def test_stored_people_keep_each_their_own_language_whatever_the_column_holds() -> None:
    """People are read in one loop that looks each language's pair up once: a store neighbour's
    odd values (another type, many distinct texts) still land on their own person, unshared."""
    table = tables.TABLES[Kind.PERSON]
    odd = ["nl", None, "fr", 7, b"de", "nl", 1, 1.0, True, *(f"x{i}" for i in range(50))]
    rows = [(A, f"{i:011d}", f"name {i}", f"{i}@x.example", language) for i, language in enumerate(odd)]
    rows.append((B, "00000000001", "other", "o@x.example", "nl"))
    into: dict = {}
    table.collect(rows, into)
    assert set(into) == {A, B}
    for i, language in enumerate(odd):
        fields = into[A][Address(A, Kind.PERSON, "", f"{i:011d}")]
        assert fields == (("name", f"name {i}"), ("email", f"{i}@x.example"), ("language", language))
        assert type(fields[2][1]) is type(language)  # 1, 1.0 and True are equal, not the same value
    assert into[B] == {
        Address(B, Kind.PERSON, "", "00000000001"): (("name", "other"), ("email", "o@x.example"), ("language", "nl"))
    }


def test_shared_pairs_tell_equal_values_of_other_types_apart() -> None:
    """1, 1.0 and True are equal dictionary keys: the pair shared for one must not stand for another."""
    from reconciler.records.state import language_field, shared

    for name in ("language", "until"):
        values = [shared(name, value)[1] for value in (1, 1.0, True, 1)]
        assert [type(value) for value in values] == [int, float, bool, int]
    assert [type(language_field(value)[1]) for value in (True, 1, 1.0, "nl", None)] == [
        bool,
        int,
        float,
        str,
        type(None),
    ]
    assert language_field("nl") is language_field("nl") is shared("language", "nl")


# --- the diff ------------------------------------------------------------------------------------


def _reference_diff(desired: EnterpriseState, stored: EnterpriseState | None) -> list[Change]:
    """The diff as it was: every creation, then every update, then every deletion."""
    from reconciler.plan.plan import offboarded

    before = stored.records if stored is not None else {}
    after = offboarded(desired.number, before) if desired.offboard else desired.records
    changes = [Change(Action.CREATE, a, None, f) for a, f in after.items() if a not in before]
    changes += [Change(Action.UPDATE, a, before[a], f) for a, f in after.items() if a in before and before[a] != f]
    changes += [Change(Action.DELETE, a, f, None) for a, f in before.items() if a not in after]
    return changes


_ADDRESSES = [Address(A, Kind.ENTERPRISE)] + [Address(A, Kind.USER, "employer", f"{n:011d}") for n in range(6)]


def _fields(address: Address, value: int) -> tuple:
    if address.kind is Kind.ENTERPRISE:
        return fields(Kind.ENTERPRISE, name=f"E{value}")
    return fields(Kind.USER, services=(f"s{value}",), protected=bool(value % 2), profiles=())


_STATES = st.dictionaries(st.sampled_from(_ADDRESSES), st.integers(0, 2)).map(
    lambda d: {a: _fields(a, v) for a, v in d.items()}
)


@settings(max_examples=400, deadline=None)
@given(_STATES, st.one_of(st.none(), _STATES), st.booleans())
def test_the_diff_says_what_it_said(desired: dict, stored: dict | None, offboard: bool) -> None:
    mine = EnterpriseState(A, desired, offboard=offboard)
    theirs = EnterpriseState(A, stored) if stored is not None else None
    found = diff_enterprise(mine, theirs)
    assert len(found) == len(set(found))
    assert Counter(found) == Counter(_reference_diff(mine, theirs))


# --- the summary ---------------------------------------------------------------------------------


def test_the_summary_counts_as_it_did() -> None:
    from reconciler.declare.identifiers import format_enterprise_number
    from reconciler.render.neutral import text

    rnd = random.Random(11)
    parts = []
    for number in (A, B):
        before = {
            a._replace(enterprise=number): _fields(a, rnd.randint(0, 2)) for a in _ADDRESSES if rnd.random() < 0.7
        }
        after = {a._replace(enterprise=number): _fields(a, rnd.randint(0, 2)) for a in _ADDRESSES if rnd.random() < 0.7}
        after[Address(number, Kind.QUALITY, "\u202eevil")] = fields(Kind.QUALITY, activated=True)
        parts.append(
            plan_enterprise(
                number, EnterpriseState(number, after), StoredEnterprise(EnterpriseState(number, before), 1), Policy()
            )
        )
    plan = combine(parts, Policy())
    counts: dict = {}
    for change in plan.changes:
        row = counts.setdefault((change.address.enterprise, change.address.quality), dict.fromkeys(Action, 0))
        row[change.action] += 1
    places = {key: f"{format_enterprise_number(key[0])}  {text(key[1]) or '(enterprise)'}" for key in counts}
    width = max(len(place) for place in places.values())
    expected = [
        f"  {places[k]:<{width}}  +{r[Action.CREATE]} ~{r[Action.UPDATE]} -{r[Action.DELETE]}"
        for k, r in counts.items()
    ]
    shown = "".join(summary_chunks(plan)).splitlines()
    assert shown[2 : 2 + len(expected)] == expected
    assert "\u202e" not in "".join(shown)


# --- repeats in a user's lists, now left to the schema alone ---------------------------------------

_REPEATS = """\
enterprise:
  number: "0999.055.557"
  name: Bakkerij
main_access_manager:
  ssin: "75031366754"
  name: Els Mertens
  email: els@goudenkorst.example
profiles:
  payroll: [dimona, dmfa]
qualities:
  - code: employer
    default: true
    nsso_number: "010-4521873-24"
    notification_email: administratie@goudenkorst.example
    users:
      - ssin: "80010112345"
        name: A B
        email: a@b.example
        services: {services}
        profiles: {profiles}
"""


@pytest.mark.parametrize(
    ("services", "profiles"),
    [("[dimona, dimona]", "[]"), ("[dimona]", "[payroll, payroll]"), ('[dimona, "dimona"]', "[]")],
)
@pytest.mark.parametrize("fast", [True, False])
def test_a_user_listing_an_item_twice_never_becomes_a_model(
    tmp_path: Path, services: str, profiles: str, fast: bool
) -> None:
    path = tmp_path / "e.yaml"
    path.write_text(_REPEATS.format(services=services, profiles=profiles), encoding="utf-8")
    document, problems = load_file(path, fast=fast)
    assert document is not None and problems == []
    declarations, found = group_documents([document])
    assert declarations == {}
    assert [p.rule for p in found] == ["S005"]


def test_kept_facts_with_users_in_their_skeleton_are_refused() -> None:
    """A tampered store or cache may put users back in a skeleton, which ``skeleton_of`` never writes:
    such facts are refused (the enterprise is read whole), valid users or not."""
    files = registry(A, "a")
    skeleton = files["a/u1.yaml"]
    columns: dict[str, list] = {name: [] for name in COLUMNS}
    skeleton["qualities"][0]["users"] = [user(10, services=("dimona", "dimona"))]
    assert facts_from({"format": FORMAT, "skeleton": skeleton, "users": columns}) is None
    skeleton["qualities"][0]["users"] = [user(10, services=("dimona",))]
    assert facts_from({"format": FORMAT, "skeleton": skeleton, "users": columns}) is None
    skeleton["qualities"][0]["users"] = []
    assert facts_from({"format": FORMAT, "skeleton": skeleton, "users": columns}) is None
    del skeleton["qualities"][0]["users"]
    assert facts_from({"format": FORMAT, "skeleton": skeleton, "users": columns}) is not None


# --- appointments as named tuples ----------------------------------------------------------------


def test_an_appointment_compacts_its_ssin_once() -> None:
    from reconciler.declare.declared import Site
    from reconciler.declare.source import SourceDocument

    site = Site(SourceDocument("x.yaml", None, {}, {}, {}), ())
    valid = appoint(Role.USER, "employer", Person(ssin="750313-667.54", name="A", email="a@b.example"), site)
    assert (valid.ssin, valid.ssin_valid) == ("75031366754", True)
    invalid = appoint(Role.USER, "employer", Person(ssin=" 75031366755 ", name="A", email="a@b.example"), site)
    assert (invalid.ssin, invalid.ssin_valid) == ("75031366755", False)
    assert valid.site is site and valid.quality == "employer" and valid.role is Role.USER


def test_the_examples_still_plan_the_same_from_both_readers(tmp_path: Path) -> None:
    """Sites and appointments are what messages and authority checks point with: the examples read
    by the fast path and exactly give the same declarations' appointments."""
    root = tmp_path / "reg"
    shutil.copytree(EXAMPLES, root)
    paths = sorted(root.rglob("*.yaml"))
    fast = [d for d, _ in (load_file(p, fast=True) for p in paths) if d is not None]
    exact = [d for d, _ in (load_file(p) for p in paths) if d is not None]
    fast_declared, _ = group_documents(fast)
    exact_declared, _ = group_documents(exact)
    assert set(fast_declared) == set(exact_declared) and fast_declared

    def summary(declared: dict) -> list:
        return sorted(
            (n, a.role.value, a.quality or "", a.ssin, a.ssin_valid, a.site.document.path, a.site.path)
            for n, e in declared.items()
            for a in e.appointments()
        )

    assert summary(fast_declared) == summary(exact_declared)


def test_real_paths_from_the_listing_are_the_systems(tmp_path: Path) -> None:
    """The real path the listing gives each file it walked to, and the one the hashing looks up for
    the others, are ``os.path.realpath``'s: through a root given as a link, ``..`` in the path
    given, a file that is a link into another folder, and a file given by name through a link."""
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "t.yaml").write_text("a: b\n", encoding="utf-8")
    root = tmp_path / "reg"
    (root / "x" / "y").mkdir(parents=True)
    (root / "x" / "y" / "a.yaml").write_text("a: b\n", encoding="utf-8")
    (root / "x" / "linked.yaml").symlink_to(target / "t.yaml")
    (tmp_path / "door").symlink_to(root, target_is_directory=True)
    given = [tmp_path / "door", root / "x" / ".." / "x", tmp_path / "door" / "x" / "linked.yaml"]
    found, problems, walked = listing(given)
    assert problems == []
    assert str(tmp_path / "door" / "x" / "linked.yaml") in found
    reals, hashed = _hashed(found, None, walked)
    assert reals == {path: os.path.realpath(path) for path in found}
    assert set(hashed) == {os.path.realpath(path) for path in found}
    assert all(walked[path] == (os.path.realpath(path), os.lstat(path).st_ino) for path in walked)
    assert not any(path.endswith("linked.yaml") for path in walked)  # a link: its real path is asked for
