"""From paths on disk to the desired state: load, validate, check the rules, convert.

Every problem in every file is collected and returned together, so a pull request shows
all of its mistakes in one run.  ``iter_enterprises`` does the work one enterprise at a
time (planning uses it that way, see ``pipeline``); ``load_desired`` collects it all.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.declare import identifiers
from reconciler.declare.catalogue import load_catalogue
from reconciler.declare.declared import (
    DeclaredEnterprise,
    Site,
    enterprise_key,
    group_documents,
)
from reconciler.declare.diagnostics import Diagnostic, Position
from reconciler.declare.load import Y_EMPTY
from reconciler.declare.reading import listing, load_file, load_files
from reconciler.declare.rules import check_enterprise, warnings_of
from reconciler.declare.source import SourceDocument
from reconciler.plan.canonical import declared_state
from reconciler.plan.incremental import eligible, skippable
from reconciler.plan.verdicts import Hashes, stamp
from reconciler.records import clock
from reconciler.records.state import Address, EnterpriseState
from reconciler.store.port import SyncRecord


@dataclass(frozen=True)
class Desired:
    """The validated declaration: canonical state per enterprise, and how many files made it."""

    enterprises: dict[str, EnterpriseState]
    declarations: dict[str, DeclaredEnterprise]
    files: int
    digest: str
    files_of: dict[str, dict[str, str]]  # per enterprise: path -> sha256 of its files
    warnings: list[Diagnostic] = field(default_factory=list)  # of valid enterprises; they fail nothing


SyncLookup = Callable[[list[str]], tuple[dict[str, str], dict[str, SyncRecord]]]

# The usual head of a file: "enterprise:" first, its "number:" on the next line.  Reading
# just that groups files by enterprise without parsing them, so that enterprises can be
# read and planned one at a time; a file that does not start this way is parsed to know.
_HEAD = re.compile(
    rb"""\A(?:[ \t]*(?:\#[^\n]*)?\r?\n)*enterprise:[ \t]*\r?\n[ \t]+number:[ \t]*
                        (?:"([0-9A-Za-z .]+)"|'([0-9A-Za-z .]+)'|([0-9A-Za-z.]+))[ \t]*(?:\#[^\n]*)?\r?\n""",
    re.X,
)


class Regroup(Exception):
    """A file's head named another enterprise than its content: group by parsing instead."""


@dataclass
class Selection:
    """The files to read now, and what was found and skipped on the way."""

    files: list[Path]
    hashed: dict[str, str]  # every file found: path -> sha256 (empty when nothing is skipped)
    skipped: set[str]
    records: dict[str, SyncRecord]
    problems: list[Diagnostic]
    only: frozenset[str] = frozenset()  # enterprises selected with --enterprise: no other is planned
    named: dict[str, str] = field(default_factory=dict)  # real path -> the file as found, for messages
    # Enterprises that may be planned from their changed files alone (``plan.patch``): per number,
    # its files unchanged since its last apply and the others as they were then (real path -> SHA-256).
    patch: dict[str, tuple[dict[str, str], dict[str, str]]] = field(default_factory=dict)
    reals: dict[str, str] = field(default_factory=dict)  # the file as found -> its real path, where known
    heads: dict[str, str | None] = field(default_factory=dict)  # the file as found -> ``head_number``, once read
    walked: dict[str, tuple[str, int]] = field(default_factory=dict)  # ``reading.Listing.real``, for full plans

    def real(self, path: str | Path) -> str:
        """A file's real path (``real_path``): as the hashing found it, or as the listing did while the
        file is still the one listed (same inode), else looked up."""
        text = os.fspath(path)
        found = self.reals.get(text)
        if found is None:
            found = self.reals[text] = _walked_real(text, self.walked.get(text)) or real_path(text)
        return found

    def head(self, path: str | Path) -> str | None:
        """``head_number`` of a file, read once however many stages group files by it."""
        text = os.fspath(path)
        if text not in self.heads:
            self.heads[text] = head_number(text)
        return self.heads[text]


@dataclass
class Outcome:
    """One enterprise read and checked (or, with ``number`` None, problems that belong to none)."""

    number: str | None
    declaration: DeclaredEnterprise | None
    state: EnterpriseState | None
    origins: Mapping[Address, Site]
    files: dict[str, str]  # path -> sha256
    problems: list[Diagnostic]
    documents: int
    warnings: list[Diagnostic] = field(default_factory=list)


def real_path(path: str | Path) -> str:
    """A file's one name: absolute, through every symbolic link and ``..``.

    What the store remembers of an apply (which files made which enterprise) is kept under
    this name, so that the same file given as ``a.yaml``, ``./x/../a.yaml``, an absolute path
    or through a link, from any working directory, is recognised as the same file.
    """
    return os.path.realpath(path)


def select(
    paths: list[str | Path], sync: SyncLookup | None, window: int = 0, hashes: Hashes | None = None
) -> Selection:
    """Find the files, and leave out those of enterprises unchanged since their last apply (and
    with no grant ending within ``window`` days).  ``hashes`` remembers the SHA-256 of files
    whose size and times are unchanged (``plan.verdicts.Hashes``), so they are not read."""
    files, problems, walked = listing(paths)
    if sync is None:
        return Selection([Path(f) for f in files], {}, set(), {}, problems, walked=walked)
    reals, hashed = _hashed(files, hashes, walked)
    owner, records = sync(list(hashed))
    skipped = skippable(hashed, records, window)
    # A file not applied before that names an enterprise which looks unchanged adds to it: plan it.
    fresh = {f: head_number(f) for f in files if reals[f] not in owner}
    skipped -= set(fresh.values())
    # So does a file given twice (a link beside it, two spellings): a full read reads it twice.
    counted = Counter(reals.values())
    skipped -= {owner.get(real) for real, times in counted.items() if times > 1}
    kept = [f for f in files if owner.get(reals[f]) not in skipped]
    named = {real: f for f, real in reals.items()}
    planned = {owner[reals[f]] for f in kept if reals[f] in owner}
    planned |= {number for f in kept if (number := fresh.get(f)) is not None}
    patch = {
        number: found
        for number in sorted(planned)
        if number in records and (found := _patchable(records[number], hashed, window)) is not None
    }
    return Selection([Path(f) for f in kept], hashed, skipped, records, problems, named=named, patch=patch, reals=reals)


def _walked_real(text: str, walked: tuple[str, int] | None, info: os.stat_result | None = None) -> str | None:
    """The real path the listing found for a file, while the file there is the one listed (its inode,
    from ``info`` or an ``lstat`` now, is the same); None otherwise."""
    if walked is None:
        return None
    try:
        inode = (info or os.lstat(text)).st_ino
    except OSError:
        return None
    return walked[0] if inode == walked[1] else None


def _hashed(
    files: list[str], hashes: Hashes | None, walked: dict[str, tuple[str, int]]
) -> tuple[dict[str, str], dict[str, str]]:
    """Each file's real path (``real_path``), and real path -> SHA-256 of every readable file (from
    ``hashes`` where its size and times are unchanged).

    The listing knows the real path of the files it found by walking folders (``walked``), while
    they are the files it listed; a file given by name, one that is a link now, and one whose
    inode changed since it was listed are looked up.  One ``lstat`` per file says all that and,
    for a file that is not a link, the stamp the hash is remembered by.
    """
    reals: dict[str, str] = {}
    found: dict[str, str] = {}
    now = time.time_ns()
    for text in files:
        try:
            info = os.lstat(text)
            if stat.S_ISLNK(info.st_mode):
                real = reals[text] = os.path.realpath(text)
                info = os.stat(text)
            else:
                real = reals[text] = _walked_real(text, walked.get(text), info) or os.path.realpath(text)
        except OSError:
            reals[text] = os.path.realpath(text)
            continue
        known = hashes.get(text, info) if hashes is not None else None
        if known is not None:
            found[real] = known[0]
            continue
        if not os.access(text, os.R_OK):
            continue
        with open(text, "rb") as handle:
            raw = handle.read()
        found[real] = sha = hashlib.sha256(raw).hexdigest()
        if hashes is not None and (number := _head_of(raw[:4096])) is not None:
            hashes.put(text, sha, number, stamp(info), now)  # headless files are grouped by validate's own reading
    return reals, found


def _patchable(record: SyncRecord, hashed: dict[str, str], window: int) -> tuple[dict[str, str], dict[str, str]] | None:
    """(unchanged, old) files of an enterprise that may be planned from its changed files alone, or None.

    Every file it was last applied from is either given now or deleted: a file that exists but
    was not given is not a deletion, and a plan over part of an enterprise is refused (P001).
    """
    if not eligible(record, clock.today(), window):
        return None
    if any(path not in hashed and os.path.lexists(path) for path in record.files):
        return None
    unchanged = {path: sha for path, sha in record.files.items() if hashed.get(path) == sha}
    old = {path: sha for path, sha in record.files.items() if path not in unchanged}
    return (unchanged, old) if unchanged else None


def head_number(path: str | Path) -> str | None:
    """The enterprise a file's head names (``_HEAD``), or None when its head does not say."""
    try:
        with open(path, "rb") as handle:
            return _head_of(handle.read(4096))
    except OSError:
        return None


def _head_of(start: bytes) -> str | None:
    match = _HEAD.match(start)
    if not match:
        return None
    text = next(g for g in match.groups() if g is not None).decode()
    try:
        return identifiers.enterprise_number(text)
    except identifiers.InvalidIdentifier:
        return text.strip()


def iter_enterprises(selection: Selection, fast: bool = True, stream: bool = True) -> Iterator[Outcome]:
    """Read, check and convert the selected files one enterprise at a time.

    With ``stream`` only one enterprise's files are in memory at once; ``Regroup`` is raised
    when a file's head misled the grouping, and the caller starts again without streaming.
    """
    groups: dict[str | None, list[Path]] = {}
    for path in selection.files:
        groups.setdefault(selection.head(path) if stream else None, []).append(path)
    early: dict[str | None, list[SourceDocument]] = {}
    if stream and None in groups:  # files whose head does not say: parse them to know
        documents, found = load_files(groups.pop(None), fast)
        if found:
            yield Outcome(None, None, None, {}, {}, found, 0)
        for document in documents:
            early.setdefault(enterprise_key(document.data), []).append(document)
    catalogue = load_catalogue()
    for key in sorted(set(groups) | set(early), key=lambda k: k or ""):
        documents, problems = load_files(groups.get(key, []), fast)
        documents += early.get(key, [])
        if stream and any(enterprise_key(d.data) not in (key, None) for d in documents):
            raise Regroup(key)
        # A file not seen before may add to an enterprise that looked unchanged: read it after all.
        revived = selection.skipped & {enterprise_key(d.data) for d in documents}
        if revived:
            selection.skipped -= revived
            known = {selection.real(d.path) for d in documents}
            more, found = load_files(
                [
                    Path(selection.named.get(p, p))
                    for n in sorted(revived)
                    for p in selection.records[n].files
                    if p not in known and Path(p).exists()
                ],
                fast,
            )
            documents += more
            problems += found
        declarations, found = group_documents(documents)
        read, documents = len(documents), []  # the models hold what is needed: let the raw data go
        problems += found
        if not declarations:
            yield Outcome(None, None, None, {}, {}, problems, read)
        for number, declaration in declarations.items():
            findings = check_enterprise(declaration, catalogue)
            if findings and not all(file.site.document.exact for file in declaration.files):
                declaration = exactly(declaration)
                findings = check_enterprise(declaration, catalogue)
            state, origins = declared_state(declaration) if not findings else (None, {})
            files = {f.site.document.path: f.site.document.sha256 for f in declaration.files}
            warned: list[Diagnostic] = []
            if not findings:
                warned = warnings_of(declaration, catalogue)
                if warned and not all(file.site.document.exact for file in declaration.files):
                    warned = warnings_of(exactly(declaration), catalogue)  # the fast path keeps no positions
            yield Outcome(
                number, declaration, state, origins, files, problems + findings, len(declaration.files), warned
            )
            problems = []


def load_desired(paths: Iterable[str | Path], fast: bool = True) -> tuple[Desired, list[Diagnostic]]:
    """Everything declared under ``paths``; the problems list is sorted and empty when all is valid.

    With ``fast`` (the default) valid files are read by the fast path; any enterprise with a
    problem is read again by the position-tracking loader, so every message keeps its
    ``file:line:column``.  This collects every enterprise; planning reads them one at a time
    and skips those unchanged since their last apply (``reconciler.plan.pipeline``).
    """
    paths = list(paths)
    selection = select(paths, None)
    problems = list(selection.problems)
    outcomes = list(iter_enterprises(selection, fast, stream=False))
    enterprises: dict[str, EnterpriseState] = {}
    declarations: dict[str, DeclaredEnterprise] = {}
    files_of: dict[str, dict[str, str]] = {}
    documents = 0
    warnings: list[Diagnostic] = []
    for outcome in outcomes:
        problems.extend(outcome.problems)
        warnings.extend(outcome.warnings)
        documents += outcome.documents
        if outcome.number is None:  # problems that belong to no enterprise: nothing declared, no state
            continue
        if outcome.declaration is not None:
            declarations[outcome.number] = outcome.declaration
        if outcome.state is not None:
            enterprises[outcome.number] = outcome.state
            files_of[outcome.number] = outcome.files
    if not documents and not problems:
        problems.append(no_files(paths))
    hashed = {p: s for files in files_of.values() for p, s in files.items()}
    desired = Desired(enterprises, declarations, documents, digest(hashed), files_of, sorted(warnings))
    return desired, sorted(problems)


def no_files(paths: list[str | Path]) -> Diagnostic:
    return Diagnostic(Position(", ".join(str(p) for p in paths)), Y_EMPTY, "no YAML files (*.yaml, *.yml) found")


def exactly(declaration: DeclaredEnterprise) -> DeclaredEnterprise:
    """The same enterprise read again by the position-tracking loader (its files passed the schema)."""
    documents = [load_file(Path(file.site.document.path))[0] for file in declaration.files]
    regrouped, _ = group_documents([d for d in documents if d is not None])
    return regrouped[declaration.number]


def digest(files: dict[str, str]) -> str:
    """SHA-256 over every declared file's path and SHA-256: what a saved plan was computed from."""
    hasher = hashlib.sha256()
    for path in sorted(files):
        hasher.update(path.encode() + b"\0" + files[path].encode() + b"\n")
    return hasher.hexdigest()
