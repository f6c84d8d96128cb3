"""From paths on disk to the desired state: load, validate, check the rules, convert.

This is the one entry point the commands use; it collects every problem in every file
and returns them together, so a pull request shows all of its mistakes in one run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from reconciler.catalogue import load_catalogue
from reconciler.declared import DeclaredEnterprise, Site, group_documents
from reconciler.diagnostics import Diagnostic, Position
from reconciler.load import Y_EMPTY, SourceDocument, load_file, load_paths
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

    @property
    def exact(self) -> bool:
        """Whether every file was read with positions (the fast path keeps none)."""
        return all(f.site.document.exact for d in self.declarations.values() for f in d.files)


def load_desired(paths: Iterable[str | Path], fast: bool = True) -> tuple[Desired, list[Diagnostic]]:
    """Everything declared under ``paths``; the problems list is sorted and empty when all is valid.

    With ``fast`` (the default) valid files are read by the fast path; any enterprise with a
    problem is read again by the position-tracking loader, so every message keeps its
    ``file:line:column``.
    """
    paths = list(paths)
    documents, problems = load_paths(paths, fast)
    if not documents and not problems:
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
    return Desired(enterprises, declarations, origins, len(documents), digest(documents)), sorted(problems)


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
