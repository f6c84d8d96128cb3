"""Plan from files on disk, one enterprise at a time.

Only one enterprise's declaration and stored rows are in memory at once; what is kept is
the plan (its changes), so a registry of a million users is planned in the memory of its
largest enterprise.  Every problem of every file is still collected before failing once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from reconciler.authority import check_authority
from reconciler.declared import Site
from reconciler.desired import (Outcome, Regroup, SyncLookup, digest, exactly, iter_enterprises, no_files,
                                select)
from reconciler.diagnostics import Diagnostic
from reconciler.gates import Policy
from reconciler.plan import Plan, PlanPart, combine, plan_enterprise
from reconciler.state import Address, declared_state
from reconciler.store import Store


@dataclass(frozen=True)
class Planned:
    plan: Plan
    problems: list[Diagnostic]  # sorted; the plan is meaningless when there are any
    digest: str  # of the declared files the plan was computed from


Progress = Callable[[int, int], None]  # (files read so far, files to read)


def plan_paths(paths: Iterable[str | Path], store: Store, policy: Policy, full: bool = False,
               progress: Progress | None = None) -> Planned:
    """Plan every enterprise declared under ``paths``; skip unchanged ones unless ``full``."""
    paths = list(paths)
    sync: SyncLookup | None = None if full else store.sync_records
    try:
        return _plan(paths, store, policy, sync, stream=True, progress=progress)
    except Regroup:
        return _plan(paths, store, policy, sync, stream=False, progress=progress)


def _plan(paths: list, store: Store, policy: Policy, sync: SyncLookup | None, stream: bool,
          progress: Progress | None) -> Planned:
    selection = select(paths, sync)
    problems = list(selection.problems)
    parts: list[PlanPart] = []
    files: dict[str, str] = {}
    documents = 0
    for outcome in iter_enterprises(selection, stream=stream):
        problems.extend(outcome.problems)
        documents += outcome.documents
        if progress is not None:
            progress(documents, len(selection.files))
        if outcome.state is None or outcome.problems:
            continue
        files.update(outcome.files)
        stored = store.read([outcome.number]).get(outcome.number)
        part = plan_enterprise(outcome.number, outcome.state, stored, policy, outcome.files)
        if policy.actor and part.changes:
            problems.extend(_authority(outcome, part, stored, policy.actor))
        parts.append(part)
    if not documents and not problems and not selection.skipped:
        problems.append(no_files(paths))
    plan = combine(parts, policy, selection.skipped)
    return Planned(plan, sorted(problems), digest(selection.hashed or files))


def _authority(outcome: Outcome, part: PlanPart, stored, actor: str) -> list[Diagnostic]:  # noqa: ANN001
    current = {outcome.number: stored} if stored else {}
    found = check_authority(part.changes, current, actor, outcome.origins)
    if found and not all(f.site.document.exact for f in outcome.declaration.files):
        # The fast path keeps no positions: read the enterprise again to say where each change is.
        origins: dict[Address, Site] = declared_state(exactly(outcome.declaration))[1]
        found = check_authority(part.changes, current, actor, origins)
    return found
