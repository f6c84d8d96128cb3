"""The audit trail: what was applied, when, by whom, from which plan and commit.

Entries are chained per enterprise: each holds the hash of the one before it, and the
enterprise keeps the number and hash of its last entry.  ``verify`` recomputes every
hash, so an edited entry, a deleted one and a cut-off tail are all reported.  Cutting the
tail off *and* rewriting the recorded head is caught by anyone who kept a head (a CI log,
a PR comment): ``verify_heads`` proves a kept head is still in the chain.

With ``RECONCILER_AUDIT_KEY`` set, new entries are chained with HMAC-SHA-256 (their hash
reads ``hmac-sha256:...``): without the key nobody can write an entry that verifies.  Entries
written before the key was set stay plain SHA-256, but none may follow a keyed one.

Like Vault's "no audit, no request", a command refuses to append to a chain that does not
verify (``ChainBroken``), unless a person lifts that explicitly; the lifting is itself
recorded in the chain.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import orjson

from reconciler.records.change import Change
from reconciler.records.state import Fields

COMMIT_VARIABLES = ("GITHUB_SHA", "CI_COMMIT_SHA", "BUILDKITE_COMMIT", "GIT_COMMIT")
GENESIS = ""
KEY_ENV = "RECONCILER_AUDIT_KEY"
KEYED = "hmac-sha256:"
OVERRIDE = "--allow-broken-audit-trail"


class ChainBroken(Exception):
    """An enterprise's audit trail does not verify: nothing may be appended to it."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


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


def audit_key() -> bytes | None:
    key = os.environ.get(KEY_ENV)
    return key.encode() if key else None


def _digest(body: tuple, key: bytes | None) -> str:
    data = orjson.dumps(body)
    if key is not None:
        return KEYED + hmac.new(key, data, hashlib.sha256).hexdigest()
    return hashlib.sha256(data).hexdigest()


def entry_hash(entry: AuditEntry, key: bytes | None = None) -> str:
    """The hash of every field but the hash itself, in field order, as compact JSON.

    Plain SHA-256 for plain entries, HMAC-SHA-256 (``key``) for keyed ones.
    """
    return _digest(tuple(entry)[:-1], key if entry.hash.startswith(KEYED) else None)


def _json(fields) -> str | None:
    """Fields as compact JSON with sorted keys (orjson writes tuples as arrays, as the plan's JSON does)."""
    return None if fields is None else orjson.dumps(dict(fields), option=orjson.OPT_SORT_KEYS).decode()


def change_events(changes: Iterable[Change]) -> list[tuple[str, str, str | None, str | None]]:
    """The audit events of a plan's changes: (action, address, before JSON, after JSON).

    Users share their fields (``records.state.shared``), so each fields object is written as JSON
    once, keyed by identity: sound while ``changes`` holds every object written.
    """
    changes = list(changes)  # held, so that no object written is freed and its identity reused
    written: dict[int, str | None] = {}

    def text(fields: Fields | None) -> str | None:
        found = written.get(id(fields), _UNSEEN)
        if found is _UNSEEN:
            found = written[id(fields)] = _json(fields)
        return found  # type: ignore[return-value]

    return [(change.action.value, str(change.address), text(change.before), text(change.after)) for change in changes]


_UNSEEN = object()


def event_json(values: dict | None) -> str | None:
    return None if values is None else orjson.dumps(values, option=orjson.OPT_SORT_KEYS).decode()


def chain_events(
    shared: Context,
    enterprise: str,
    events: Iterable[tuple[str, str, str | None, str | None]],
    seq: int,
    head: str,
    run_id: int,
) -> list[tuple[str, int, int, str, str, str | None, str | None, str]]:
    """Entries for (action, subject, before JSON, after JSON) events, continuing the chain at ``seq``.

    As stored (``STORED_COLUMNS``): the apply's own fields are the row ``run_id`` of audit_runs,
    and the previous hash is the hash of the row before.  Each is hashed over all its fields
    (``AuditEntry``), those two included.
    """
    key = audit_key()
    rows = []
    common = (shared.at, shared.actor, shared.run, shared.plan_hash, shared.commit_sha, shared.overrides)
    for action, subject, before, after in events:
        seq += 1
        previous = head
        head = _digest((enterprise, seq, *common, action, subject, before, after, previous), key)
        rows.append((enterprise, seq, run_id, action, subject, before, after, head))
    return rows


STORED_COLUMNS = ("enterprise", "seq", "run_id", "action", "address", "before", "after", "hash")
RUN_COLUMNS = ("at", "actor", "run", "plan_hash", "commit_sha", "overrides")

# Entries as ``stored_entries`` reads them, in (enterprise, seq) order once a WHERE and an ORDER BY
# are added.  An entry whose apply's row is gone reads as an entry with none of its apply's
# fields, and so does not verify.
ENTRY_QUERY = (
    "SELECT e.enterprise, e.seq, r.at, r.actor, r.run, r.plan_hash, r.commit_sha, r.overrides, "
    "e.action, e.address, e.before, e.after, e.hash FROM audit_log e LEFT JOIN audit_runs r ON r.id = e.run_id"
)


def stored_entries(rows: Iterable[tuple], start: str = GENESIS) -> list[AuditEntry]:
    """Entries from ``ENTRY_QUERY`` rows in (enterprise, seq) order.

    Each entry follows the hash of the row read before it, an enterprise's first row read
    follows ``start``: so an entry deleted, or one edited and hashed again, breaks the hash of
    the entry after it, as it did when every entry kept its predecessor's hash.
    """
    entries = []
    enterprise, previous = None, start
    for row in rows:
        if row[0] != enterprise:
            enterprise, previous = row[0], start
        entries.append(AuditEntry._make((*row[:-1], previous, row[-1])))
        previous = row[-1]
    return entries


def verify_chain(
    enterprise: str, log: list[AuditEntry], start: tuple[int, str] = (0, GENESIS), key: bytes | None = None
) -> list[str]:
    """Problems in one enterprise's entries, which follow entry ``start`` = (seq, hash), in order."""
    problems = []
    expected_seq, previous = start[0] + 1, start[1]
    keyed_seen = start[1].startswith(KEYED)
    for entry in log:
        if type(entry.seq) is not int or entry.seq < expected_seq:
            # Numbered where no entry of this chain can be (0, before the last one verified, 7.5):
            # written by hand.  It is read as the entry before the next one, whose hash then breaks.
            problems.append(f"{enterprise}: entry {entry.seq!r} is numbered out of sequence (written by hand)")
            previous = entry.hash
            continue
        if entry.seq != expected_seq:
            missing = f"{expected_seq}" if entry.seq == expected_seq + 1 else f"{expected_seq}-{entry.seq - 1}"
            problems.append(f"{enterprise}: entry {missing} is missing (deleted)")
        elif entry.prev_hash != previous:
            problems.append(f"{enterprise}: entry {entry.seq} does not follow entry {entry.seq - 1}")
        if not _hashable(entry):
            problems.append(f"{enterprise}: entry {entry.seq} was altered (it holds a value that is not text)")
        elif entry.hash.startswith(KEYED):
            keyed_seen = True
            if key is None:
                problems.append(f"{enterprise}: entry {entry.seq} is keyed: set {KEY_ENV} to verify it")
            elif not hmac.compare_digest(entry_hash(entry, key), entry.hash):
                problems.append(f"{enterprise}: entry {entry.seq} was altered (its HMAC does not match)")
        else:
            if keyed_seen:
                problems.append(f"{enterprise}: entry {entry.seq} is not keyed but follows keyed entries")
            if entry_hash(entry) != entry.hash:
                problems.append(f"{enterprise}: entry {entry.seq} was altered (its hash does not match)")
        expected_seq, previous = entry.seq + 1, entry.hash
    return problems


def _hashable(entry: AuditEntry) -> bool:
    """Whether the entry holds only what an apply writes (text, numbers, nothing): a value written by
    hand in another type (bytes in a text column, which SQLite keeps) cannot be hashed, only reported."""
    return isinstance(entry.hash, str) and all(
        value is None or isinstance(value, str | int | float) for value in tuple(entry)[:-1]
    )


def verify_head(
    enterprise: str, log: list[AuditEntry], recorded: tuple[int, str], start: int = 0, key: bytes | None = None
) -> list[str]:
    """Whether the chain ends where the enterprise says it does; with the key, in a keyed entry.

    A keyed chain must end keyed: otherwise someone without the key could rewrite every entry
    as plain SHA-256 and the chain would verify.  A chain written before the key was set ends
    plain until ``reconciler audit seal`` appends a keyed entry to it.
    """
    seq, head = recorded
    last = log[-1].seq if log else start
    if seq != last:
        return [f"{enterprise}: the trail ends at entry {last} but the enterprise recorded {seq}: entries were deleted"]
    if log and head != log[-1].hash:
        return [f"{enterprise}: the last entry does not match the head the enterprise recorded"]
    if key is not None and seq and not head.startswith(KEYED):
        return [
            f"{enterprise}: the trail does not end in a keyed entry although {KEY_ENV} is set: it was rewritten, "
            "or it was never sealed (check it, then `reconciler audit seal`)"
        ]
    return []


def numbered(entries: Iterable[AuditEntry]) -> list[AuditEntry]:
    """The entries numbered by a whole number, in order: what a view may read a trail's history
    from.  Any other number (text, which SQLite keeps in an INTEGER column, a decimal from a column
    whose type was changed) was written by hand, outside the chain; verifying names it."""
    return sorted((e for e in entries if type(e.seq) is int), key=lambda e: e.seq)


def in_order(entries: Iterable[AuditEntry]) -> list[AuditEntry]:
    """A trail's entries by number; those numbered otherwise by hand (text, which SQLite keeps in an
    INTEGER column) after them, as read: verifying names them, and no reader may fail on them."""
    return sorted(entries, key=lambda e: (0, e.seq) if isinstance(e.seq, int | float) else (1, 0))


def verify(entries: list[AuditEntry], heads: dict[str, tuple[int, str]], key: bytes | None = None) -> list[str]:
    """Problems in the trail: edited, missing or cut-off entries.  Empty when intact."""
    key = key if key is not None else audit_key()
    problems = []
    by_enterprise: dict[str, list[AuditEntry]] = {}
    for entry in entries:
        by_enterprise.setdefault(entry.enterprise, []).append(entry)
    for enterprise in sorted(set(by_enterprise) | set(heads)):
        log = in_order(by_enterprise.get(enterprise, []))
        problems += verify_chain(enterprise, log, key=key)
        problems += verify_head(enterprise, log, heads.get(enterprise, (0, GENESIS)), key=key)
    return problems


def verify_heads(entries: list[AuditEntry], kept: Iterable[str]) -> list[str]:
    """Problems with heads someone kept: each must still be the hash of an entry in the chain."""
    where = {entry.hash: entry for entry in entries}
    problems = []
    for head in kept:
        if head not in where:
            problems.append(
                f"head {head[:80]} is not in the audit trail: entries were removed or rewritten since it was kept"
            )
    return problems
