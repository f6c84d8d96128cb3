"""From paths on disk to the desired state: load, validate, check the rules, convert.

This is the one entry point the commands use; it collects every problem in every file
and returns them together, so a pull request shows all of its mistakes in one run.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from reconciler.catalogue import load_catalogue
from reconciler.declared import DeclaredEnterprise, Site, enterprise_key, group_documents
from reconciler.diagnostics import Diagnostic, Position
from reconciler.load import Y_EMPTY, SourceDocument, discover, load_file, load_files
from reconciler.sync import SyncRecord, skippable
from reconciler.rules import check_enterprise
from reconciler.state import Address, EnterpriseState, declared_state


@dataclass(frozen=True)
class Desired:
    """The validated declaration: canonical state per enterprise, and how many files made it."""

    enterprises: dict[str, EnterpriseState]
    declarations: dict[str, DeclaredEnterprise]
    origins: dict[Address, Site]
    files: int
    digest: str
    files_of: dict[str, dict[str, str]]  # per planned enterprise: path -> sha256 of its files
    skipped: frozenset[str]  # enterprises unchanged since their last apply, not parsed

    @property
    def exact(self) -> bool:
        """Whether every file was read with positions (the fast path keeps none)."""
        return all(f.site.document.exact for d in self.declarations.values() for f in d.files)


SyncLookup = Callable[[list[str]], tuple[dict[str, str], dict[str, SyncRecord]]]


def load_desired(paths: Iterable[str | Path], fast: bool = True,
                 sync: SyncLookup | None = None) -> tuple[Desired, list[Diagnostic]]:
    """Everything declared under ``paths``; the problems list is sorted and empty when all is valid.

    With ``fast`` (the default) valid files are read by the fast path; any enterprise with a
    problem is read again by the position-tracking loader, so every message keeps its
    ``file:line:column``.  With ``sync`` (the store's record of past applies), enterprises
    unchanged since their last apply are skipped without being parsed (``reconciler.sync``).
    """
    paths = list(paths)
    files, problems = discover(paths)
    skipped: set[str] = set()
    records: dict[str, SyncRecord] = {}
    if sync is not None:
        hashed = {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files if os.access(f, os.R_OK)}
        owner, records = sync(list(hashed))
        skipped = skippable(hashed, records)
        files = [f for f in files if owner.get(str(f)) not in skipped]
    documents, found = load_files(files, fast)
    problems.extend(found)
    # A file not seen before may add to an enterprise that looked unchanged: plan it after all.
    declared = {enterprise_key(d.data) for d in documents} & skipped
    if declared:
        skipped -= declared
        more, found = load_files([Path(p) for n in sorted(declared) for p in records[n].files
                                  if Path(p).exists()], fast)
        documents += [d for d in more if d.path not in {e.path for e in documents}]
        problems.extend(found)
    if not documents and not problems and not skipped:
        shown = ", ".join(str(p) for p in paths)
        problems.append(Diagnostic(Position(shown), Y_EMPTY, "no YAML files (*.yaml, *.yml) found"))
    declarations, found = group_documents(documents)
    problems.extend(found)
    catalogue = load_catalogue()
    enterprises: dict[str, EnterpriseState] = {}
    origins: dict[Address, Site] = {}
    for number, declaration in list(declarations.items()):
        found = check_enterprise(declaration, catalogue)
        if found and not all(file.site.document.exact for file in declaration.files):
            declaration = exactly(declaration)
            declarations[number] = declaration
            found = check_enterprise(declaration, catalogue)
        problems.extend(found)
        if not found:
            enterprises[number], where = declared_state(declaration)
            origins.update(where)
    files_of: dict[str, dict[str, str]] = {}
    for number in enterprises:
        files_of[number] = {f.site.document.path: f.site.document.sha256 for f in declarations[number].files}
    desired = Desired(enterprises, declarations, origins, len(documents), digest(documents), files_of,
                      frozenset(skipped))
    return desired, sorted(problems)


def exactly(declaration: DeclaredEnterprise) -> DeclaredEnterprise:
    """The same enterprise read again by the position-tracking loader (its files passed the schema)."""
    documents = [load_file(Path(file.site.document.path))[0] for file in declaration.files]
    regrouped, _ = group_documents([d for d in documents if d is not None])
    return regrouped[declaration.number]


def digest(documents: list[SourceDocument]) -> str:
    """SHA-256 over every declared file's path and text: what a saved plan was computed from."""
    hasher = hashlib.sha256()
    for document in sorted(documents, key=lambda d: d.path):
        hasher.update(document.path.encode() + b"\0" + document.sha256.encode() + b"\n")
    return hasher.hexdigest()
