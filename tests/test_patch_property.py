"""Planning from the changed files alone gives the plan a full read gives.

A registry of two enterprises split over many files is applied; then, round after round,
random edits are made to its files (users added, removed, moved between files and qualities,
renamed, given other services, languages, profiles, end dates, handles; files renamed, split,
merged and deleted; profiles, access managers and qualities changed; and edits that break a
rule across files: a user declared twice, one person with two names or two languages, users in
a deactivated quality, a profile removed that users still list).  Each round is planned twice,
as a pull request is (unchanged enterprises skipped, changed ones planned from their changed
files where ``plan.patch`` can) and with ``full`` (every file read), and the two must agree on
every problem, warning, change, gate and sync record.  A valid round is then applied with the
facts it carries, so that later rounds plan on facts written by patched applies too.  On both
stores.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import random
from pathlib import Path

import pytest
import yaml

import reconciler.plan.partial
import reconciler.plan.pipeline
from reconciler.apply.execute import apply_plan
from reconciler.declare.catalogue import load_catalogue
from reconciler.declare.identifiers import nsso_check_digits
from reconciler.plan.gates import OVERRIDES, Policy
from reconciler.plan.pipeline import plan_paths
from reconciler.store.backends import open_store

ROUNDS = 60
BIG, SMALL = "0900000048", "0900000147"
SENDER = {
    "number": "230451",
    "channel": "sftp",
    "ssh_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0ZXN0a2V5Zm9yc3NkdmV4YW1wbGVvbmx5MDAwMQ batch",
    "technical_contact": {"name": "Batch Operations", "email": "batch@example.org"},
}


class Registry:
    """The declaration as data: per file (relative path) its document, written out as YAML."""

    def __init__(self, root: Path, rng: random.Random) -> None:
        self.root = root
        self.rng = rng
        self.serial = 0
        self.files: dict[str, dict] = {}
        self.offered = {code: sorted(q.services) for code, q in load_catalogue().qualities.items()}

    def ssin(self) -> str:
        self.serial += 1
        n = self.serial
        body = f"{70 + n // 336 % 30:02d}{n // 28 % 12 + 1:02d}{n % 28 + 1:02d}{n % 997 + 1:03d}"
        return f"{body}{97 - int(body) % 97:02d}"

    def person(self, ssin: str | None = None) -> dict:
        ssin = ssin or self.ssin()
        return {"ssin": ssin, "name": f"Person {ssin[-5:]}", "email": f"p{ssin}@example.org"}

    def user(self, code: str) -> dict:
        found = self.person()
        found["services"] = self.rng.sample(self.offered[code], 2)
        if code == "employer" and self.rng.random() < 0.3:
            found["profiles"] = [self.rng.choice(["payroll", "declarations"])]
        if self.rng.random() < 0.1:
            found["language"] = self.rng.choice(["nl", "fr", "de"])
        return found

    def write(self) -> None:
        for path in self.root.rglob("*.yaml"):
            path.unlink()
        for name, document in self.files.items():
            path = self.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")

    def user_files(self) -> list[str]:
        return [name for name, d in self.files.items() if any(q.get("users") for q in d.get("qualities", []))]


def build(root: Path, rng: random.Random) -> Registry:
    registry = Registry(root, rng)
    shapes = ((BIG, "big", ["employer", "mandatary"], 4), (SMALL, "small", ["employer"], 1))
    for number, folder, codes, files_per in shapes:
        head = {"number": number}
        registry.files[f"{folder}/enterprise.yaml"] = {
            "enterprise": {**head, "name": f"Enterprise {number}", "language": "nl"},
            "main_access_manager": registry.person(),
            "co_main_access_managers": [registry.person()],
            "profiles": {"payroll": ["dimona", "dmfa", "drs"], "declarations": ["dimona", "dmfa"]},
        }
        for position, code in enumerate(codes):
            settings: dict = {"code": code, "notification_email": f"{code}@example.org"}
            if position == 0:
                settings["default"] = True
            if code == "employer":
                registration = 1_000_000 + int(number[-3:])
                settings["nsso_number"] = f"010-{registration}-{nsso_check_digits(registration):02d}"
                settings["senders"] = [SENDER] if number == BIG else []
                settings["routing"] = [{"service": "dmfa", "sender": "230451"}] if number == BIG else []
            settings["access_manager"] = registry.person()
            settings["co_access_managers"] = [registry.person()]
            registry.files[f"{folder}/{code}.yaml"] = {"enterprise": head, "qualities": [settings]}
            for index in range(files_per):
                users = [registry.user(code) for _ in range(6)]
                registry.files[f"{folder}/{code}-users-{index}.yaml"] = {
                    "enterprise": head,
                    "qualities": [{"code": code, "users": users}],
                }
    registry.write()
    return registry


def _users(document: dict) -> list[dict]:
    return [user for quality in document.get("qualities", []) for user in quality.get("users", [])]


def _a_user(registry: Registry) -> tuple[str, dict, dict] | None:
    """(file, quality block, user) of a random user."""
    names = registry.user_files()
    if not names:
        return None
    name = registry.rng.choice(names)
    block = registry.rng.choice([q for q in registry.files[name]["qualities"] if q.get("users")])
    return name, block, registry.rng.choice(block["users"])


def _settings(registry: Registry, name: str, code: str) -> dict:
    """The block holding a quality's settings in the folder of file ``name`` (wherever renames and
    merges moved it), or an empty one the edit changes to no effect."""
    folder = name.split("/")[0]
    for other, document in registry.files.items():
        for block in document.get("qualities", []) if other.startswith(folder + "/") else []:
            if block["code"] == code and "notification_email" in block:
                return block
    return {}


def edit(registry: Registry) -> str:
    """One random edit; returns what it was, for the message of a failing round."""
    rng = registry.rng
    found = _a_user(registry)
    kind = rng.choice(EDITS)
    if found is None and kind not in ("add_file",):
        kind = "add_file"
    if found is not None:
        name, block, user = found
    if kind == "remove_user":
        block["users"].remove(user)
    elif kind == "add_user":
        block["users"].append(registry.user(block["code"]))
    elif kind == "move_user":
        block["users"].remove(user)
        target = registry.rng.choice(registry.user_files() or [name])
        tblock = next((q for q in registry.files[target]["qualities"] if q["code"] == block["code"]), None)
        (tblock or block)["users"] = [*(tblock or block).get("users", []), user]
    elif kind == "services":
        user["services"] = rng.sample(registry.offered[block["code"]], rng.randint(1, 3))
    elif kind == "language":
        user["language"] = rng.choice(["nl", "fr", "de"])
    elif kind == "rename_person":
        user["name"] = user["name"] + " Jr"
    elif kind == "duplicate_user":  # H006 when the other file is of the same quality
        target = rng.choice(registry.user_files())
        registry.files[target]["qualities"][0].setdefault("users", []).append(dict(user))
    elif kind == "same_person_elsewhere":  # one person in a second role; now and then with another e-mail
        twin = dict(user, services=["e-box"])
        twin.pop("profiles", None)
        if rng.random() < 0.3:
            twin["email"] = "other@example.org"
        blocks = [q for d in registry.files.values() for q in d.get("qualities", []) if q["code"] == "mandatary"]
        if blocks:
            rng.choice(blocks).setdefault("users", []).append(twin)
    elif kind == "until":
        # A day long past (W001: the enterprise is read whole while it stays), far ahead, or no day at all (H023).
        user["until"] = rng.choice(["2020-01-01", "2099-12-31", "2099-12-31", "2099-12-31", "2027-02-30"])
    elif kind == "github":
        user["github"] = f"gh{user['ssin'][-4:]}"
    elif kind == "profiles":
        if block["code"] == "employer":
            user["profiles"] = [rng.choice(["payroll", "declarations", "unknown"])]
    elif kind == "profile_services":
        header = registry.files[f"{name.split('/')[0]}/enterprise.yaml"]
        header["profiles"]["payroll"] = rng.sample(["dimona", "dmfa", "drs", "e-box"], 2)
    elif kind == "drop_profile":
        header = registry.files[f"{name.split('/')[0]}/enterprise.yaml"]
        header["profiles"].pop("declarations", None)
    elif kind == "deactivate":  # H007 if the quality has users
        settings = _settings(registry, name, block["code"])
        if not settings.get("default"):
            settings["activated"] = False
            settings.pop("access_manager", None)
            settings["co_access_managers"] = []
    elif kind == "access_manager":
        settings = _settings(registry, name, block["code"])
        settings["access_manager"] = registry.person()
    elif kind == "administrators_until":  # an end date for a co-access manager, sometimes past the manager's
        settings = _settings(registry, name, block["code"])
        for helper in settings.get("co_access_managers", []):
            helper["until"] = rng.choice(["2030-06-30", "2099-12-31"])
        if settings.get("access_manager") and rng.random() < 0.5:
            settings["access_manager"]["until"] = "2031-01-01"
    elif kind == "administrator_language":  # an administrator who is also a user left unread
        settings = _settings(registry, name, block["code"])
        if settings.get("access_manager"):
            twin = dict(user, language=rng.choice(["nl", "fr", None]))
            twin.pop("services", None)
            twin.pop("profiles", None)
            twin.pop("until", None)
            twin.pop("protected", None)
            settings["co_access_managers"] = [*settings.get("co_access_managers", []), twin]
    elif kind == "enterprise_language":
        header = registry.files[f"{name.split('/')[0]}/enterprise.yaml"]
        header["enterprise"]["language"] = rng.choice(["nl", "fr", "de"])
    elif kind == "rename_file":
        registry.files[name.replace(".yaml", "-renamed.yaml")] = registry.files.pop(name)
    elif kind == "split_file":
        half = len(block["users"]) // 2
        document = registry.files[name]
        registry.files[name.replace(".yaml", "-split.yaml")] = {
            "enterprise": document["enterprise"],
            "qualities": [{"code": block["code"], "users": block["users"][half:]}],
        }
        block["users"] = block["users"][:half]
    elif kind == "merge_files":
        others = [n for n in registry.user_files() if n != name and n.split("/")[0] == name.split("/")[0]]
        if others:
            other = registry.files.pop(rng.choice(others))
            registry.files[name]["qualities"] += other["qualities"]
    elif kind == "delete_file":
        registry.files.pop(name)
    elif kind == "add_file":
        registry.files[f"big/employer-new-{registry.serial}.yaml"] = {
            "enterprise": {"number": BIG},
            "qualities": [{"code": "employer", "users": [registry.user("employer") for _ in range(3)]}],
        }
    return kind


EDITS = [
    "remove_user",
    "add_user",
    "add_user",
    "move_user",
    "services",
    "language",
    "rename_person",
    "duplicate_user",
    "same_person_elsewhere",
    "until",
    "github",
    "profiles",
    "profile_services",
    "drop_profile",
    "deactivate",
    "access_manager",
    "administrators_until",
    "administrator_language",
    "enterprise_language",
    "rename_file",
    "split_file",
    "merge_files",
    "delete_file",
    "add_file",
]


def _compare(incremental, full, what: str) -> None:
    assert [str(p) for p in incremental.problems] == [str(p) for p in full.problems], what
    if full.problems:
        return
    mine, theirs = incremental.plan, full.plan
    read = {path for s in mine.sync for path, _ in s[3]}  # skipped enterprises say nothing, warnings included
    expected = [str(w) for w in full.warnings if os.path.realpath(w.position.path) in read]
    assert [str(w) for w in incremental.warnings] == expected, what
    assert mine.changes == theirs.changes, what
    assert mine.refusals == theirs.refusals, what
    assert mine.versions == theirs.versions, what
    planned = {number for number, *_ in mine.sync}
    assert mine.sync == tuple(s for s in theirs.sync if s[0] in planned), what
    assert mine.ending == tuple(e for e in theirs.ending if e.enterprise in planned), what
    assert mine.bundles == tuple(b for b in theirs.bundles if b[0] in planned), what
    assert set(mine.facts) == {f for f in theirs.facts if f[0] in {p for s in mine.sync for p, _ in s[3]}}, what


@pytest.mark.parametrize("seed", [1, 2])
def test_patched_plans_equal_full_plans(
    tmp_path: Path, store_url: str, seed: int, monkeypatch, patched_enterprises: list[str]
) -> None:
    rng = random.Random(seed)
    root = tmp_path / "registry"
    registry = build(root, rng)
    monkeypatch.chdir(tmp_path)
    patched = patched_enterprises
    store = open_store(store_url)
    try:
        policy = Policy()
        first = plan_paths([root], store, policy, keep_facts=True)
        assert first.problems == []
        apply_plan(first.plan, store, overrides=frozenset(OVERRIDES))
        valid_rounds = 0
        last_valid = copy.deepcopy(registry.files)
        for round_number in range(ROUNDS):
            edits = [edit(registry) for _ in range(rng.randint(1, 3))]
            registry.write()
            what = f"seed {seed}, round {round_number}: {edits}"
            incremental = plan_paths([root], store, policy, keep_facts=True)
            full = plan_paths([root], store, policy, full=True, keep_facts=True)
            _compare(incremental, full, what)
            if incremental.problems:
                registry.files = copy.deepcopy(last_valid)  # the edits are abandoned, as a pull request would be
                continue
            valid_rounds += 1
            apply_plan(incremental.plan, store, overrides=frozenset(OVERRIDES))
            last_valid = copy.deepcopy(registry.files)
        assert valid_rounds >= ROUNDS // 4
        assert len(patched) >= ROUNDS // 4, f"only {len(patched)} enterprises were planned from their changed files"
    finally:
        store.close()


def test_a_pull_request_reads_only_the_files_it_changed(tmp_path: Path, store_url: str, monkeypatch) -> None:
    registry = build(tmp_path / "registry", random.Random(3))
    store = open_store(store_url)
    read: list[str] = []
    real = reconciler.plan.partial.load_files

    def recording(files, fast=False):
        read.extend(str(f) for f in files)
        return real(files, fast)

    monkeypatch.setattr(reconciler.plan.partial, "load_files", recording)
    try:
        apply_plan(plan_paths([registry.root], store, Policy(), keep_facts=True).plan, store)
        registry.files["big/employer-users-2.yaml"]["qualities"][0]["users"].pop()
        registry.write()
        planned = plan_paths([registry.root], store, Policy())
        assert read == [str(registry.root / "big" / "employer-users-2.yaml")]
        assert [c.action.value for c in planned.plan.changes] == ["delete", "delete"]
        assert planned.plan.skipped == (SMALL,)
    finally:
        store.close()


def _facts_kept(url: str, root: Path) -> int:
    store = open_store(url)
    try:
        paths = [os.path.realpath(p) for p in root.rglob("*.yaml")]
        return sum(1 for _, text in store.file_facts(paths).values() if text is not None)
    finally:
        store.close()


def test_apply_keeps_the_facts_of_every_file(tmp_path: Path, store_url: str, run) -> None:
    registry = build(tmp_path / "registry", random.Random(4))
    result = run("apply", registry.root, "--state", store_url, "--auto-approve", "--defer-codes")
    assert result.exit_code == 0, result.output
    assert _facts_kept(store_url, registry.root) == len(registry.files)


@pytest.mark.parametrize("signed", [False, True])
def test_a_plan_file_carries_facts_only_when_signed(
    tmp_path: Path, store_url: str, run, monkeypatch: pytest.MonkeyPatch, signed: bool
) -> None:
    """Facts are taken by later plans for what unchanged files say: from a plan file anyone could
    rewrite (no RECONCILER_PLAN_KEY) none are kept, and the next plan reads those files again."""
    if signed:
        monkeypatch.setenv("RECONCILER_PLAN_KEY", "a-key-of-the-ci")
    registry = build(tmp_path / "registry", random.Random(5))
    out = tmp_path / "plan.json"
    assert run("plan", registry.root, "--state", store_url, "--out", out).exit_code == 0
    assert ('"facts"' in out.read_text()) is signed
    result = run("apply", out, "--state", store_url, "--auto-approve", "--defer-codes")
    assert result.exit_code == 0, result.output
    assert _facts_kept(store_url, registry.root) == (len(registry.files) if signed else 0)


def test_forged_facts_in_an_unsigned_plan_file_are_not_kept(tmp_path: Path, store_url: str, run) -> None:
    registry = build(tmp_path / "registry", random.Random(6))
    out = tmp_path / "plan.json"
    assert run("plan", registry.root, "--state", store_url, "--out", out).exit_code == 0
    document = json.loads(out.read_text())
    first = os.path.realpath(registry.root / "big" / "enterprise.yaml")
    document["facts"] = {first: '{"format": 1}'}
    del document["checksum"]
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    document["checksum"] = "sha256:" + hashlib.sha256(canonical).hexdigest()  # as anyone can recompute it
    out.write_text(json.dumps(document))
    assert run("apply", out, "--state", store_url, "--auto-approve", "--defer-codes").exit_code == 0
    assert _facts_kept(store_url, registry.root) == 0


@pytest.mark.parametrize("kind", ["file", "link", "device"])
def test_a_cache_folder_that_is_no_folder_of_ours_is_neither_read_nor_written(
    tmp_path: Path, store_url: str, run, kind: str
) -> None:
    """plan --cache-dir at a file (refused as a usage error), a link to a folder, or /dev/null (the files
    are hashed, nothing is written)."""
    registry = build(tmp_path / "registry", random.Random(7))
    assert run("apply", registry.root, "--state", store_url, "--auto-approve", "--defer-codes").exit_code == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    target = {"file": tmp_path / "a-file", "link": tmp_path / "a-link", "device": Path(os.devnull)}[kind]
    if kind == "file":
        target.write_text("not a cache\n")
    elif kind == "link":
        target.symlink_to(elsewhere)
    result = run("plan", registry.root, "--state", store_url, "--cache-dir", target, "--detailed-exitcode")
    if kind == "file":
        assert result.exit_code == 2 and "is a file" in result.output
        assert target.read_text() == "not a cache\n"
    else:
        assert result.exit_code == 0, result.output
    assert list(elsewhere.iterdir()) == []
