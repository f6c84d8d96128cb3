"""An account's life: created pending, codes issued, activated at first login, or expired.

::

    (person declared) --apply--> awaiting codes --issue--> pending --first login--> active
                                                              |                      |
                                                  30 days pass, no first login       |
                                                              v                      |
                                                           expired                   |
              pending, expired or active --reissue by the level above--> pending     |
              any state --(person removed from the YAML)--> deactivated <------------+

Codes are issued after the apply that created the accounts has committed: a letter is
sent first and its hash stored second, so a crash in between costs a letter (the next
issue sends a new one) but never leaves an account with codes nobody received.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from reconciler.accounts.delivery import Delivery, Letter
from reconciler.accounts.overview import CodeIssuers, NewCodes
from reconciler.accounts.passwords import generate_code, hash_codes
from reconciler.plan.authority import (
    CODE_ISSUERS,
    CONTACT_CENTER,
    may_issue_codes,
    roles_by_person,
)
from reconciler.records import clock
from reconciler.store import audit
from reconciler.store.port import ACTIVATION_DAYS, Account, Store, batched, now_text

ISSUE_BATCH = 256


class NotAllowed(Exception):
    """The actor may not do this to this account; the message says who may."""


def issue_codes(
    store: Store,
    delivery: Delivery,
    numbers: Iterable[str] | None,
    now: datetime,
    login_url: str,
    run: str,
    actor: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    allow_broken_audit: bool = False,
) -> int:
    """Issue codes to every account of ``numbers`` (all when None) that is still waiting for them.

    The audit trails of their enterprises are verified before any letter goes out
    (``audit.ChainBroken`` otherwise, unless ``allow_broken_audit``, which is recorded).
    """
    waiting = store.awaiting_codes(numbers)
    names = store.enterprise_names({a.enterprise for a in waiting})
    if waiting:
        check_chains(store, sorted(names), audit.context(now, actor, run, "", ()), now, run, allow_broken_audit)
    done = 0
    books: dict[str, CodeIssuers] = {}  # who issues new codes, per enterprise, read once
    for batch in batched(waiting, ISSUE_BATCH):
        codes = [generate_code() for _ in batch]
        hashes = hash_codes(codes)
        deadline = now_text(now + timedelta(days=ACTIVATION_DAYS))
        for account, code in zip(batch, codes, strict=True):
            if account.enterprise not in books:
                books[account.enterprise] = CodeIssuers.read(store, account.enterprise)
            issuers = books[account.enterprise].of(account.ssin)
            delivery.send(letter_for(account, names[account.enterprise], code, deadline, login_url, issuers))
        shared = audit.context(now, actor, run, "", ())
        enterprises = sorted({a.enterprise for a in batch})
        with store.transaction(now, enterprises, run) as transaction:
            transaction.allow_broken_audit = allow_broken_audit
            for enterprise in enterprises:
                events: list[tuple[str, str, dict | None, dict | None]] = []
                for account, hashed in zip(batch, hashes, strict=True):
                    if account.enterprise == enterprise and transaction.update_account(
                        account, temporary_hash=hashed, codes_issued_at=now_text(now), activation_deadline=deadline
                    ):
                        events.append(
                            (
                                "issue-codes",
                                f"account {account.username}",
                                None,
                                {"activation_deadline": deadline, "delivery": delivery.description},
                            )
                        )
                if events:
                    transaction.record_events(shared, enterprise, events)
        done += len(batch)
        if progress:
            progress(done, len(waiting))
    return len(waiting)


def check_chains(
    store: Store, enterprises: list[str], shared: audit.Context, now: datetime, run: str, allow_broken: bool
) -> None:
    """Verify the audit trails of ``enterprises`` before anything irreversible (a letter) happens."""
    with store.transaction(now, enterprises, run) as transaction:
        transaction.allow_broken_audit = allow_broken
        transaction.check_audit(shared, enterprises)


def find_account(store: Store, enterprise: str, who: str) -> Account:
    """An enterprise's account by user name or national register number."""
    account = store.account(who)
    if account is None or account.enterprise != enterprise:
        account = store.account_of(enterprise, "".join(ch for ch in who if ch.isdigit()))
    if account is None:
        raise NotAllowed(f"enterprise {enterprise} has no account {who!r}")
    return account


def reissue_codes(
    store: Store,
    delivery: Delivery,
    actor: str,
    enterprise: str,
    who: str,
    now: datetime,
    login_url: str,
    run: str,
    operator: str | None = None,
    allow_broken_audit: bool = False,
) -> Account:
    """New access codes for one account, issued by the level above it, and recorded in the audit trail.

    The old temporary password and any personal password stop working, and sessions end.
    """
    if actor == CONTACT_CENTER and not operator:
        raise NotAllowed("an operator of the contact center must give their name (--operator)")
    account = find_account(store, enterprise, who)
    if account.status == "deactivated":
        raise NotAllowed(f"account {account.username} is deactivated: declare the person again to reactivate it")
    stored = store.read([enterprise]).get(enterprise)
    roles = roles_by_person(stored.state.records if stored else {})
    subject = roles.get(account.ssin)
    if subject is None or not may_issue_codes(actor, roles.get(actor), account.ssin, subject):
        issuers = dict(CODE_ISSUERS).get(subject.highest() if subject else "", "nobody")
        raise NotAllowed(
            f"{actor} may not issue new access codes for {account.username} "
            f"({subject.highest() if subject else 'no role'}): they are issued by {issuers}"
        )
    shared = audit.context(now, actor if actor != CONTACT_CENTER else f"{CONTACT_CENTER} ({operator})", run, "", ())
    check_chains(store, [enterprise], shared, now, run, allow_broken_audit)
    code = generate_code()
    hashed = hash_codes([code])[0]
    deadline = now_text(now + timedelta(days=ACTIVATION_DAYS))
    name = store.enterprise_names([enterprise])[enterprise]
    new_codes = CodeIssuers(stored.state.records if stored else {}).of(account.ssin)
    delivery.send(letter_for(account, name, code, deadline, login_url, new_codes))
    with store.transaction(now, [enterprise], run) as transaction:
        transaction.allow_broken_audit = allow_broken_audit
        if not transaction.update_account(
            account,
            status="pending",
            temporary_hash=hashed,
            password_hash=None,
            codes_issued_at=now_text(now),
            activation_deadline=deadline,
            activated_at=None,
        ):
            raise NotAllowed(f"account {account.username} changed while the codes were issued; try again")
        transaction.record_events(
            shared,
            enterprise,
            [
                (
                    "reissue-codes",
                    f"account {account.username}",
                    {"status": account.effective_status(now)},
                    {"status": "pending", "activation_deadline": deadline, "delivery": delivery.description},
                )
            ],
        )
    return store.account_of(enterprise, account.ssin) or account


def letter_for(
    account: Account, enterprise_name: str, code: str, deadline: str, login_url: str, issuers: NewCodes
) -> Letter:
    """The letter (or e-mail) with an account's access codes, in the person's language, naming who
    issues new codes for them."""
    return Letter(
        account.enterprise,
        enterprise_name,
        account.name,
        account.email,
        account.username,
        code,
        deadline,
        login_url,
        account.language,
        issuers,
    )


def utc_now() -> datetime:
    """The time accounts are judged against: the one clock (``records.clock``)."""
    return clock.now()
