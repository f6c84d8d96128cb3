"""Signing an access review: the main access manager, or a co-main access manager, says it was done.

The signature is an entry of the enterprise's audit trail (``review-signed``) holding the
digest of the report as it was signed, its number of grants and the signer; it changes no
record, so the enterprise's version stays where it is (drift and stale plans are about
records).  Like every writer it appends only to a chain that verifies ("no audit, no
request"), unless told otherwise, which the chain then records.

The report is read, then signed in a transaction that holds the enterprise's lock; a report
whose enterprise gained audit entries in between (an apply, an activation) is not signed:
the signer would sign what they did not see.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reconciler.accounts.lifecycle import NotAllowed
from reconciler.declare.characters import escape
from reconciler.declare.identifiers import format_enterprise_number
from reconciler.plan.authority import roles_by_person
from reconciler.plan.review import SIGNED, SUBJECT, EnterpriseReview, review_enterprise
from reconciler.records.state import Address, Kind
from reconciler.store import audit
from reconciler.store.port import Store

__all__ = ["NotAllowed", "Signed", "sign_review"]


@dataclass(frozen=True)
class Signed:
    review: EnterpriseReview  # what was signed
    entry: int  # the signature's number in the enterprise's audit chain
    head: str  # the chain's head after it


def _signers(records: dict, number: str) -> str:
    """Who may sign, by name and role, for the refusal's message."""
    people = []
    for ssin, held in sorted(roles_by_person(records).items(), key=lambda item: (not item[1].main, item[0])):
        if held.main or held.co_main:
            name = dict(records.get(Address(number, Kind.PERSON, key=ssin), ())).get("name")
            role = "main access manager" if held.main else "co-main access manager"
            people.append(f"{escape(name) if isinstance(name, str) else ''} ({ssin}, {role})".lstrip())
    return ", ".join(people) or "nobody: the enterprise has no main access manager"


def sign_review(
    store: Store,
    number: str,
    actor: str,
    now: datetime,
    run: str,
    dormant_after: int,
    window: int,
    allow_broken_audit: bool = False,
) -> Signed:
    """Record that ``actor`` reviewed enterprise ``number`` at ``now``; ``NotAllowed`` when they may not.

    Raises ``audit.ChainBroken`` when the enterprise's chain does not verify (unless
    ``allow_broken_audit``, which is recorded before the signature).
    """
    stored = store.read([number]).get(number)
    if stored is None:
        raise NotAllowed(f"enterprise {number} is not in the store")
    records = dict(stored.state.records)
    held = roles_by_person(records).get(actor)
    if held is None or not (held.main or held.co_main):
        raise NotAllowed(
            f"{escape(actor)} may not sign the access review of {format_enterprise_number(number)}: only its main "
            "access manager or a "
            f"co-main access manager may: {_signers(records, number)}"
        )
    entries = store.audit_entries(number)
    review = review_enterprise(stored, entries, store.accounts(number), now, dormant_after, window)
    read_up_to = max((entry.seq for entry in audit.numbered(entries)), default=0)  # others: the chain check names them
    shared = audit.context(now, actor, run, "", ())
    with store.transaction(now, [number], run) as transaction:
        transaction.allow_broken_audit = allow_broken_audit
        moved = transaction.audit_head(number)[0] != read_up_to
        transaction.check_audit(shared, [number])  # a broken chain first: it explains a moved head best
        if moved and not allow_broken_audit:
            raise NotAllowed(f"enterprise {number} changed while its review was read; run the command again")
        event = {"digest": review.digest, "grants": len(review.rows), "actor": actor}
        transaction.record_events(shared, number, [(SIGNED, SUBJECT, None, event)])
        entry, head = transaction.audit_head(number)
    return Signed(review, entry, head)
