"""Execute a plan: lock its enterprises, check the store has not moved, run every change.

All or nothing: the changes, the version bumps and the lock live in one transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import groupby

from reconciler.plan.gates import Refusal, unlifted
from reconciler.plan.plan import Plan
from reconciler.plan.saved import plan_hash
from reconciler.store import audit
from reconciler.store.port import StalePlan, Store


class Refused(Exception):
    """A safety gate refuses the plan and no override lifts it."""

    def __init__(self, refusals: list[Refusal]):
        self.refusals = refusals
        super().__init__(
            "; ".join(f"{r.gate} enterprise {r.enterprise} {r.message} (lift with {r.override})" for r in refusals)
        )


def apply_plan(
    plan: Plan,
    store: Store,
    now: datetime | None = None,
    run: str | None = None,
    overrides: frozenset[str] = frozenset(),
) -> None:
    """Apply exactly ``plan`` in one transaction, and record it in the audit trail.

    Refused, before anything is written, when a safety gate trips and its override flag is
    not in ``overrides``, and when the store changed since the plan was computed.
    """
    if plan.is_empty and not plan.sync:
        return
    refusals = unlifted(plan.refusals, overrides)
    if refusals:
        raise Refused(refusals)
    now = now or datetime.now(UTC)
    run = run or audit.run_id()
    used = {r.override for r in plan.refusals} & set(overrides)
    shared = audit.context(now, plan.actor, run, plan_hash(plan), used)
    enterprises = [number for number, _ in plan.versions]
    with store.transaction(now, enterprises or [n for n, *_ in plan.sync], run) as transaction:
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
        for _, batch in groupby(plan.changes, key=lambda c: (c.address.enterprise, c.step)):
            transaction.execute(list(batch))
        if plan.changes:
            transaction.record_audit(shared, list(plan.changes))
            transaction.bump_versions(enterprises)
        changed = set(enterprises)
        for number, version, digest, files in plan.sync:
            transaction.record_sync(number, files, digest, (version or 0) + (number in changed))
