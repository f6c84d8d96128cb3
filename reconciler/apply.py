"""Execute a plan: check the store has not moved, run every change, all or nothing."""

from __future__ import annotations

from datetime import datetime, timezone

from reconciler.plan import Plan
from reconciler.store import StalePlan, Store


def apply_plan(plan: Plan, store: Store, now: datetime | None = None) -> None:
    """Apply exactly ``plan`` in one transaction; refuse it when the store changed since planning."""
    if plan.is_empty:
        return
    now = now or datetime.now(timezone.utc)
    with store.transaction(now) as transaction:
        current = transaction.versions(number for number, _ in plan.versions)
        for number, expected in plan.versions:
            found = current.get(number)
            if found != expected:
                planned = "absent" if expected is None else f"version {expected}"
                actual = "absent" if found is None else f"version {found}"
                raise StalePlan(f"enterprise {number} changed since the plan was made "
                                f"(planned against {planned}, now {actual}); plan again")
        for change in plan.changes:
            transaction.execute(change)
