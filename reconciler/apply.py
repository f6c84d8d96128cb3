"""Execute a plan: lock its enterprises, check the store has not moved, run every change.

All or nothing: the changes, the version bumps and the lock live in one transaction.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timezone

from reconciler.plan import Plan
from reconciler.store import StalePlan, Store


def run_id() -> str:
    """The CI run when there is one (so holders and audit entries point at it), else a fresh id."""
    for variable in ("GITHUB_RUN_ID", "CI_PIPELINE_ID", "BUILDKITE_BUILD_ID"):
        if os.environ.get(variable):
            return os.environ[variable]
    return uuid.uuid4().hex[:12]


def apply_plan(plan: Plan, store: Store, now: datetime | None = None, run: str | None = None) -> None:
    """Apply exactly ``plan`` in one transaction; refuse it when the store changed since planning."""
    if plan.is_empty:
        return
    now = now or datetime.now(timezone.utc)
    enterprises = [number for number, _ in plan.versions]
    with store.transaction(now, enterprises, run or run_id()) as transaction:
        current = transaction.versions(enterprises)
        for number, expected in plan.versions:
            found = current.get(number)
            if found != expected:
                planned = "absent" if expected is None else f"version {expected}"
                actual = "absent" if found is None else f"version {found}"
                raise StalePlan(f"enterprise {number} changed since the plan was made "
                                f"(planned against {planned}, now {actual}); plan again")
        for change in plan.changes:
            transaction.execute(change)
        transaction.bump_versions(enterprises)
