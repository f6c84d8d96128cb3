"""The accounts a plan's enterprises still wait on: counted in full, the first few listed.

Apart from the access codes' life (``lifecycle``) because every ``plan`` asks for them, and
a pull request's plan should not import what letters, e-mail and argon2 need.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from reconciler.plan.plan import Plan, Waiting
from reconciler.store.port import Store

WAITING_LISTED = 10  # accounts listed per enterprise; the rest are counted


def with_waiting_accounts(plan: Plan, store: Store, now: datetime, first: int = WAITING_LISTED) -> Plan:
    """The plan, with the accounts that still wait for a first login in the enterprises it changes:
    counted in full, the ``first`` of each listed by deadline.

    Decided here, not in the renderers, so that text, Markdown and JSON carry the same accounts.
    Only enterprises with changes: a reviewer chases the accounts of what they review, and a
    pull request's plan stays the size of what it changes, not of the enterprises it read
    (``reconciler show NUMBER`` lists any enterprise's accounts).
    """
    numbers = {number for number, _ in plan.versions}  # the enterprises the plan has changes for
    notices = store.activation_notices(numbers, now, first)
    waiting = tuple(
        Waiting(a.enterprise, a.username, a.name, a.effective_status(now), a.activation_deadline) for a in notices.first
    )
    counts = tuple(
        (number, status, count)
        for number, found in sorted(notices.counts.items())
        for status, count in sorted(found.items())
    )
    return replace(plan, waiting=waiting, waiting_counts=counts)
