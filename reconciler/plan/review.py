"""The access review (recertification): every grant of an enterprise, with what a reviewer must look at.

A main access manager reviews, at intervals, who holds which role and service in their
enterprise, and confirms it or removes what should go.  The review lists, per enterprise,
one row per grant (``plan.grants``: dated and attributed from the audit trail) with the
person's name, their account's last login and the grant's end date, and flags what needs
a decision:

- on a grant: the account is dormant, not activated yet, or its codes expired; the grant
  ends within the window (or has ended); the person administers several qualities (access
  manager or co-access manager of more than one); the quality has an access manager but no
  co-access manager (on the access manager's row, once per quality); the grant was added
  after the last signed review;
- on the enterprise, once: it has no co-main access manager.

A review is *signed* by recording, in the enterprise's audit trail, the SHA-256 of the
report's canonical JSON (``digest``): what was reviewed, not when it was printed, so that a
report with the same digest as the last signature shows that nothing changed since.  The
digest leaves out the signature itself and the "added since" flags, which the signature
decides.  Read-only here; ``accounts.signing`` records the signature.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

import orjson

from reconciler.locale import N_
from reconciler.plan.dormancy import DORMANT, account_status
from reconciler.plan.grants import ACCESS_MANAGER, CO_ACCESS_MANAGER, CO_MAIN, Grant, grants_in
from reconciler.records import clock
from reconciler.records.state import Address, Kind, StoredEnterprise, Value
from reconciler.store.audit import AuditEntry, numbered, verify
from reconciler.store.port import AWAITING_CODES, Account, Store, now_text

REVIEW_FORMAT_VERSION = "1.0"
SIGNED = "review-signed"  # the audit entry's action
SUBJECT = "review"  # the audit entry's address

FLAG_DORMANT = "dormant"
FLAG_PENDING = "pending"
FLAG_EXPIRED = "expired"
FLAG_ENDING = "ending-soon"
FLAG_SEVERAL = "several-qualities"
FLAG_NO_CO_ACCESS_MANAGER = "no-co-access-manager"
FLAG_ADDED = "added-since-review"
FLAG_NO_CO_MAIN = "no-co-main-access-manager"
# Each flag's stable id and what it says, in English; the web page translates the texts.
FLAGS = {
    FLAG_DORMANT: N_("dormant account"),
    FLAG_PENDING: N_("account not activated yet"),
    FLAG_EXPIRED: N_("access codes expired unused"),
    FLAG_ENDING: N_("ending soon"),
    FLAG_SEVERAL: N_("administers several qualities"),
    FLAG_NO_CO_ACCESS_MANAGER: N_("quality without a co-access manager"),
    FLAG_ADDED: N_("added since the last signed review"),
    FLAG_NO_CO_MAIN: N_("enterprise without a co-main access manager"),
}
GRANT_FLAGS = tuple(flag for flag in FLAGS if flag != FLAG_NO_CO_MAIN)
ENTERPRISE_FLAGS = (FLAG_NO_CO_MAIN,)


@dataclass(frozen=True)
class Row:
    """One grant as the reviewer reads it: the person, their account, and the flags raised."""

    grant: Grant
    name: str  # the person's declared name in the enterprise
    account: Account | None
    status: str | None  # the account at the time of the review (dormancy.account_status); None: no account
    flags: tuple[str, ...]  # ids of FLAGS, in FLAGS order

    @property
    def last_login(self) -> str | None:
        return self.account.last_login_at if self.account else None


@dataclass(frozen=True)
class Signature:
    """The last signed review of an enterprise, as its audit trail holds it."""

    at: str
    actor: str | None
    digest: str
    grants: int | None
    entry: int


@dataclass(frozen=True)
class EnterpriseReview:
    number: str
    name: str
    rows: tuple[Row, ...]
    flags: tuple[str, ...]  # enterprise-level flags
    signed: Signature | None
    digest: str  # of this report's canonical JSON (see the module's docstring)

    @property
    def unchanged(self) -> bool:
        """Whether the last signature covers exactly what this report shows."""
        return self.signed is not None and self.signed.digest == self.digest

    @property
    def added(self) -> int:
        return sum(FLAG_ADDED in row.flags for row in self.rows)


@dataclass(frozen=True)
class Review:
    at: str
    dormant_after: int
    window: int
    enterprises: tuple[EnterpriseReview, ...]
    # What is wrong with the audit trails the report was read from (empty when each verifies): who
    # granted what, when, and what was added since the last signature come from them.
    trail_problems: tuple[str, ...] = ()


def _text(value: Value) -> str:
    return value if isinstance(value, str) else ""


def last_signature(entries: Iterable[AuditEntry]) -> Signature | None:
    """The latest ``review-signed`` entry; values that are not what a signature writes are left out."""
    found = None
    for entry in numbered(entries):
        if entry.action == SIGNED:
            found = entry
    if found is None:
        return None
    try:
        after = orjson.loads(found.after or "{}")
    except orjson.JSONDecodeError:
        after = {}
    after = after if isinstance(after, dict) else {}
    digest, grants = after.get("digest"), after.get("grants")
    return Signature(
        found.at,
        found.actor,
        digest if isinstance(digest, str) else "",
        grants if isinstance(grants, int) and not isinstance(grants, bool) else None,
        found.seq,
    )


def _grant_flags(grant: Grant, status: str | None, several: bool, lonely: bool, today: date, window: int) -> list[str]:
    raised = {
        FLAG_DORMANT: status == DORMANT,
        FLAG_PENDING: status in ("pending", AWAITING_CODES),
        FLAG_EXPIRED: status == "expired",
        FLAG_ENDING: grant.ends_within(today, window),
        FLAG_SEVERAL: several and grant.role in (ACCESS_MANAGER, CO_ACCESS_MANAGER),
        FLAG_NO_CO_ACCESS_MANAGER: lonely and grant.role == ACCESS_MANAGER,
    }
    return [flag for flag, up in raised.items() if up]


def review_enterprise(
    stored: StoredEnterprise,
    entries: Sequence[AuditEntry],
    accounts: Iterable[Account],
    now: datetime,
    dormant_after: int,
    window: int,
) -> EnterpriseReview:
    """The review of one enterprise, from its stored state, audit trail and accounts, at ``now``."""
    state = stored.state
    number = state.number
    records = state.records
    today = now.astimezone(clock.BRUSSELS).date()
    grants = grants_in(state, entries)
    by_ssin = {account.ssin: account for account in accounts}
    administered: dict[str, set[str]] = {}
    helped: set[str] = set()  # qualities with a co-access manager
    for grant in grants:
        if grant.role in (ACCESS_MANAGER, CO_ACCESS_MANAGER):
            administered.setdefault(grant.ssin, set()).add(grant.quality)
        if grant.role == CO_ACCESS_MANAGER:
            helped.add(grant.quality)
    signed = last_signature(entries)
    rows = []
    for grant in grants:
        account = by_ssin.get(grant.ssin)
        status = account_status(account, now, dormant_after) if account else None
        flags = _grant_flags(
            grant,
            status,
            len(administered.get(grant.ssin, ())) > 1,
            grant.quality not in helped,
            today,
            window,
        )
        if signed is not None and grant.entry is not None and grant.entry > signed.entry:
            flags.append(FLAG_ADDED)
        name = _text(dict(records.get(Address(number, Kind.PERSON, key=grant.ssin), ())).get("name"))
        rows.append(Row(grant, name, account, status, tuple(flags)))
    raised = () if any(g.role == CO_MAIN for g in grants) else (FLAG_NO_CO_MAIN,)
    header = dict(records.get(Address(number, Kind.ENTERPRISE), ()))
    review = EnterpriseReview(number, _text(header.get("name")), tuple(rows), raised, signed, "")
    return replace(review, digest=digest(review))


def review_of(
    store: Store, numbers: Sequence[str] | None, now: datetime, dormant_after: int, window: int
) -> tuple[Review, list[str]]:
    """The review of ``numbers`` (every stored enterprise but off-boarded ones when None), with what
    is wrong with their audit trails, and the numbers asked for that the store does not hold."""
    if numbers is None:
        wanted = sorted(listed.number for listed in store.listed() if not listed.offboarded)
    else:
        wanted = list(dict.fromkeys(numbers))
    stored = store.read(wanted) if wanted else {}
    missing = [number for number in wanted if number not in stored]
    found, problems = [], []
    for number in wanted:
        if number in stored:
            entries, head = store.audit_trail(number)
            problems += verify(entries, {number: head})
            found.append(review_enterprise(stored[number], entries, store.accounts(number), now, dormant_after, window))
    return Review(now_text(now), dormant_after, window, tuple(found), tuple(problems)), missing


# The report as data: what the JSON output prints, and what a signature's digest is taken of.


def grant_document(row: Row) -> dict:
    grant = row.grant
    granted = (
        None
        if grant.granted_at is None
        else {
            "at": grant.granted_at,
            "actor": grant.granted_by_actor,
            "run": grant.run,
            "action": grant.action,
            "entry": grant.entry,
        }
    )
    account = (
        None
        if row.account is None
        else {"username": row.account.username, "status": row.status, "last_login_at": row.account.last_login_at}
    )
    return {
        "quality": grant.quality or None,
        "role": grant.role,
        "ssin": grant.ssin,
        "name": row.name,
        "services": [
            {"service": s.code, "profiles": list(s.profiles), "declared_directly": s.direct} for s in grant.services
        ],
        "granted": granted,
        "account": account,
        "until": grant.until,
        "flags": list(row.flags),
    }


def enterprise_document(review: EnterpriseReview) -> dict:
    signed = review.signed
    return {
        "enterprise": review.number,
        "name": review.name,
        "digest": review.digest,
        "flags": list(review.flags),
        "last_signed_review": None
        if signed is None
        else {
            "at": signed.at,
            "actor": signed.actor,
            "digest": signed.digest,
            "grants": signed.grants,
            "entry": signed.entry,
            "unchanged_since": review.unchanged,
        },
        "grants": [grant_document(row) for row in review.rows],
    }


def canonical_json(review: EnterpriseReview) -> bytes:
    """What a signature's digest is taken of: the enterprise's part of the report as compact JSON with
    sorted keys, without the digest, the last signature and the flags that signature raised."""
    document = enterprise_document(review)
    del document["digest"], document["last_signed_review"]
    for grant in document["grants"]:
        grant["flags"] = [flag for flag in grant["flags"] if flag != FLAG_ADDED]
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def digest(review: EnterpriseReview) -> str:
    return hashlib.sha256(canonical_json(review)).hexdigest()


def review_document(review: Review) -> dict:
    """The whole report, as ``schemas/review.schema.json`` describes it."""
    return {
        "format_version": REVIEW_FORMAT_VERSION,
        "at": review.at,
        "dormant_after_days": review.dormant_after,
        "expiry_window_days": review.window,
        "flags": dict(FLAGS),
        "enterprises": [enterprise_document(found) for found in review.enterprises],
    }
