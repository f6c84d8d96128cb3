"""Execute a plan: lock its enterprises, check the store has not moved, run every change.

All or nothing: the changes, the version bumps, the audit entries and the lock live in one
transaction.  Before anything is written, a saved plan must belong to this store and its
actor must still hold the authority the plan was checked for; the audit trail of every
enterprise the plan touches must verify.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from itertools import islice

from reconciler.declare.diagnostics import Diagnostic
from reconciler.plan.authority import check_authority
from reconciler.plan.drift import adopted_events, adopted_people, drift_of
from reconciler.plan.gates import Policy, Refusal, check_gates, unlifted
from reconciler.plan.plan import Plan
from reconciler.plan.saved import SavedPlan, plan_hash
from reconciler.records import clock
from reconciler.records.change import Change
from reconciler.records.changes import Changes
from reconciler.store import audit
from reconciler.store.port import StalePlan, Store

EXECUTED_TOGETHER = 20_000  # changes handed to the store at a time, at most


class Refused(Exception):
    """A safety gate refuses the plan and no override lifts it."""

    def __init__(self, refusals: list[Refusal]):
        self.refusals = refusals
        super().__init__(
            "; ".join(f"{r.gate} enterprise {r.enterprise} {r.message} (lift with {r.override})" for r in refusals)
        )


class WrongStore(Exception):
    """A saved plan was made on another store (another lineage) than the one it is applied to."""


class NotAuthorised(Exception):
    """The plan's actor may not make some of its changes, by the stored state as it is now."""

    def __init__(self, problems: list[Diagnostic]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def check_saved_plan(saved: SavedPlan, store: Store, policy: Policy) -> Plan:
    """What ``apply FILE`` checks before it writes; returns the plan with its gates evaluated again.

    A plan file is only as trustworthy as its checksum: without ``RECONCILER_PLAN_KEY`` anyone
    can rewrite it.  So its store, its versions, its actor's authority and the safety gates are
    all checked again here, against the stored state read now, exactly as ``plan --actor``
    does; apply's version check then proves that state is the one the changes are made to.
    """
    identity = store.identity()
    if saved.store != identity:
        raise WrongStore(
            f"the plan was made on store {saved.store}, not on {store.url} (store {identity}); "
            "plan again against this store"
        )
    plan = saved.plan
    numbers = {change.address.enterprise for change in plan.changes}
    unversioned = numbers - {number for number, _ in plan.versions}
    if unversioned:
        raise WrongStore(f"the plan changes enterprises it records no version of ({', '.join(sorted(unversioned))})")
    stored = store.read(numbers | {number for number, *_ in plan.sync})
    if plan.actor:
        problems = check_authority(plan.changes, stored, plan.actor, {})
        if problems:
            raise NotAuthorised(problems)
    # What the file says drifted is never taken on its word: apply records the drifted records it
    # leaves alone as adopted, so the drift is found again from the store and its trail.
    drift = tuple(item for number, found in sorted(stored.items()) if found.drifted for item in drift_of(store, found))
    refusals = check_gates(plan.changes, stored, replace(policy, actor=plan.actor))
    return replace(plan, refusals=refusals, drift=drift)


def apply_plan(
    plan: Plan,
    store: Store,
    now: datetime | None = None,
    run: str | None = None,
    overrides: frozenset[str] = frozenset(),
) -> dict[str, tuple[int, str]]:
    """Apply exactly ``plan`` in one transaction, and record it in the audit trail.

    Refused, before anything is written, when a safety gate trips and its override flag is
    not in ``overrides``, when the store changed since the plan was computed, and when the
    audit trail of an enterprise it touches does not verify (``audit.ChainBroken``) unless
    ``overrides`` holds ``audit.OVERRIDE``.  Returns the new head (seq, hash) of each chain
    it wrote to, for people to keep.
    """
    if plan.is_empty and not plan.sync:
        return {}
    refusals = unlifted(plan.refusals, overrides)
    if refusals:
        raise Refused(refusals)
    now = now or clock.now()
    run = run or audit.run_id()
    used = ({r.override for r in plan.refusals} | {audit.OVERRIDE}) & set(overrides)
    shared = audit.context(now, plan.actor, run, plan_hash(plan), used)
    enterprises = [number for number, _ in plan.versions]
    # Records written outside reconciler that the declaration agrees with are adopted: recorded in
    # the trail as they are, so that the trail says what the store holds.
    # Only drift needs the changed addresses as text: a first apply has none and millions of changes.
    changed_addresses = {str(change.address) for change in plan.changes} if plan.drift else set()
    adopted = adopted_events(plan.drift, changed_addresses)
    locked = sorted(set(enterprises) | set(adopted)) or [n for n, *_ in plan.sync]
    with store.transaction(now, locked, run) as transaction:
        current = transaction.versions(enterprises)
        for number, expected in plan.versions:
            found = current.get(number)
            if found != expected:
                planned = "absent" if expected is None else f"version {expected}"
                actual = "absent" if found is None else f"version {found}"
                raise StalePlan(
                    f"enterprise {number} changed since the plan was made "
                    f"(planned against {planned}, now {actual}); plan again"
                )
        transaction.allow_broken_audit = audit.OVERRIDE in overrides
        if plan.changes:
            transaction.check_audit(shared, enterprises)
        read_at = {number: version for number, version, *_ in plan.sync}
        still = transaction.versions(adopted)  # only where the store is still as the plan read it
        adopting = {
            number: events for number, events in sorted(adopted.items()) if still.get(number) == read_at.get(number)
        }
        transaction.audit_adopted(shared, adopting)
        with _collector_paused():
            for batch in in_steps(plan.changes):
                transaction.execute(batch)
                transaction.audit_changes(shared, batch)  # made while the store inserts the batch's records
        transaction.move_heads()  # after the records: a new enterprise's row is among them
        people = adopted_people(plan.drift, changed_addresses)
        for number in adopting:
            transaction.accounts_follow_people([person for person in people if person[0] == number])
        heads = {}
        if plan.changes:
            transaction.bump_versions(enterprises)
            heads = {number: transaction.audit_head(number) for number in enterprises}
        changed = set(enterprises)
        facts = dict(plan.facts)
        for number, version, digest, files, expiry in plan.sync:
            kept = {path: facts[path] for path, _ in files if path in facts}
            transaction.record_sync(number, files, digest, (version or 0) + (number in changed), expiry, kept)
    return heads


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic collector off while the changes are executed, on again however it ends.

    The loop makes and drops millions of objects (changes, rows, audit texts) and no cycles:
    with the collector on, a first apply of a million users spent four seconds of its busiest
    thread walking them.  Objects are still freed as soon as nothing refers to them.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def in_steps(changes: Iterable[Change]) -> Iterator[list[Change]]:
    """The changes in the order they are executed, in batches that share a step (an action and a kind).

    Step by step over all enterprises rather than enterprise by enterprise: the records of one
    enterprise never point at another's, so the order between enterprises is free, and a batch
    then holds the users of many small enterprises.  Each batch is a few statements; a first
    apply of 8,449 enterprises handed the store 50,704 bulk inserts enterprise by enterprise
    (255 step by step), and spent more time handing them over than inserting them.  Within a
    step the plan's order (enterprise by enterprise) is kept, so user names are given out in
    the same order; an enterprise's changes come in the plan's order whenever the plan lists
    them step by step, as every plan ``plan`` makes does.  Changes packed by the worker
    processes (``records.changes``) are made a run at a time: an apply holds a run and a batch
    of them, not the plan's millions.
    """
    for _, ordered in Changes.of(changes).by_step():
        while batch := list(islice(ordered, EXECUTED_TOGETHER)):
            yield batch
