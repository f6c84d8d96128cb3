"""Selection that cannot surprise: what a plan over some files may and may not conclude.

A plan only knows the files it is given.  An enterprise split over four files and planned
from two of them would have the other two files' people planned away, stopped at best by the
mass-removal gate.  So a plan is refused when a file an enterprise was last applied from
still exists but was not given (P001), unless the enterprise is selected whole with
``--enterprise``: then the files given are all of it, by the person's word.  An enterprise
selected that way must be declared in the files given (P002).

Over whole folders, a plan also lists the enterprises the store holds that no file declares
any more: deleting a file never removes an enterprise (that takes ``offboard: true``), but a
reviewer should know the store still holds it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from reconciler.declare.diagnostics import Diagnostic, Position
from reconciler.declare.identifiers import format_enterprise_number
from reconciler.store.port import Listed, SyncRecord

P_PARTIAL = "P001"
P_NOT_DECLARED = "P002"
SELECTION_RULES = {
    P_PARTIAL: "a plan is given every file an enterprise was last applied from, or selects the enterprise whole",
    P_NOT_DECLARED: "an enterprise selected with --enterprise is declared in the files given",
}

SHOWN_FILES = 10  # missing files named in one message; the rest are counted


def partial_enterprises(
    planned: Mapping[str, Iterable[str]],
    records: Mapping[str, SyncRecord],
    found: set[str],
    whole: frozenset[str],
    given_as: Mapping[str, object] | None = None,
) -> list[Diagnostic]:
    """P001 for each planned enterprise whose last-applied files still exist but were not given.

    ``planned``: per enterprise, the files it was planned from; ``found``: every file the paths
    given hold (a missing file found there now declares another enterprise: it moved);
    ``whole``: enterprises selected whole; ``given_as``: real path -> the file as it was given, for
    the message.  Paths are real paths (``desired.real_path``), so no spelling of a path hides a
    file.  A file deleted from disk is an ordinary edit.
    """
    given_as = given_as or {}
    problems = []
    for number, files in sorted(planned.items()):
        record = records.get(number)
        if record is None or number in whole:
            continue
        given = set(files)
        missing = sorted(p for p in record.files if p not in given and p not in found and Path(p).is_file())
        if not missing:
            continue
        named = ", ".join(_shown(p) for p in missing[:SHOWN_FILES]) + (
            f" and {len(missing) - SHOWN_FILES} more" if len(missing) > SHOWN_FILES else ""
        )
        label = format_enterprise_number(number)
        problems.append(
            Diagnostic(
                Position(str(given_as.get(sorted(given)[0]) or _shown(sorted(given)[0]))),
                P_PARTIAL,
                f"enterprise {label} was last applied from {len(record.files)} files; {named} "
                f"{'still exist' if len(missing) > 1 else 'still exists'} but {'were' if len(missing) > 1 else 'was'} "
                f"not given, and planning without {'them' if len(missing) > 1 else 'it'} would remove what "
                f"{'they declare' if len(missing) > 1 else 'it declares'}. Give "
                f"{'them' if len(missing) > 1 else 'it'} too (or the folder), or --enterprise {number} to plan the "
                "enterprise from the files given alone",
            )
        )
    return problems


def _shown(path: str) -> str:
    """A file as people gave it, usually: relative to the working directory when it lies inside."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def not_declared(selected: Iterable[str], declared: set[str], paths: list[str]) -> list[Diagnostic]:
    """P002 for each enterprise selected with --enterprise that no file given declares."""
    where = Position(", ".join(paths))
    return [
        Diagnostic(
            where,
            P_NOT_DECLARED,
            f"enterprise {format_enterprise_number(number)} was selected with --enterprise but no file given "
            "declares it (to remove it from the store, declare it with offboard: true)",
        )
        for number in sorted(set(selected) - declared)
    ]


def applied_under(applied: Mapping[str, list[str]], folders: list[str]) -> list[str]:
    """Of ``applied`` (enterprise -> the files it was last applied from), those with a file under one
    of ``folders``, or with no file known (written by other means): planning a subfolder says
    nothing of the rest of the registry."""
    roots = tuple(folder.rstrip(os.sep) + os.sep for folder in folders)
    return sorted(number for number, paths in applied.items() if not paths or any(p.startswith(roots) for p in paths))


def undeclared_enterprises(listed: Iterable[Listed], declared: set[str]) -> list[str]:
    """Stored enterprises, not off-boarded, that no file declares."""
    return [item.number for item in listed if not item.offboarded and item.number not in declared]
