"""Files on disk into source documents: the fast path when it can vouch, else the reference loader.

Also finds the YAML files under the folders given.  Unreadable, binary and non-UTF-8
files become findings, like every other problem, and so does every path that is not a
regular file: a named pipe would block the run for ever, ``/dev/zero`` would fill memory,
and a dangling or looping link in a folder would otherwise vanish without a word.  Files
are stat'ed before they are opened, opened without blocking, checked again once open (the
path may have been swapped in between) and read up to ``MAX_FILE_BYTES``.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterable
from operator import attrgetter
from pathlib import Path
from typing import NamedTuple

from reconciler.declare.characters import REFUSED, describe, shown
from reconciler.declare.diagnostics import Diagnostic, Position
from reconciler.declare.fastload import load_fast
from reconciler.declare.load import Y_UNREADABLE, load_text
from reconciler.declare.source import SourceDocument

YAML_SUFFIXES = (".yaml", ".yml")

# Parsing takes about 150 bytes of memory per byte of YAML (measured for PyYAML and for
# rapidyaml on files of many small nodes), so the cap bounds a run's memory as well as its
# reading: 16 MiB is a hundred times the largest file of the benchmark registry (1,000 users,
# 150 kB) and about 100,000 users in one file, and parses in under 2.5 GB.
MAX_FILE_BYTES = 16 * 1024 * 1024
_READ_CHUNK = 1024 * 1024

_KINDS = {
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


class NotReadable(Exception):
    """A path that is not a readable regular file; the message says what it is instead."""


def _not_regular(mode: int) -> str | None:
    """Why a file of this mode is not read, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return f"not a regular file but {_KINDS.get(stat.S_IFMT(mode), 'a special file')}; name YAML files or folders"


def _too_large(size: int) -> str:
    return (
        f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB ({size:,} bytes or more); "
        "split the enterprise over several files"
    )


def _missing(path: str, error: OSError) -> str:
    """Why a path cannot be stat'ed: a link loop, a dangling link, or nothing there."""
    if error.errno == errno.ELOOP:
        return "symbolic link loop (the link leads back to itself)"
    if error.errno == errno.ENOENT and os.path.islink(path):
        return f"dangling symbolic link (its target {shown(os.readlink(path))} does not exist)"
    if error.errno in (errno.ENOENT, errno.ENOTDIR):
        return "no such file or folder"
    return f"cannot read file: {error.strerror}"


def read_bytes(path: str) -> bytes:
    """The bytes of a regular file, never blocking on a pipe or a device, at most ``MAX_FILE_BYTES``.

    Raises ``NotReadable`` with a message for anything else.
    """
    try:
        before = os.stat(path)
    except OSError as error:
        raise NotReadable(_missing(path, error)) from None
    reason = _not_regular(before.st_mode)
    if reason:
        raise NotReadable(reason)
    if before.st_size > MAX_FILE_BYTES:
        raise NotReadable(_too_large(before.st_size))
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise NotReadable(_missing(path, error)) from None
    try:
        opened = os.fstat(descriptor)
        reason = _not_regular(opened.st_mode)  # swapped for a pipe between the stat and the open
        if reason:
            raise NotReadable(reason)
        # A regular file may still grow while it is read, or claim size 0 (/proc): read its
        # size and one byte more, then on in chunks up to one byte past the cap, which tells
        # a file at the cap from a larger one.
        chunks: list[bytes] = []
        total, want = 0, max(opened.st_size + 1, 4096)
        while True:
            chunk = os.read(descriptor, min(want, MAX_FILE_BYTES + 1 - total))
            want = _READ_CHUNK
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > MAX_FILE_BYTES:
                raise NotReadable(_too_large(total))
    except OSError as error:
        raise NotReadable(f"cannot read file: {error.strerror}") from None
    finally:
        os.close(descriptor)
    return b"".join(chunks)


def load_file(path: Path, fast: bool = False) -> tuple[SourceDocument | None, list[Diagnostic]]:
    """Read and parse one file; anything but a readable regular UTF-8 text file becomes a finding.

    With ``fast``, a file the fast path vouches for is returned without positions; callers
    re-read it exactly (``fast=False``) before reporting anything about it.
    """
    shown = str(path)
    try:
        raw = read_bytes(shown)
    except NotReadable as refused:
        return None, [Diagnostic(Position(shown), Y_UNREADABLE, str(refused))]
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


class Listing(NamedTuple):
    """The YAML files under the paths given, the problems met finding them, and, for each file found
    by walking a folder, its real path and the inode it had when listed (``real``).

    A real path found this way holds only while the folders above the file are what they were
    when listed: a caller takes it for a file whose inode is still that one, and asks
    ``os.path.realpath`` otherwise (a folder swapped for a link meanwhile leads elsewhere).
    """

    files: list[str]
    problems: list[Diagnostic]
    real: dict[str, tuple[str, int]]


def discover(paths: Iterable[str | Path]) -> tuple[list[str], list[Diagnostic]]:
    """Expand folders into their YAML files, in a stable order; report paths that are neither.

    Only regular files are returned: the callers hash and peek into them before reading, and a
    named pipe would block them.  Paths are text: a registry's tens of thousands of ``Path``
    objects cost more to make and to hash than a plan that reads one file spends on all else.
    """
    found = listing(paths)
    return found.files, found.problems


def listing(paths: Iterable[str | Path]) -> Listing:
    """``discover``, with the real path of each file found by walking a folder.

    Linked folders are not walked, so such a file's real path is its folder's real path and the
    path below it: one ``realpath`` per folder given, where a lookup per file or per folder found
    would ask the system about every one of a registry's thousands of folders again.
    """
    found: list[str] = []
    problems: list[Diagnostic] = []
    real: dict[str, tuple[str, int]] = {}
    for given in paths:
        path = Path(given)
        try:
            mode = os.stat(path).st_mode
        except OSError as error:
            problems.append(Diagnostic(Position(str(path)), Y_UNREADABLE, _missing(str(path), error)))
            continue
        if stat.S_ISDIR(mode):
            files, trouble = _yaml_files(path, real)
            found.extend(files)
            problems.extend(trouble)
        elif (reason := _not_regular(mode) or _refused_path(str(path))) is not None:
            problems.append(Diagnostic(Position(str(path)), Y_UNREADABLE, reason))
        else:
            found.append(str(path))
    return Listing(list(dict.fromkeys(found)), problems, real)


def _refused_path(path: str) -> str | None:
    """Why a path may not be read: it holds a character S006 refuses in text."""
    found = REFUSED.search(path)
    return f"the path holds {describe(found.group())}; rename it" if found else None


def _yaml_files(folder: Path, real: dict[str, tuple[str, int]]) -> tuple[list[str], list[Diagnostic]]:
    """YAML files under a folder (not following linked folders), sorted as paths sort.

    Hidden folders (``.github``, ``.gitlab-ci``, ``.reconciler``, ...) are left out, so that
    a repository's root can be given without its CI workflows being read as declarations.
    ``os.scandir`` rather than ``Path.rglob`` or ``os.walk`` and a ``stat`` per file, and paths
    as text rather than ``Path``: registries hold tens of thousands of files, and every plan and
    every validate lists them.  A YAML name that is not
    a regular file (a dangling or looping link, a pipe) and a folder that cannot be listed
    are reported, not skipped: a declaration that silently goes missing plans its removal.
    So is a path holding a control character: paths are written into CODEOWNERS, one per
    line, and a line feed in a file's name would add a line of the proposer's choosing.
    """
    found: list[str] = []
    problems: list[Diagnostic] = []
    inside = len(os.path.join(str(folder), ""))  # every path found starts with the folder: no relpath
    # The working folder's files are named as ``Path`` names them ("a/b.yaml", not "./a/b.yaml"),
    # as they were when every path found became a ``Path``: the stages compare paths as text.
    dot = inside if str(folder) == "." else 0
    try:
        root: str | None = os.path.join(os.path.realpath(folder), "")  # no folder walked below it is a link
    except OSError:  # the working folder was removed: its files' real paths are asked for, one by one
        root = None
    # Depth first, each folder's entries in name order: the files come out as paths sort (part by
    # part), with no sort of the whole list and no splitting of every path.  A stack of listings
    # rather than recursion: a hostile tree may nest folders deeper than Python's call stack.
    pending = [iter(_listing(str(folder), problems))]
    while pending:  # os.scandir's entries know their type: no stat per file, as os.walk plus a stat would
        entry = next(pending[-1], None)
        if entry is None:
            pending.pop()
            continue
        try:
            is_folder = entry.is_dir()
        except OSError:
            is_folder = False
        if is_folder:
            if not entry.name.startswith(".") and not entry.is_symlink():  # linked folders are not followed
                pending.append(iter(_listing(entry.path, problems)))
            continue
        if not entry.name.endswith(YAML_SUFFIXES) or "." not in entry.name.lstrip("."):
            continue  # as ``os.path.splitext`` says: leading dots start no suffix (".yaml" has none)
        full = entry.path
        if (refused := _refused_path(full[inside:])) is not None:
            problems.append(Diagnostic(Position(full), Y_UNREADABLE, refused))
            continue
        try:
            regular = entry.is_file()  # follows a link, as reading the file will
            mode = 0 if regular else os.stat(full).st_mode
        except OSError as error:
            problems.append(Diagnostic(Position(full), Y_UNREADABLE, _missing(full, error)))
            continue
        if not regular and (reason := _not_regular(mode)) is not None:
            problems.append(Diagnostic(Position(full), Y_UNREADABLE, reason))
            continue
        found.append(full[dot:])
        if root is not None and not entry.is_symlink():  # a linked file's real path is where it leads
            real[full[dot:]] = (root + full[inside:], entry.inode())
    return found, sorted(problems)


def _listing(folder: str, problems: list[Diagnostic]) -> list[os.DirEntry[str]]:
    """A folder's entries in name order; none, and a problem, when it cannot be listed."""
    try:
        with os.scandir(folder) as listing:
            return sorted(listing, key=attrgetter("name"))
    except OSError as error:
        where = str(error.filename) if error.filename else folder
        problems.append(Diagnostic(Position(where), Y_UNREADABLE, f"cannot read folder: {error.strerror}"))
        return []


def load_paths(paths: Iterable[str | Path], fast: bool = False) -> tuple[list[SourceDocument], list[Diagnostic]]:
    """Load every YAML file under ``paths``; collect all problems instead of stopping."""
    files, problems = discover(paths)
    documents, found = load_files(map(Path, files), fast)
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
