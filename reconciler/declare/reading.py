"""Files on disk into source documents: the fast path when it can vouch, else the reference loader.

Also finds the YAML files under the folders given.  Unreadable, binary and non-UTF-8
files become findings, like every other problem.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from reconciler.declare.diagnostics import Diagnostic, Position
from reconciler.declare.fastload import load_fast
from reconciler.declare.load import Y_UNREADABLE, load_text
from reconciler.declare.source import SourceDocument

YAML_SUFFIXES = (".yaml", ".yml")


def load_file(path: Path, fast: bool = False) -> tuple[SourceDocument | None, list[Diagnostic]]:
    """Read and parse one file; unreadable, binary or non-UTF-8 files become findings.

    With ``fast``, a file the fast path vouches for is returned without positions; callers
    re-read it exactly (``fast=False``) before reporting anything about it.
    """
    shown = str(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        return None, [Diagnostic(Position(shown), Y_UNREADABLE, f"cannot read file: {error.strerror}")]
    if fast:
        document = load_fast(raw, shown)
        if document is not None:
            return document, []
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        return None, [Diagnostic(Position(shown, line, column), Y_UNREADABLE, "not UTF-8 text (is it a binary file?)")]
    if "\x00" in text:
        return None, [Diagnostic(Position(shown), Y_UNREADABLE, "not a text file (it holds NUL bytes)")]
    return load_text(text, shown, hashlib.sha256(raw).hexdigest())


def discover(paths: Iterable[str | Path]) -> tuple[list[Path], list[Diagnostic]]:
    """Expand folders into their YAML files, in a stable order, and report missing paths."""
    found: list[Path] = []
    problems: list[Diagnostic] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found.extend(_yaml_files(path))
        elif path.exists():
            found.append(path)
        else:
            problems.append(Diagnostic(Position(str(path)), Y_UNREADABLE, "no such file or folder"))
    return list(dict.fromkeys(found)), problems


def _yaml_files(folder: Path) -> list[Path]:
    """YAML files under a folder (not following linked folders), sorted as paths sort.

    Hidden folders (``.github``, ``.gitlab-ci``, ``.reconciler``, ...) are left out, so that
    a repository's root can be given without its CI workflows being read as declarations.
    ``os.walk`` rather than ``Path.rglob``, and sorting by parts rather than by ``Path``:
    registries hold thousands of files, and every plan lists them.
    """
    found = []
    for root, folders, names in os.walk(folder):
        folders[:] = [name for name in folders if not name.startswith(".")]
        for name in names:
            if os.path.splitext(name)[1] in YAML_SUFFIXES and os.path.isfile(full := os.path.join(root, name)):
                found.append(Path(full))
    return sorted(found, key=lambda p: p.parts)


def load_paths(paths: Iterable[str | Path], fast: bool = False) -> tuple[list[SourceDocument], list[Diagnostic]]:
    """Load every YAML file under ``paths``; collect all problems instead of stopping."""
    files, problems = discover(paths)
    documents, found = load_files(files, fast)
    return documents, problems + found


def load_files(files: Iterable[Path], fast: bool = False) -> tuple[list[SourceDocument], list[Diagnostic]]:
    problems: list[Diagnostic] = []
    documents: list[SourceDocument] = []
    for file in files:
        document, found = load_file(file, fast)
        problems.extend(found)
        if document is not None:
            documents.append(document)
    return documents, problems
