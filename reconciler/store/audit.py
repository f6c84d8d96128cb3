"""The audit trail: what was applied, when, by whom, from which plan and commit.

Entries are chained per enterprise: each holds the hash of the one before it, and the
enterprise keeps the number and hash of its last entry.  ``verify`` recomputes every
hash, so an edited entry, a deleted one and a cut-off tail are all reported.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import orjson

from reconciler.records.change import Change

COMMIT_VARIABLES = ("GITHUB_SHA", "CI_COMMIT_SHA", "BUILDKITE_COMMIT", "GIT_COMMIT")
GENESIS = ""


class AuditEntry(NamedTuple):
    enterprise: str
    seq: int
    at: str
    actor: str | None
    run: str
    plan_hash: str
    commit_sha: str | None
    overrides: str  # space-separated override flags used, or ""
    action: str
    address: str
    before: str | None  # JSON of the fields before, or None
    after: str | None
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Context:
    """What every entry of one apply shares."""

    at: str
    actor: str | None
    run: str
    plan_hash: str
    commit_sha: str | None
    overrides: str


def run_id() -> str:
    """The CI run when there is one (so holders and audit entries point at it), else a fresh id."""
    for variable in ("GITHUB_RUN_ID", "CI_PIPELINE_ID", "BUILDKITE_BUILD_ID"):
        if os.environ.get(variable):
            return os.environ[variable]
    return uuid.uuid4().hex[:12]


def commit_from_environment() -> str | None:
    return next((os.environ[v] for v in COMMIT_VARIABLES if os.environ.get(v)), None)


def context(now: datetime, actor: str | None, run: str, plan_hash: str, overrides: Iterable[str]) -> Context:
    return Context(
        now.isoformat(timespec="seconds"), actor, run, plan_hash, commit_from_environment(), " ".join(sorted(overrides))
    )


def _digest(body: tuple) -> str:
    return hashlib.sha256(orjson.dumps(body)).hexdigest()


def entry_hash(entry: AuditEntry) -> str:
    """SHA-256 of every field but the hash itself, in field order, as compact JSON."""
    return _digest(tuple(entry)[:-1])


def _json(fields) -> str | None:
    """Fields as compact JSON with sorted keys (orjson writes tuples as arrays, as the plan's JSON does)."""
    return None if fields is None else orjson.dumps(dict(fields), option=orjson.OPT_SORT_KEYS).decode()


def chain(shared: Context, enterprise: str, changes: Iterable[Change], seq: int, head: str) -> list[AuditEntry]:
    """Entries for ``changes``, continuing the chain after entry ``seq`` whose hash is ``head``."""
    return chain_events(
        shared,
        enterprise,
        ((change.action.value, str(change.address), _json(change.before), _json(change.after)) for change in changes),
        seq,
        head,
    )


def event_json(values: dict | None) -> str | None:
    return None if values is None else orjson.dumps(values, option=orjson.OPT_SORT_KEYS).decode()


def chain_events(
    shared: Context, enterprise: str, events: Iterable[tuple[str, str, str | None, str | None]], seq: int, head: str
) -> list[AuditEntry]:
    """Entries for (action, subject, before JSON, after JSON) events, continuing the chain at ``seq``."""
    entries = []
    common = (shared.at, shared.actor, shared.run, shared.plan_hash, shared.commit_sha, shared.overrides)
    for action, subject, before, after in events:
        seq += 1
        body = (enterprise, seq, *common, action, subject, before, after, head)
        head = _digest(body)
        entries.append(AuditEntry(*body, head))
    return entries


def verify(entries: list[AuditEntry], heads: dict[str, tuple[int, str]]) -> list[str]:
    """Problems in the trail: edited, missing or cut-off entries.  Empty when intact."""
    problems = []
    by_enterprise: dict[str, list[AuditEntry]] = {}
    for entry in entries:
        by_enterprise.setdefault(entry.enterprise, []).append(entry)
    for enterprise in sorted(set(by_enterprise) | set(heads)):
        log = sorted(by_enterprise.get(enterprise, []), key=lambda e: e.seq)
        expected_seq, previous = 1, GENESIS
        for entry in log:
            if entry.seq != expected_seq:
                missing = f"{expected_seq}" if entry.seq == expected_seq + 1 else f"{expected_seq}-{entry.seq - 1}"
                problems.append(f"{enterprise}: entry {missing} is missing (deleted)")
            elif entry.prev_hash != previous:
                problems.append(f"{enterprise}: entry {entry.seq} does not follow entry {entry.seq - 1}")
            if entry_hash(entry) != entry.hash:
                problems.append(f"{enterprise}: entry {entry.seq} was altered (its hash does not match)")
            expected_seq, previous = entry.seq + 1, entry.hash
        seq, head = heads.get(enterprise, (0, GENESIS))
        last = log[-1].seq if log else 0
        if seq != last:
            problems.append(
                f"{enterprise}: the trail ends at entry {last} but the enterprise recorded {seq}: entries were deleted"
            )
        elif log and head != log[-1].hash:
            problems.append(f"{enterprise}: the last entry does not match the head the enterprise recorded")
    return problems
