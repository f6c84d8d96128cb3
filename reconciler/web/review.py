"""The access review as a page of the site: who may see it, and its rows in the reader's language.

Only the main access manager and the co-main access managers of an enterprise see its
review, and only their own enterprise's: an account belongs to one enterprise, so the page
never names another.  The report is ``plan.review``'s, as the command prints it; here its
roles, services, flags and headings become ``Phrase`` values, said in the page's language.
No Flask here: ``app`` serves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reconciler.accounts.overview import (
    ACCESS_MANAGER_OF,
    CO_ACCESS_MANAGER_OF,
    CO_MAIN,
    MAIN,
    USER_OF,
    quality_name,
)
from reconciler.declare.catalogue import Catalogue, load_catalogue
from reconciler.locale import N_, Phrase
from reconciler.plan.authority import roles_by_person
from reconciler.plan.dormancy import DORMANT_AFTER_DAYS
from reconciler.plan.ending import DEFAULT_WINDOW
from reconciler.plan.grants import ACCESS_MANAGER, CO_ACCESS_MANAGER, USER, Grant
from reconciler.plan.grants import MAIN as MAIN_ROLE
from reconciler.plan.review import FLAGS, EnterpriseReview, Row, review_enterprise
from reconciler.store.audit import verify
from reconciler.store.port import Account, Store

DIRECT = N_("%(service)s (direct)")
BY_PROFILE = N_("%(service)s (profile %(profiles)s)")
NEVER = N_("never")
NO_ACCOUNT = N_("no account")
NOT_IN_TRAIL = N_("not in the audit trail")
NOBODY_NAMED = N_("not named")


@dataclass(frozen=True)
class PageRow:
    name: str
    ssin: str
    role: Phrase
    services: tuple[Phrase, ...]
    granted_at: str | Phrase
    granted_by: str | Phrase
    last_login: str | Phrase
    until: str
    flags: tuple[Phrase, ...]


@dataclass(frozen=True)
class ReviewPage:
    review: EnterpriseReview
    rows: tuple[PageRow, ...]
    flags: tuple[Phrase, ...]  # the enterprise's own
    # Whether the audit trail the dates and names of the grants come from verifies: when it does not,
    # the page says so above them (as ``reconciler review`` refuses, or warns when told to go on).
    trail_verifies: bool


def may_review(store: Store, account: Account) -> bool:
    """Whether the person of ``account`` is the main or a co-main access manager of its enterprise."""
    stored = store.read([account.enterprise]).get(account.enterprise)
    held = roles_by_person(stored.state.records).get(account.ssin) if stored else None
    return held is not None and (held.main or held.co_main)


def _role(grant: Grant, catalogue: Catalogue) -> Phrase:
    quality = quality_name(catalogue, grant.quality) if grant.quality else Phrase("")
    of = {ACCESS_MANAGER: ACCESS_MANAGER_OF, CO_ACCESS_MANAGER: CO_ACCESS_MANAGER_OF, USER: USER_OF}.get(grant.role)
    if of is None:
        return Phrase(MAIN if grant.role == MAIN_ROLE else CO_MAIN)
    return Phrase.of(of, quality=quality)


def _row(row: Row, catalogue: Catalogue) -> PageRow:
    grant = row.grant
    services = tuple(
        Phrase.of(BY_PROFILE, service=s.code, profiles=", ".join(s.profiles))
        if s.profiles
        else Phrase.of(DIRECT, service=s.code)
        for s in grant.services
    )
    if row.account is None:
        login: str | Phrase = Phrase(NO_ACCOUNT)
    else:
        login = row.account.last_login_at or Phrase(NEVER)
    return PageRow(
        row.name,
        grant.ssin,
        _role(grant, catalogue),
        services,
        grant.granted_at or Phrase(NOT_IN_TRAIL),
        grant.granted_by_actor or Phrase(NOBODY_NAMED),
        login,
        grant.until or "",
        tuple(Phrase(FLAGS[flag]) for flag in row.flags),
    )


def review_page(store: Store, account: Account, now: datetime) -> ReviewPage | None:
    """The review of the account's enterprise; None when the person may not see it."""
    number = account.enterprise
    stored = store.read([number]).get(number)
    held = roles_by_person(stored.state.records).get(account.ssin) if stored else None
    if stored is None or held is None or not (held.main or held.co_main):
        return None
    entries, head = store.audit_trail(number)
    review = review_enterprise(stored, entries, store.accounts(number), now, DORMANT_AFTER_DAYS, DEFAULT_WINDOW)
    catalogue = load_catalogue()
    return ReviewPage(
        review,
        tuple(_row(row, catalogue) for row in review.rows),
        tuple(Phrase(FLAGS[flag]) for flag in review.flags),
        trail_verifies=not verify(entries, {number: head}),
    )
