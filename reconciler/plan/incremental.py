"""Incremental planning: skip enterprises whose files and stored rows are as last applied.

An enterprise is skipped only when all of these hold, so a change on either side is
never missed:

- every file it was last applied from is still there with the same SHA-256, and no other
  file given now declares it (files not seen before are parsed first to find out);
- its stored version is the one its last apply left (every write bumps the version,
  including writes made outside reconciler);
- the digest of the tool's version, the catalogue and those files matches;
- none of its grants ends within the window the plan lists ending grants for (``until``): on
  its day the same files declare less, and before that the plan names it (``plan.ending``).  The catalogue
  is the effective one, the user's file (``reconciler.yaml`` or ``--catalogue``) included: a
  quality that offers one service fewer may make a declaration invalid that was valid.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from functools import lru_cache

from reconciler import __version__
from reconciler.declare.catalogue import load_catalogue
from reconciler.records import clock
from reconciler.store.port import SyncRecord


def catalogue_sha() -> str:
    """Digest of the effective catalogue: the shipped file and the user's, as they are now."""
    return load_catalogue().digest


def sync_digest(files: dict[str, str]) -> str:
    """Digest of what a declaration was computed with: tool, catalogue and files."""
    hasher = _tool_digest(__version__, catalogue_sha()).copy()  # every enterprise of a registry asks, on every plan
    for path in sorted(files):
        hasher.update(f"{path}\0{files[path]}\n".encode())
    return hasher.hexdigest()


@lru_cache(maxsize=4)
def _tool_digest(version: str, catalogue: str):  # hashlib's hash objects have no public type to name
    """The digest of the tool and the catalogue, to be copied and continued with an enterprise's files."""
    return hashlib.sha256(f"{version}\n{catalogue}\n".encode())


def skippable(hashed: dict[str, str], records: dict[str, SyncRecord], window: int = 0) -> set[str]:
    """Enterprises that need no planning, given the files found now (path -> sha256), and the days
    ahead in which an ending grant makes an enterprise worth reading again."""
    horizon = (clock.today() + timedelta(days=window)).isoformat()
    skipped = set()
    for number, record in records.items():
        if record.version != record.synced_version or not record.files:
            continue
        if any(hashed.get(path) != sha for path, sha in record.files.items()):
            continue
        if sync_digest(record.files) != record.digest:
            continue
        if record.next_expiry is not None and record.next_expiry <= horizon:
            continue
        skipped.add(number)
    return skipped


def eligible(record: SyncRecord, today: date, window: int) -> bool:
    """Whether an enterprise that is not skipped may be planned from its changed files alone
    (``plan.patch``): as its last apply left it, under the same tool and catalogue, with no grant
    ending within the window (the plan names those: it reads the enterprise whole)."""
    if record.version != record.synced_version or not record.files:
        return False
    if record.next_expiry is not None and record.next_expiry <= (today + timedelta(days=window)).isoformat():
        return False
    return sync_digest(record.files) == record.digest
