"""Concurrency, locks, crashes and copies, against both stores, with real processes.

- Eight processes apply at once: four conflicting plans for one enterprise and four plans
  for four others.  Afterwards the store is exactly one serial order of the applies that
  succeeded, every stale plan was refused, and no update was lost.
- Locks are per enterprise (PostgreSQL) or per file (SQLite), and a timeout names the holder.
- ``apply`` killed with SIGKILL after any number of statements leaves the store exactly as
  before, the lock free, and a new apply succeeds.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from conftest import drop_store, new_store_url

from reconciler.apply.execute import apply_plan
from reconciler.plan.desired import load_desired
from reconciler.plan.gates import OVERRIDES
from reconciler.plan.plan import make_plan
from reconciler.store.backends import open_store
from reconciler.store.copy import compare
from reconciler.store.port import LockTimeout, StalePlan, StoreError
from reconciler.store.sql import KILL_AFTER_ENV

ENTERPRISES = ["0999010027", "0999020024", "0999030021", "0999040018", "0999050015"]
EVERY_OVERRIDE = frozenset(OVERRIDES)
PEOPLE = [
    "75031366754",
    "58022754967",
    "61061906014",
    "87040208957",
    "82070324776",
    "60091406166",
    "91020864669",
    "95100259156",
    "92070222745",
    "57092813789",
]


def declare(folder: Path, number: str, variant: int, users: int = 3) -> Path:
    """A valid enterprise whose notification address and users depend on ``variant``."""
    folder.mkdir(parents=True, exist_ok=True)
    people = PEOPLE[variant % 3 : variant % 3 + users]
    lines = [
        "enterprise:",
        f'  number: "{number}"',
        f"  name: Enterprise {number}",
        "main_access_manager:",
        f'  ssin: "{PEOPLE[9]}"',
        "  name: Main Manager",
        "  email: main@x.example",
        "qualities:",
        "  - code: employer",
        "    default: true",
        '    nsso_number: "010-4521873-24"',
        f"    notification_email: variant{variant}@x.example",
        "    users:",
    ]
    for ssin in people:
        lines += [
            f'      - ssin: "{ssin}"',
            f"        name: Person {ssin}",
            f"        email: p{ssin}@x.example",
            f"        services: [dimona{', dmfa' if variant % 2 else ''}]",
        ]
    path = folder / f"{number}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def eventually(condition, seconds: float = 10.0) -> bool:
    """PostgreSQL ends a killed client's session (and its locks) a moment after the kill."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def desired_of(path: Path):
    desired, problems = load_desired([path])
    assert problems == []
    return desired.enterprises


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path):
    made = new_store_url(request.param, tmp_path)
    yield made
    drop_store(made)


def _worker(url: str, path: str, barrier, results, name: str) -> None:
    try:
        _apply_with_retries(url, path, barrier, results, name)
    except BaseException as error:  # report instead of leaving the test waiting on the queue
        results.put((name, [f"failed: {error!r}"]))
        raise


def _apply_with_retries(url: str, path: str, barrier, results, name: str) -> None:
    store = open_store(url, lock_timeout=120)
    desired = desired_of(Path(path))
    plan = make_plan(desired, store.read(desired))
    barrier.wait()
    outcomes = []
    for _ in range(20):
        try:
            apply_plan(plan, store, overrides=EVERY_OVERRIDE)
        except StalePlan:
            outcomes.append("stale")
            plan = make_plan(desired, store.read(desired))
            continue
        number = next(iter(desired))
        outcomes.append(f"applied@{store.read([number])[number].version}")
        break
    store.close()
    results.put((name, outcomes))


def test_eight_processes_conflicting_and_parallel(url: str, tmp_path: Path) -> None:
    store = open_store(url)
    for number in ENTERPRISES:
        apply_plan(make_plan(desired_of(declare(tmp_path / "base", number, 0)), {}), store)
    base = {number: stored.version for number, stored in store.read().items()}
    jobs = [(f"conflict{i}", declare(tmp_path / f"c{i}", ENTERPRISES[0], i + 1)) for i in range(4)]
    jobs += [(f"other{i}", declare(tmp_path / f"o{i}", ENTERPRISES[i + 1], 7)) for i in range(4)]
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(len(jobs)), context.Queue()
    processes = [context.Process(target=_worker, args=(url, str(path), barrier, results, name)) for name, path in jobs]
    for process in processes:
        process.start()
    outcomes = dict(results.get(timeout=300) for _ in processes)
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    final = store.read()
    # The four conflicting applies happened one after another: versions base+1 .. base+4,
    # every one but the first was refused as stale at least once, and the store holds
    # exactly what the last of them declared.
    conflicting = {name: outcomes[name] for name, _ in jobs[:4]}
    versions = sorted(int(o[-1].split("@")[1]) for o in conflicting.values())
    assert versions == [base[ENTERPRISES[0]] + n for n in range(1, 5)]
    assert sum(o.count("stale") for o in conflicting.values()) >= 3
    assert all(o[-1].startswith("applied@") for o in conflicting.values())
    last = max(conflicting, key=lambda name: int(conflicting[name][-1].split("@")[1]))
    winner = desired_of(dict(jobs)[last])[ENTERPRISES[0]]
    assert final[ENTERPRISES[0]].state == winner
    assert final[ENTERPRISES[0]].version == base[ENTERPRISES[0]] + 4
    # The others never conflicted: one apply each, nothing lost.
    for name, path in jobs[4:]:
        number = next(iter(desired_of(path)))
        assert outcomes[name] == [f"applied@{base[number] + 1}"]
        assert final[number].state == desired_of(path)[number]
    assert not any(holder.held for holder in store.lock_holders())
    store.close()


def test_lock_timeout_names_the_holder_and_other_enterprises_proceed(url: str, tmp_path: Path) -> None:
    holder_store, other = open_store(url), open_store(url, lock_timeout=1)
    first, second = ENTERPRISES[0], ENTERPRISES[1]
    blocked = make_plan(desired_of(declare(tmp_path / "a", first, 1)), {})
    free = make_plan(desired_of(declare(tmp_path / "b", second, 1)), {})
    with holder_store.transaction(datetime.now(UTC), [first], run="run-42"):
        with pytest.raises(LockTimeout) as refused:
            apply_plan(blocked, other)
        assert "run-42" in str(refused.value)
        if url.startswith("postgresql"):
            assert f"lock of enterprise {first} held by " in str(refused.value)
            apply_plan(free, other)  # another enterprise is not blocked
            assert [h.enterprise for h in other.lock_holders() if h.held] == [first]
        else:
            with pytest.raises(LockTimeout):  # SQLite: one writer per file
                apply_plan(free, other)
    apply_plan(blocked, other)
    holder_store.close()
    other.close()


def _changes_in(path: Path, url: str) -> int:
    store = open_store(url)
    try:
        desired = desired_of(path)
        return len(make_plan(desired, store.read(desired)).changes)
    finally:
        store.close()


def test_sigkill_at_any_point_leaves_the_store_as_it_was(url: str, tmp_path: Path) -> None:
    store = open_store(url, lock_timeout=5)
    apply_plan(make_plan(desired_of(declare(tmp_path / "base", ENTERPRISES[0], 0)), {}), store)
    target = declare(tmp_path / "next", ENTERPRISES[0], 1, users=6)
    total = _changes_in(target, url)
    assert total >= 8
    before, before_accounts = store.read(), store.accounts(ENTERPRISES[0])
    for kill_after in sorted({1, 2, 3, total // 2, total - 1, total}):
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "reconciler",
                "apply",
                str(target),
                "--state",
                url,
                "--auto-approve",
                "--allow-mass-removal",
            ],
            env={**os.environ, KILL_AFTER_ENV: str(kill_after)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert completed.returncode == -signal.SIGKILL, completed.stderr
        assert store.read() == before, f"killed after {kill_after} statements"
        assert store.accounts(ENTERPRISES[0]) == before_accounts
        assert eventually(lambda: not any(holder.held for holder in store.lock_holders()))
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "reconciler",
            "apply",
            str(target),
            "--state",
            url,
            "--auto-approve",
            "--lock-timeout",
            "5",
            "--allow-mass-removal",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert store.read()[ENTERPRISES[0]].state == desired_of(target)[ENTERPRISES[0]]
    store.close()


def test_stale_lock_is_listed_and_released(url: str, tmp_path: Path, run) -> None:
    target = declare(tmp_path / "t", ENTERPRISES[0], 1)
    completed = subprocess.run(
        [sys.executable, "-m", "reconciler", "apply", str(target), "--state", url, "--auto-approve"],
        env={**os.environ, KILL_AFTER_ENV: "2", "GITHUB_ACTOR": "ci-bot", "GITHUB_RUN_ID": "777"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == -signal.SIGKILL
    probe = open_store(url)
    assert eventually(lambda: not any(holder.held for holder in probe.lock_holders()))
    probe.close()
    listed = run("lock", "list", "--state", url)
    assert listed.exit_code == 0
    assert "0999.010.027  ci-bot  run 777  since " in listed.stdout
    assert "stale (holder gone" in listed.stdout
    released = run("lock", "release", "0999.010.027", "--state", url)
    assert released.exit_code == 0 and "held by ci-bot" in released.stdout
    assert run("lock", "list", "--state", url).stdout == "No locks are held.\n"
    assert run("apply", target, "--state", url, "--auto-approve").exit_code == 0


def test_release_of_a_live_lock_needs_force(tmp_path: Path, run) -> None:
    url = new_store_url("postgresql", tmp_path)
    try:
        holder = open_store(url)
        seen = {}
        with (
            pytest.raises(psycopg.OperationalError),  # the forced release ends the holder's session
            holder.transaction(datetime.now(UTC), [ENTERPRISES[0]], run="live-run"),
        ):
            seen["refused"] = run("lock", "release", ENTERPRISES[0], "--state", url)
            seen["forced"] = run("lock", "release", ENTERPRISES[0], "--state", url, "--force")
            holder.connection.execute("SELECT 1")
        assert seen["refused"].exit_code == 1 and "pass --force" in seen["refused"].stderr
        assert seen["forced"].exit_code == 0 and "Released the lock of 0999010027" in seen["forced"].stdout
        assert run("lock", "list", "--state", url).stdout == "No locks are held.\n"
    finally:
        drop_store(url)


@pytest.mark.parametrize(("source_kind", "target_kind"), [("sqlite", "postgresql"), ("postgresql", "sqlite")])
def test_state_migrate_copies_everything(source_kind: str, target_kind: str, tmp_path: Path, run) -> None:
    source_url, target_url = new_store_url(source_kind, tmp_path), new_store_url(target_kind, tmp_path)
    try:
        examples = Path(__file__).resolve().parent.parent / "examples" / "enterprises"
        assert run("apply", examples, "--state", source_url, "--auto-approve").exit_code == 0
        result = run("state", "migrate", "--from", source_url, "--to", target_url)
        assert result.exit_code == 0, result.stderr
        assert "Copied 3 enterprises" in result.stdout
        source, target = open_store(source_url), open_store(target_url)
        assert compare(source, target) == []
        assert run("plan", examples, "--state", target_url, "--detailed-exitcode").exit_code == 0
        again = run("state", "migrate", "--from", source_url, "--to", target_url)
        assert again.exit_code == 1 and "already holds enterprises" in again.stderr
        source.close()
        target.close()
    finally:
        drop_store(source_url)
        drop_store(target_url)


def test_copy_into_a_non_empty_store_is_refused(url: str, tmp_path: Path) -> None:
    store = open_store(url)
    apply_plan(make_plan(desired_of(declare(tmp_path / "x", ENTERPRISES[0], 0)), {}), store)
    with pytest.raises(StoreError, match="already holds enterprises"):
        store.load(store.dump(), datetime.now(UTC))
    store.close()
