"""Plan from files on disk, one enterprise at a time.

Only one enterprise's declaration and stored rows are in memory at once; what is kept is
the plan (its changes), so a registry of a million users is planned in the memory of its
largest enterprise.  Every problem of every file is still collected before failing once.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from reconciler.declare import identifiers
from reconciler.declare.catalogue import load_catalogue
from reconciler.declare.declared import DeclaredEnterprise, Site
from reconciler.declare.diagnostics import Diagnostic
from reconciler.plan.authority import check_authority
from reconciler.plan.canonical import declared_state
from reconciler.plan.desired import (
    Regroup,
    Selection,
    SyncLookup,
    digest,
    exactly,
    iter_enterprises,
    no_files,
    real_path,
    select,
)
from reconciler.plan.drift import drift_of
from reconciler.plan.facts import facts_of
from reconciler.plan.gates import Policy
from reconciler.plan.patch import patch_enterprise
from reconciler.plan.plan import Plan, PlanPart, combine, plan_enterprise
from reconciler.plan.selection import applied_under, not_declared, partial_enterprises, undeclared_enterprises
from reconciler.plan.verdicts import Hashes
from reconciler.records import clock
from reconciler.records.changes import Changes
from reconciler.records.state import Address, StoredEnterprise
from reconciler.store.backends import open_store
from reconciler.store.port import Store


@dataclass(frozen=True)
class Planned:
    plan: Plan
    problems: list[Diagnostic]  # sorted; the plan is meaningless when there are any
    digest: str  # of the declared files the plan was computed from
    warnings: list[Diagnostic] = field(default_factory=list)  # sorted; they fail nothing


@dataclass
class Shard:
    """What planning some of the enterprises gave: put together by ``_plan``."""

    parts: list[PlanPart]
    problems: list[Diagnostic]
    files: dict[str, str]
    documents: int
    revived: set[str]  # enterprises that looked unchanged but got a new file
    given: dict[str, list[str]]  # per enterprise read, valid or not: the files that declare it
    warnings: list[Diagnostic] = field(default_factory=list)


Progress = Callable[[int, int], None]  # (files read so far, files to read)
PARALLEL_FILES = 64  # below this many files, starting processes costs more than it saves
WORKERS_ENV = "RECONCILER_WORKERS"


def plan_paths(
    paths: Iterable[str | Path],
    store: Store,
    policy: Policy,
    full: bool = False,
    progress: Progress | None = None,
    workers: int | None = None,
    only: frozenset[str] = frozenset(),
    keep_facts: bool = False,
    cache: Path | None = None,
) -> Planned:
    """Plan every enterprise declared under ``paths`` (or only those in ``only``, each from the
    files given alone); skip unchanged ones unless ``full``, and plan those with a few changed
    files from those files alone (``plan.patch``).

    Enterprises are planned in ``workers`` processes (default: one per core when there are
    enough files; ``RECONCILER_WORKERS`` overrides), each reading its own enterprises'
    files and stored rows; the result is the same plan as in one process.  With ``keep_facts``
    the plan carries what each file gave (``plan.facts``), for apply to keep.  In the ``cache``
    folder the SHA-256 of each file is remembered by its size and times (``plan.verdicts.Hashes``).
    """
    paths = list(paths)
    sync: SyncLookup | None = None if full else store.sync_records
    hashes = Hashes.open(cache) if cache is not None and sync is not None else None
    try:
        planned = _plan(paths, store, policy, sync, True, progress, workers, only, keep_facts, hashes)
    except Regroup:
        planned = _plan(paths, store, policy, sync, False, progress, 1, only, keep_facts, hashes)
    if hashes is not None:
        hashes.save()
    return planned


def _plan(
    paths: list,
    store: Store,
    policy: Policy,
    sync: SyncLookup | None,
    stream: bool,
    progress: Progress | None,
    workers: int | None,
    only: frozenset[str],
    keep_facts: bool,
    hashes: Hashes | None,
) -> Planned:
    selection = select(paths, sync, policy.expiry_window, hashes)
    found = set(selection.hashed) or {selection.real(path) for path in selection.files}
    if only:  # the other enterprises' files are not read at all
        selection.only = only
        selection.files = [path for path in selection.files if _may_declare(selection.head(path), only)]
        selection.skipped &= only
    groups = _groups(selection) if stream else None
    count = _worker_count(workers, _to_read(selection))
    if groups is not None and count > 1:
        shards = _in_processes(selection, groups, store.url, policy, count, progress, keep_facts)
    else:
        shards = [_plan_shard(selection, store, policy, stream, keep_facts, progress)]
    problems = list(selection.problems) + [p for shard in shards for p in shard.problems]
    parts = [part for shard in shards for part in shard.parts]
    files = {path: sha for shard in shards for path, sha in shard.files.items()}
    documents = sum(shard.documents for shard in shards)
    skipped = selection.skipped - {n for shard in shards for n in shard.revived}
    if not documents and not problems and not skipped:
        problems.append(no_files(paths))
    given = {number: paths for shard in shards for number, paths in shard.given.items()}
    records = selection.records if sync is not None else store.sync_records(sorted(found))[1]
    problems += partial_enterprises(given, records, found, only, selection.named)
    declared = set(given) | skipped
    undeclared: list[str] = []
    if only:
        problems += not_declared(only, declared, [str(p) for p in paths])
    elif all(Path(p).is_dir() for p in paths):  # whole folders: what they no longer declare is worth a word
        candidates = undeclared_enterprises(store.listed(), declared)
        applied: dict[str, list[str]] = {number: [] for number in candidates} | store.applied_files(candidates)
        undeclared = applied_under(applied, [real_path(p) for p in paths])
    plan = combine(parts, policy, skipped, undeclared)
    warnings = sorted(w for shard in shards for w in shard.warnings)
    return Planned(plan, sorted(problems), digest(selection.hashed or files), warnings)


def _plan_shard(
    selection: Selection,
    store: Store,
    policy: Policy,
    stream: bool,
    keep_facts: bool,
    progress: Progress | None = None,
    total: int | None = None,
) -> Shard:
    """Read, check and plan the enterprises of ``selection.files``, one at a time: from their
    changed files alone where that is certain to give the same plan (``plan.patch``)."""
    before = set(selection.skipped)
    shard = Shard([], [], {}, 0, set(), {})
    if stream and selection.patch:
        selection = _patch(selection, store, policy, keep_facts, shard)
    for outcome in iter_enterprises(selection, stream=stream):
        if selection.only and outcome.number is not None and outcome.number not in selection.only:
            continue  # not selected: read only because its file's head did not say whose it is
        shard.problems.extend(outcome.problems)
        shard.warnings.extend(outcome.warnings)
        shard.documents += outcome.documents
        if outcome.number is not None:
            shard.given[outcome.number] = [selection.real(path) for path in outcome.files]
        if progress is not None:
            progress(shard.documents, total or len(selection.files))
        if outcome.state is None or outcome.problems:
            continue
        assert outcome.number is not None  # a state is always some enterprise's
        files = {selection.real(path): sha for path, sha in outcome.files.items()}  # as the store remembers them
        shard.files.update(files)
        stored = store.read([outcome.number]).get(outcome.number)
        drift = drift_of(store, stored) if stored else ()
        part = plan_enterprise(outcome.number, outcome.state, stored, policy, files, drift)
        if keep_facts:
            assert outcome.declaration is not None  # a state is always some declaration's
            kept = facts_of(outcome.declaration)
            part = replace(part, facts=tuple(sorted((selection.real(path), text) for path, text in kept.items())))
        if policy.actor and part.changes:
            assert outcome.declaration is not None
            shard.problems.extend(_authority(outcome.declaration, outcome.origins, part, stored, policy.actor))
        shard.parts.append(part)
    shard.revived = before - selection.skipped
    return shard


def _patch(selection: Selection, store: Store, policy: Policy, keep_facts: bool, shard: Shard) -> Selection:
    """Plan the enterprises of ``selection.patch`` from their changed files alone; the selection of
    what is left to read whole (those planned are left out of it)."""
    heads = {path: selection.head(path) for path in selection.files}
    if None in heads.values():
        return selection  # a file whose head does not say whose it is: group by reading, as before
    catalogue, today = load_catalogue(), clock.today()
    done: set[str] = set()
    for number, (unchanged, old) in sorted(selection.patch.items()):
        mine = [path for path in selection.files if heads[path] == number]
        reals = {path: selection.real(path) for path in mine}
        if not mine or not set(unchanged) <= set(reals.values()) or len(set(reals.values())) != len(reals):
            continue  # a file given twice (a link, two spellings) is read twice by a full read: do that
        changed = [path for path in mine if reals[path] not in unchanged]
        order = [str(path) for path in mine]
        patched = patch_enterprise(
            number, unchanged, old, changed, selection.named, store, policy, catalogue, today, keep_facts, reals, order
        )
        if patched is not None and patched.part.version != selection.records[number].version:
            patched = None  # an apply between finding the files and reading the facts: read whole
        if patched is None:
            continue  # read whole below
        done.add(number)
        shard.documents += len(patched.files)
        shard.given[number] = list(patched.files)
        shard.files.update(patched.files)
        if policy.actor and patched.part.changes:
            shard.problems.extend(
                _authority(patched.declaration, patched.origins, patched.part, patched.stored, policy.actor)
            )
        shard.parts.append(patched.part)
    if not done:
        return selection
    return replace(selection, files=[path for path in selection.files if heads[path] not in done])


def _to_read(selection: Selection) -> int:
    """How many files planning will read: those of the enterprises that may be planned from their
    changed files alone count only when changed (one such enterprise is planned in one process
    anyway, and the ones read whole go on in it when that fails)."""
    unchanged = {path for kept, _ in selection.patch.values() for path in kept}
    if not unchanged:
        return len(selection.files)
    reals = {path: real for real, path in selection.named.items()}
    return sum(1 for path in selection.files if reals.get(os.fspath(path)) not in unchanged)


def _may_declare(number: str | None, only: frozenset[str]) -> bool:
    """Whether a file whose head names ``number`` may declare one of the enterprises selected: its
    head names one, or names none that is surely another (a head that is no valid number is no
    proof: the file is read)."""
    return number is None or number in only or not identifiers.is_enterprise_number(number)


def _worker_count(asked: int | None, files: int) -> int:
    if asked is not None:
        return asked
    if os.environ.get(WORKERS_ENV):
        return max(1, int(os.environ[WORKERS_ENV]))
    return (os.cpu_count() or 1) if files >= PARALLEL_FILES else 1


def _groups(selection: Selection) -> list[list[Path]] | None:
    """The files of each enterprise (by their heads), largest first; None if a head does not say."""
    by_number: dict[str, list[Path]] = {}
    for path in selection.files:
        number = selection.head(path)
        if number is None:
            return None
        by_number.setdefault(number, []).append(path)
    return sorted(by_number.values(), key=lambda group: -sum(_size(p) for p in group))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# What every worker process needs, inherited when it forks rather than sent with each task.
_inherited: dict = {}


def _in_processes(
    selection: Selection,
    groups: list[list[Path]],
    url: str,
    policy: Policy,
    workers: int,
    progress: Progress | None,
    keep_facts: bool,
) -> list[Shard]:
    """Plan groups of enterprises in forked processes, largest first so that none is left for last.

    The tasks are inherited with the rest, and each is sent as its index: a registry's long tail
    of small enterprises would otherwise cost the parent more in sending paths and receiving
    results than the workers spend planning them.
    """
    tasks = _batches(groups)
    _inherited.update(selection=selection, url=url, policy=policy, keep_facts=keep_facts, tasks=tasks)
    shards = []
    gc.collect()
    gc.freeze()  # what the workers inherit stays shared: the collector never writes to those pages
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            for shard in pool.map(_plan_task, range(len(tasks)), chunksize=1):
                shards.append(shard)
                if progress is not None:
                    progress(sum(s.documents for s in shards), len(selection.files))
    finally:
        gc.unfreeze()
        _inherited.clear()
    return shards


BATCH_FILES = 64  # small enterprises go to a worker together, up to this many files a task


def _batches(groups: list[list[Path]]) -> list[list[Path]]:
    """The files of each task, in the order given: one enterprise, or several small ones that hold
    at most ``BATCH_FILES`` files together (two large enterprises are never one task: the
    workers would not share them)."""
    tasks: list[list[Path]] = []
    current: list[Path] = []
    for group in groups:
        if current and len(current) + len(group) > BATCH_FILES:
            tasks.append(current)
            current = []
        current.extend(group)
    if current:
        tasks.append(current)
    return tasks


def _plan_task(index: int) -> Shard:
    """In a worker: plan the enterprises of one task, with the worker's own connection to the store."""
    if "store" not in _inherited:
        _inherited["store"] = open_store(_inherited["url"])
    selection: Selection = _inherited["selection"]
    files = _inherited["tasks"][index]
    mine = replace(selection, files=files, skipped=set(selection.skipped), problems=[])
    shard = _plan_shard(mine, _inherited["store"], _inherited["policy"], True, _inherited["keep_facts"])
    # Sent packed (``records.changes``), with the digests the plan's hash is made of only when it
    # will be made: facts are kept by an apply, and only an apply hashes its plan.
    digests = _inherited["keep_facts"]
    shard.parts = [replace(part, changes=Changes.of(part.changes).packed(digests)) for part in shard.parts]
    return shard


def _authority(
    declaration: DeclaredEnterprise,
    origins: Mapping[Address, Site],
    part: PlanPart,
    stored: StoredEnterprise | None,
    actor: str,
) -> list[Diagnostic]:
    current = {part.number: stored} if stored else {}
    found = check_authority(part.changes, current, actor, origins)
    if found and not all(f.site.document.exact for f in declaration.files):
        # The fast path keeps no positions: read the enterprise again to say where each change is.
        exact: Mapping[Address, Site] = declared_state(exactly(declaration))[1]
        found = check_authority(part.changes, current, actor, exact)
    return found
