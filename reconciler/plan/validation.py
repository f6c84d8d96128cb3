"""validate: every file checked the way plans read them, and only what changed read again.

Files are grouped by the enterprise number at their head (a file whose head does not say is
parsed to find out), hashed, and looked up in the cache of verdicts (``verdicts``): an
enterprise whose files are exactly as when it was last found valid is not read.  The others
are read, checked and forgotten one enterprise at a time, in one forked process per core
(``RECONCILER_WORKERS`` as for plans), largest first; the fast path reads valid files, and an
enterprise with any finding is read again by the position-tracking loader.

The result is that of reading the whole tree at once (``desired.load_desired``): the same
problems, warnings and counts, whatever the cache holds and however many processes ran.  An
enterprise is the unit because rules span its files; files are grouped exactly as they are in
one pass: in the order they were found, every file declaring an enterprise with it.  A file
whose head names another enterprise than its content would be grouped wrongly: when one is
found, every file is grouped again by its content, then checked.
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import os
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from reconciler.declare.catalogue import Catalogue, load_catalogue
from reconciler.declare.declared import enterprise_key, group_documents
from reconciler.declare.diagnostics import Diagnostic
from reconciler.declare.reading import NotReadable, discover, load_file, load_files, read_bytes
from reconciler.declare.rules import check_enterprise, warnings_of
from reconciler.plan.desired import exactly, head_number, no_files
from reconciler.plan.facts import FileFacts, facts_data, facts_from
from reconciler.plan.partial import certainly_valid, read_partially
from reconciler.plan.pipeline import PARALLEL_FILES, WORKERS_ENV
from reconciler.plan.verdicts import (
    Hashes,
    Kept,
    Verdict,
    Verdicts,
    facts_generation,
    key_of,
    read_enterprise_facts,
    salt,
    stamp,
    write_enterprise_facts,
)
from reconciler.records import clock


@dataclass(frozen=True)
class Validated:
    """What validating a tree found, and what it cost."""

    problems: list[Diagnostic]  # sorted; empty when every file is valid
    warnings: list[Diagnostic]  # sorted; of valid enterprises, failing nothing
    files: int  # as validate reports them: the files of the enterprises declared
    enterprises: int  # valid enterprises
    read: int  # files read; the others belong to enterprises the cache vouched for
    cached: int  # enterprises the cache vouched for


@dataclass(frozen=True)
class Group:
    """The files declaring one enterprise, in the order found; or one file whose enterprise is unknown."""

    number: str | None
    files: tuple[tuple[str, str | None], ...]  # path, SHA-256 of the bytes hashed (None: unreadable)
    size: int
    by_head: bool = True  # grouped by the files' heads, which reading checks


@dataclass
class Checked:
    """What reading one group gave."""

    problems: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    declared: int = 0  # files of its declarations
    read: int = 0  # documents read
    declarations: int = 0
    enterprises: int = 0  # declarations without a problem
    misled: bool = False  # a file's head named another enterprise than its content
    as_hashed: bool = False  # every file read was the one hashed (not changed meanwhile)
    loaded: int | None = None  # files read now, when fewer than ``read`` (the others' facts were kept)

    @property
    def clean(self) -> bool:
        return not self.problems and not self.warnings and not self.misled and self.as_hashed


def validate_paths(paths: Iterable[str | Path], cache: Path | None = None, workers: int | None = None) -> Validated:
    """Check every file under ``paths``; with a ``cache`` folder, skip enterprises it vouches for.

    Verdicts of enterprises found valid are written back to ``cache``; without one nothing is
    read from or written to disk but the files themselves.
    """
    paths = list(paths)
    files, problems = discover(paths)
    verdicts = Verdicts.open(cache, salt()) if cache is not None else None
    hashes = Hashes.open(cache) if cache is not None else None
    result = _validate(_groups(files, hashes), verdicts, workers, cache)
    if result is None:  # a head misled the grouping: group every file by what it declares
        result = _validate(_groups(files, None, by_content=True), verdicts, workers, cache)
    assert result is not None  # grouped by content, no head can mislead
    if verdicts is not None and hashes is not None:
        verdicts.save()
        hashes.save()
    problems += result.problems
    if not result.files and not problems:
        problems.append(no_files(paths))
    return Validated(
        sorted(problems), sorted(result.warnings), result.files, result.enterprises, result.loaded, result.cached
    )


def _groups(files: list[str], hashes: Hashes | None, by_content: bool = False) -> list[Group]:
    """Files by the enterprise they declare (by their heads, or ``by_content``), largest first.

    A file is read and hashed unless ``hashes`` remembers it with the same size and times.
    """
    members: dict[str, list[tuple[str, str | None]]] = {}
    sizes: dict[str, int] = {}
    alone: list[Group] = []
    now = time.time_ns()
    for shown in files:
        try:
            info = os.stat(shown)
            known = hashes.get(shown, info) if hashes is not None else None
            if known is not None:
                sha, number = known
            else:
                sha, number = _hash_and_head(shown, by_content)
                if hashes is not None:
                    hashes.put(shown, sha, number, stamp(info), now)
        except (OSError, NotReadable):  # reading it again says why, with the other problems
            alone.append(Group(None, ((shown, None),), 0, not by_content))
            continue
        entry = (shown, sha)
        if number is None:
            alone.append(Group(None, (entry,), info.st_size, not by_content))
        else:
            members.setdefault(number, []).append(entry)
            sizes[number] = sizes.get(number, 0) + info.st_size
    groups = [Group(number, tuple(found), sizes[number], not by_content) for number, found in members.items()]
    return sorted(groups + alone, key=lambda group: -group.size)


def _hash_and_head(path: str, by_content: bool) -> tuple[str, str | None]:
    """A file's SHA-256, and the enterprise it declares: by its head, else by parsing it."""
    raw = read_bytes(path)
    number = None if by_content else head_number(path)
    if number is None:  # the head does not say: parse it to know (it is parsed again when checked)
        document, _ = load_file(Path(path), fast=True)
        number = enterprise_key(document.data) if document is not None else None
    return hashlib.sha256(raw).hexdigest(), number


@dataclass
class _Tally:
    problems: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    declared: int = 0
    read: int = 0
    declarations: int = 0
    enterprises: int = 0
    cached: int = 0
    loaded: int = 0  # files read now

    @property
    def files(self) -> int:
        # One pass over the whole tree counts the files of its declarations, or, when it
        # declares no enterprise at all, the files it read.
        return self.declared if self.declarations else self.read


def _validate(
    groups: list[Group], verdicts: Verdicts | None, workers: int | None, cache: Path | None = None
) -> _Tally | None:
    """Check the groups the cache does not vouch for; None when a head misled the grouping.

    With a ``cache`` folder, an enterprise whose files mostly kept their facts there is checked
    from its changed files and those facts (``plan.partial``), and read whole only when that
    cannot vouch for it; the facts of every enterprise found valid are kept for the next run.
    """
    tally = _Tally()
    salted = verdicts.salted if verdicts is not None else b""
    todo: list[tuple[Group, str | None]] = []
    for group in groups:
        key = None
        if verdicts is not None and group.number is not None:
            # How the group was formed is part of its key: a verdict earned by files grouped by their
            # content proves nothing about the same files grouped by a head that may mislead.
            formed = f"{group.number}\0{group.by_head}\n".encode()
            key = key_of(salted + formed, [(path, sha or "") for path, sha in group.files])
            verdict = verdicts.get(key)
            if verdict is not None:
                tally.declared += verdict.declared
                tally.read += verdict.read
                tally.declarations += verdict.enterprises
                tally.enterprises += verdict.enterprises
                tally.cached += verdict.enterprises
                continue
        todo.append((group, key))
    checks = _check_all([group for group, _ in todo], workers, cache)
    for (_, key), checked in zip(todo, checks, strict=True):
        if checked.misled:
            return None
        tally.problems += checked.problems
        tally.warnings += checked.warnings
        tally.declared += checked.declared
        tally.read += checked.read
        tally.loaded += checked.read if checked.loaded is None else checked.loaded
        tally.declarations += checked.declarations
        tally.enterprises += checked.enterprises
        if verdicts is not None and key is not None and checked.clean:
            verdicts.put(key, Verdict(checked.declared, checked.read, checked.enterprises))
    return tally


def _check_all(groups: list[Group], workers: int | None, cache: Path | None = None) -> list[Checked]:
    count = _worker_count(workers, sum(len(group.files) for group in groups))
    check = partial(check_group, cache=cache)
    if count <= 1 or len(groups) <= 1:
        return [check(group) for group in groups]
    gc.collect()
    gc.freeze()  # what the workers inherit stays shared: the collector never writes to those pages
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=count, mp_context=context) as pool:
            return list(pool.map(check, groups, chunksize=1))
    finally:
        gc.unfreeze()


def _worker_count(asked: int | None, files: int) -> int:
    if asked is not None:
        return asked
    if os.environ.get(WORKERS_ENV):
        return max(1, int(os.environ[WORKERS_ENV]))
    return (os.cpu_count() or 1) if files >= PARALLEL_FILES else 1


def check_group(group: Group, cache: Path | None = None) -> Checked:
    """Read and check one group's files (in a worker, or in the one process): only its changed
    files when the others' facts were kept in ``cache`` and vouch for it."""
    catalogue = load_catalogue()
    kept = read_enterprise_facts(cache, group.number, facts_generation()) if cache and group.number else {}
    if kept and group.by_head and cache is not None:
        checked = _check_changed(group, kept, catalogue, cache)
        if checked is not None:
            return checked
    documents, problems = load_files([Path(path) for path, _ in group.files], fast=True)
    if group.by_head and any(enterprise_key(d.data) not in (group.number, None) for d in documents):
        return Checked(misled=True)
    hashed = dict(group.files)
    as_hashed = len(documents) == len(group.files) and all(hashed.get(d.path) == d.sha256 for d in documents)
    declarations, found = group_documents(documents)
    checked = Checked(problems + found, read=len(documents), declarations=len(declarations))
    documents = []  # the models hold what is needed: let the raw data go
    for declaration in declarations.values():
        checked.declared += len(declaration.files)
        as_hashed = as_hashed and all(
            hashed.get(f.site.document.path) == f.site.document.sha256 for f in declaration.files
        )
        findings = check_enterprise(declaration, catalogue)
        if findings and not all(file.site.document.exact for file in declaration.files):
            declaration = exactly(declaration)  # the fast path keeps no positions
            findings = check_enterprise(declaration, catalogue)
        checked.problems += findings
        if findings:
            continue
        checked.enterprises += 1
        warned = warnings_of(declaration, catalogue)
        if warned and not all(file.site.document.exact for file in declaration.files):
            warned = warnings_of(exactly(declaration), catalogue)
        checked.warnings += warned
        if cache is not None and group.number and not warned and not checked.problems and as_hashed:
            # Kept here, in the worker, for the next run: what each file of a valid enterprise gave.
            gave = {path: (hashed[path] or "", data) for path, data in facts_data(declaration).items()}
            write_enterprise_facts(cache, group.number, facts_generation(), gave)
    checked.as_hashed = as_hashed
    return checked


def _check_changed(group: Group, kept: Kept, catalogue: Catalogue, cache: Path) -> Checked | None:
    """Check an enterprise from its changed files and the kept facts of the others; None unless that
    vouches for it (``plan.partial``)."""
    unchanged: dict[str, tuple[str, FileFacts]] = {}
    changed: list[Path] = []
    for path, sha in group.files:
        sha_then, data = kept.get(path, ("", {}))
        facts = facts_from(data) if sha is not None and sha == sha_then else None
        if facts is None:
            changed.append(Path(path))
        else:
            unchanged[path] = (sha_then, facts)
    if not unchanged or not changed:  # nothing changed but the day, the tool or a file removed: read whole
        return None
    found = read_partially(group.number or "", changed, unchanged, [path for path, _ in group.files])
    if found is None or not certainly_valid(found, catalogue, clock.today().isoformat()):
        return None
    hashed = dict(group.files)
    if any(hashed.get(document.path) != document.sha256 for document in found.documents):
        return None  # a file changed since it was hashed: read the whole group, which says so
    fresh = facts_data(found.declaration, set(found.changed))
    keep = {path: (sha, kept[path][1]) for path, (sha, _) in unchanged.items()}
    keep |= {path: (hashed[path] or "", data) for path, data in fresh.items()}
    files = len(group.files)
    write_enterprise_facts(cache, group.number or "", facts_generation(), keep)
    return Checked(declared=files, read=files, declarations=1, enterprises=1, as_hashed=True, loaded=len(changed))
