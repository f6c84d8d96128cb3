"""The validation cache: which enterprises, exactly as their files are now, were found valid.

``validate`` reads a tree of thousands of files; a pull request changes a few.  Like ruff and
mypy, it keeps what it learnt in a local folder (``.reconciler/cache`` by default) and, the
next time, reads again only the enterprises whose files changed.

**Key.**  The unit is the enterprise, not the file, because rules span the files of one
enterprise (a person declared twice, an access manager declared in another file).  The key of
an enterprise is the SHA-256 of, in order, the SHA-256 and path of each of its files, and of
everything else validity depends on (``salt``): the cache format, the tool's version, a digest
of the tool's own source, the versions of the parsers and validators it uses, the effective
catalogue (``catalogue_sha``), and today's date in Belgium (rules read it: ended grants, the
years a birth date may have).  Change any of it and no entry matches any more.

**Hashing without reading.**  Hashing every file of a large tree costs more than the rest of a
warm run, so the SHA-256 of each file is remembered too (``hashes``) with its size, inode and
modification and change times, as git's index and mypy's cache do; a file whose four are
unchanged is not read.  A file changed within two seconds of being hashed is hashed again
next time, since coarse timestamps would not show a second change in that instant, and no
program sets a change time without changing the clock.

**What is kept.**  Only verdicts of *valid* enterprises (no problem, no warning), with the
counts ``validate`` prints; problems are never kept, so an enterprise with any finding is read
again and every message keeps its ``file:line:column``.

**What is trusted.**  Each of the two files is written owner-only (0600, in a 0700 folder) and
renamed into place, whole.  It is read only if it is a regular file (not a link) owned by the
user running the tool, readable and writable by nobody else, in a folder nobody else may
write to; its first line names the format, its second what it was written under (for the
verdicts, the salt: a file of another version, catalogue or day is dropped as a whole, which
also bounds its size), its third is the SHA-256 of the rest, and every entry after has exactly
the expected shape.  Anything else, the whole file is ignored and rewritten: a damaged or
planted cache costs a full read, it never makes an invalid tree pass.  A cache is as
trustworthy as whoever wrote it: one restored from another trust domain (a CI cache that a
fork's pull request could write) is not to be used; ``validate --no-cache`` reads everything.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import stat
import sys
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pydantic
import pydantic_core
import yaml

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import ryml

import reconciler
from reconciler import __version__
from reconciler.declare import identifiers
from reconciler.plan.incremental import catalogue_sha
from reconciler.records import clock
from reconciler.store.files import private_folder, write_private

DEFAULT_FOLDER = Path(".reconciler") / "cache"
VERDICTS_FILE, HASHES_FILE = "validate", "hashes"
HEADER = "reconciler validate cache 1"
MAX_BYTES = 64 * 1024 * 1024  # a few hundred thousand entries; a larger file is not ours
MAX_ENTRIES = 200_000
# A file changed less than this long before it was hashed may change again without its
# size or times showing it (timestamps are coarse): it is hashed again next time.
SETTLED_NS = 2_000_000_000
_LINE = re.compile(r"([0-9a-f]{64}) ([0-9]{1,9}) ([0-9]{1,9}) ([0-9]{1,9})")
# Ignored by git, as ruff and mypy do with theirs: declarations live in repositories.
_IGNORE_ALL = "# Written by reconciler validate: a local cache, never to be committed.\n*\n"


@dataclass(frozen=True)
class Verdict:
    """What validating one valid enterprise gave: the counts ``validate`` reports."""

    declared: int  # files of the enterprise's declaration
    read: int  # files read (a catalogue file among them is read, not declared)
    enterprises: int


@cache
def _source_digest() -> str:
    """SHA-256 of the tool's own source (code, schemas, the shipped catalogue): a changed rule changes it."""
    root = Path(reconciler.__file__).parent
    hasher = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.suffix in (".py", ".json", ".yaml") and "__pycache__" not in path.parts:
            hasher.update(f"{path.relative_to(root)}\0".encode())
            hasher.update(hashlib.sha256(path.read_bytes()).digest())
    return hasher.hexdigest()


@cache
def _stdnum_version() -> str:
    """stdnum's version as its package states it, read rather than imported: importing stdnum
    imports ssl and pydoc, which most plans never need (``identifiers`` checks compact numbers
    itself).  The file's digest when it states none."""
    spec = importlib.util.find_spec("stdnum")
    if spec is None or spec.origin is None:
        return "?"
    text = Path(spec.origin).read_bytes()
    found = re.search(rb"""^__version__ = ['"]([^'"]+)['"]""", text, re.M)
    return found.group(1).decode() if found else hashlib.sha256(text).hexdigest()[:16]


def salt(dated: bool = True) -> bytes:
    """Everything but the files that the validity of an enterprise depends on (``dated``: today's
    date among it; what files *say*, their facts, does not depend on the day)."""
    libraries = (yaml, ryml, orjson, pydantic, pydantic_core)
    versions = " ".join(f"{m.__name__}={getattr(m, '__version__', '?')}" for m in libraries)
    versions += f" stdnum={_stdnum_version()}"
    day = clock.today().isoformat() if dated else "any day"
    return (
        f"{HEADER}\n{__version__}\n{_source_digest()}\n{sys.version}\n{versions}\n{catalogue_sha()}\n{day}\n"
    ).encode()


def key_of(salted: bytes, files: list[tuple[str, str]]) -> str:
    """The key of an enterprise: ``salt`` and each file's path and SHA-256, in reading order.

    Paths are length-prefixed, so no file name can make two lists of files hash alike.
    """
    hasher = hashlib.sha256(salted)
    for path, sha in files:
        raw = os.fsencode(path)
        hasher.update(b"%d:" % len(raw) + raw + sha.encode() + b"\n")
    return hasher.hexdigest()


def _ours(mode: int, uid: int, kind: int) -> bool:
    """Of this kind, owned by whoever runs the tool, and nobody else may write it (or read it, for files)."""
    private = 0o077 if kind == stat.S_IFREG else 0o022
    return stat.S_IFMT(mode) == kind and uid == os.geteuid() and not mode & private


def _folder_usable(folder: Path) -> bool:
    """Whether the cache folder may be used: missing (it is created private), or a folder of ours."""
    try:
        info = os.lstat(folder)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return _ours(info.st_mode, info.st_uid, stat.S_IFDIR)


def _read_sealed(path: Path, generation: str, limit: int = MAX_BYTES) -> bytes | None:
    """The body of a cache file, or None when anything about it is not exactly as it was written."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        info = os.fstat(descriptor)
        if not _ours(info.st_mode, info.st_uid, stat.S_IFREG) or info.st_size > limit:
            return None
        with os.fdopen(os.dup(descriptor), "rb") as handle:
            raw = handle.read(limit + 1)
    except OSError:
        return None
    finally:
        os.close(descriptor)
    head, _, rest = raw.partition(b"\n")
    written_under, _, rest = rest.partition(b"\n")
    digest, _, body = rest.partition(b"\n")
    if head != HEADER.encode() or written_under != generation.encode():
        return None
    if digest != hashlib.sha256(body).hexdigest().encode():
        return None
    return body


def _write_sealed(folder: Path, name: str, generation: str, body: bytes) -> None:
    """Write a cache file, owner-only, whole or not at all; a cache that cannot be written is no error."""
    text = f"{HEADER}\n{generation}\n{hashlib.sha256(body).hexdigest()}\n{body.decode()}"
    try:
        private_folder(folder)
        ignore = folder / ".gitignore"
        if not ignore.exists():
            write_private(ignore, _IGNORE_ALL)
        write_private(folder / name, text)
    except OSError:
        pass  # the next run reads everything


def _generation(salted: bytes) -> str:
    return hashlib.sha256(salted).hexdigest()


class Verdicts:
    """The verdicts kept in one cache folder; ``save`` writes back what this run used and found."""

    def __init__(self, folder: Path, salted: bytes, entries: dict[str, Verdict], usable: bool) -> None:
        self.folder = folder
        self.salted = salted
        self.kept = entries
        self.usable = usable  # False: the folder is not ours; read nothing, write nothing
        self.used: dict[str, Verdict] = {}
        self.found = 0

    @classmethod
    def open(cls, folder: Path, salted: bytes) -> Verdicts:
        """The verdicts kept in ``folder`` under this salt (none if the folder does not exist yet)."""
        if not _folder_usable(folder):
            return cls(folder, salted, {}, usable=False)
        body = _read_sealed(folder / VERDICTS_FILE, _generation(salted))
        return cls(folder, salted, _verdicts(body) if body is not None else {}, usable=True)

    def get(self, key: str) -> Verdict | None:
        verdict = self.kept.get(key) if self.usable else None
        if verdict is not None:
            self.used[key] = verdict
        return verdict

    def put(self, key: str, verdict: Verdict) -> None:
        if key not in self.used:
            self.found += 1
        self.used[key] = verdict

    def save(self) -> None:
        """Write the verdicts used or found now, then older ones of the same salt, when anything is new."""
        if not self.usable or not self.found:
            return
        entries = dict(self.used)
        for key, verdict in self.kept.items():
            if len(entries) >= MAX_ENTRIES:
                break
            entries.setdefault(key, verdict)
        body = "".join(f"{key} {v.declared} {v.read} {v.enterprises}\n" for key, v in entries.items())
        _write_sealed(self.folder, VERDICTS_FILE, _generation(self.salted), body.encode())


def _verdicts(body: bytes) -> dict[str, Verdict]:
    """The verdicts of a sealed body; none at all if a single line is not as written."""
    entries: dict[str, Verdict] = {}
    try:
        lines = body.decode("ascii").splitlines()
    except UnicodeDecodeError:
        return {}
    for line in lines:
        match = _LINE.fullmatch(line)
        if match is None or match.group(1) in entries:
            return {}
        entries[match.group(1)] = Verdict(int(match.group(2)), int(match.group(3)), int(match.group(4)))
    return entries if len(entries) <= MAX_ENTRIES else {}


Stamp = tuple[int, int, int, int, int]  # size, modification and change times (ns), inode, device
HASHES_GENERATION = "hashes 1"
_SHA = re.compile(r"[0-9a-f]{64}")
_INTEGERS = {int}


def stamp(info: os.stat_result) -> Stamp:
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev)


class Hashes:
    """Each file's SHA-256 and the enterprise its head names, as long as its stamp is unchanged.

    Entries are kept as read and checked one by one when asked for: a plan that reads one file
    asks for every file of the registry, and building tens of thousands of checked tuples up front
    cost more than the rest of such a plan.  An entry not as written is no entry.
    """

    def __init__(self, folder: Path, entries: dict[str, Any], usable: bool) -> None:
        self.folder = folder
        self.kept = entries
        self.usable = usable
        self.seen: dict[str, tuple[str, str | None, Stamp]] = {}
        self.changed = False

    @classmethod
    def open(cls, folder: Path) -> Hashes:
        if not _folder_usable(folder):
            return cls(folder, {}, usable=False)
        body = _read_sealed(folder / HASHES_FILE, HASHES_GENERATION)
        return cls(folder, _json_object(body) if body is not None else {}, usable=True)

    def get(self, path: str, info: os.stat_result) -> tuple[str, str | None] | None:
        """The SHA-256 and head of ``path`` when its stamp (``stamp(info)``) is the one recorded with them."""
        raw = self.kept.get(path) if self.usable else None
        if type(raw) is not list:
            return None
        found = (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev)
        if raw[2:] != [*found]:  # the stamp first: cheap, and it rules out most
            return None
        # The stamp recorded equals the one found: it must also be written as integers (not 1.0, not true).
        sha, number = raw[0], raw[1]
        if set(map(type, raw[2:])) != _INTEGERS:
            return None
        if not (type(sha) is str and _SHA.fullmatch(sha) and (number is None or type(number) is str)):
            return None
        self.seen[path] = (sha, number, found)
        return sha, number

    def put(self, path: str, sha: str, number: str | None, found: Stamp, now_ns: int) -> None:
        """Remember a file hashed now, unless it changed so recently that it may change unseen."""
        _, _, modified, changed, _ = found
        if now_ns - max(modified, changed) >= SETTLED_NS:
            self.seen[path] = (sha, number, found)
            self.changed = True

    def save(self) -> None:
        if not self.usable or not self.changed:
            return
        entries = dict(self.seen)
        for path, raw in self.kept.items():
            if len(entries) >= MAX_ENTRIES * 10:
                break
            if path not in entries and (entry := _hash_entry(raw)) is not None:
                entries[path] = entry
        try:
            body = orjson.dumps({path: [sha, number, *found] for path, (sha, number, found) in entries.items()})
        except TypeError:  # a path that is not text (undecodable bytes in its name): remember nothing
            return
        _write_sealed(self.folder, HASHES_FILE, HASHES_GENERATION, body)


def _hash_entry(raw: object) -> tuple[str, str | None, Stamp] | None:
    """A remembered hash as written (SHA-256, head, five counts), or None."""
    if not (type(raw) is list and len(raw) == 7):
        return None
    sha, number, *found = raw
    if not (type(sha) is str and _SHA.fullmatch(sha) and (number is None or type(number) is str)):
        return None
    if set(map(type, found)) != {int} or min(found) < 0:
        return None
    return sha, number, (found[0], found[1], found[2], found[3], found[4])


def _json_object(body: bytes) -> dict:
    """A sealed body's JSON object; empty when it is not one."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


FACTS_FOLDER = "facts"
FACTS_MAX_BYTES = 512 * 1024 * 1024  # the facts of an enterprise of a million users are about 120 MB
Kept = dict[str, tuple[str, dict]]  # path -> (SHA-256 of the file, its ``plan.facts`` as data)


def facts_generation() -> str:
    """What the kept facts of files were written under: the tool, its parsers and the catalogue."""
    return _generation(salt(dated=False))


def read_enterprise_facts(folder: Path, number: str, generation: str) -> Kept:
    """The facts ``validate`` kept of an enterprise's files when it found it valid (``plan.partial``),
    or none when the file is missing, not ours, of another generation or not exactly as written."""
    if not identifiers.is_enterprise_number(number):  # the file's name: digits only
        return {}
    inside = folder / FACTS_FOLDER
    if not _folder_usable(folder) or not _folder_usable(inside):
        return {}
    body = _read_sealed(inside / number, generation, FACTS_MAX_BYTES)
    data = _json_object(body) if body is not None else {}
    kept: Kept = {}
    for path, entry in data.items():
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
            return {}
        if not isinstance(entry[1], dict):
            return {}
        kept[path] = (entry[0], entry[1])
    return kept


def write_enterprise_facts(folder: Path, number: str, generation: str, kept: Kept) -> None:
    """Keep the facts of a valid enterprise's files, owner-only, replacing what was kept of it."""
    if not identifiers.is_enterprise_number(number):
        return
    if not _folder_usable(folder) or not _folder_usable(folder / FACTS_FOLDER):  # never through a link
        return
    try:
        body = orjson.dumps({path: [sha, text] for path, (sha, text) in kept.items()})
    except TypeError:  # a path that is not text: keep nothing
        return
    _write_sealed(folder / FACTS_FOLDER, number, generation, body)
