"""Files the tool writes hold SSINs, names or access codes: owner-only, whatever the umask.

Every file is created with mode 0600 and every folder the tool creates with 0700, from the
first byte (never created readable and tightened afterwards); a file is written beside its
target and renamed over it, so a reader never sees half of it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_folder(path: Path) -> None:
    """Create ``path`` (and missing parents) owner-only; an existing folder is left as it is."""
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        folder.mkdir(mode=FOLDER_MODE, exist_ok=True)
        os.chmod(folder, FOLDER_MODE)  # mkdir's mode is filtered by the umask


def create_private(path: Path) -> None:
    """Create an empty owner-only file unless it exists (a SQLite database, before SQLite opens it)."""
    private_folder(path.parent)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.fchmod(descriptor, FILE_MODE)
    os.close(descriptor)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to an owner-only file, atomically.

    The temporary file gets an unpredictable name and is created exclusively (``mkstemp``),
    so a link planted beside the target cannot redirect the write.
    """
    private_folder(path.parent)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(descriptor, FILE_MODE)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def tighten(path: Path) -> None:
    """Make an existing file of ours owner-only (a store created by an older release, or by hand)."""
    with contextlib.suppress(FileNotFoundError, PermissionError):
        if path.stat().st_mode & 0o077:
            os.chmod(path, FILE_MODE)
