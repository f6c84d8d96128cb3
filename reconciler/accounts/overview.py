"""What a person administers, and who administers them, read from the stored state.

The page shown after login lists the first; an expired or lost access code, and every
letter, name the second: the people one level above who issue new access codes for the
person (``plan.authority.may_issue_codes`` decides), or, for a main access manager, the
portal's contact center.  Texts are ``Phrase`` values, said in the reader's language.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from reconciler.declare.catalogue import Catalogue, load_catalogue
from reconciler.declare.characters import escape
from reconciler.locale import N_, Phrase
from reconciler.plan.authority import Roles, may_issue_codes, roles_by_person
from reconciler.plan.dormancy import DORMANT, DORMANT_AFTER_DAYS, account_status
from reconciler.records.state import Address, Kind, as_codes, as_text
from reconciler.store.port import WAITING, Account, Store

SHOWN_PER_QUALITY = 200  # people listed per quality; larger qualities are summarised
ISSUERS_NAMED = 6  # people named as issuers of new codes; the nearest level first

# The portal's text: new codes for a main access manager come only from its contact center.
CONTACT_CENTER_PHONE = "02 511 51 51"
CONTACT_CENTER = N_(
    "Only the Contact Center of the portal issues new access codes for a main access manager: "
    "call %(phone)s, Monday to Friday, from 7:00 to 20:00."
)

STATUSES = {  # what an account is, as people read it
    "awaiting codes": N_("awaiting codes"),
    "pending": N_("not activated yet"),
    "expired": N_("codes expired"),
    "active": N_("active"),
    "deactivated": N_("deactivated"),
}
MAIN = N_("main access manager")
CO_MAIN = N_("co-main access manager")
ACCESS_MANAGER_OF = N_("access manager of %(quality)s")
CO_ACCESS_MANAGER_OF = N_("co-access manager of %(quality)s")
USER_OF = N_("user of %(quality)s")


# An active account nobody logged in to for a long time (``plan.dormancy``): its manager is the one
# to ask whether it is still needed.  The pages judge it at the portal's 90 days.
DORMANT_STATUS = N_("active, but no login for %(days)s days or more")


def status_phrase(status: str) -> Phrase:
    if status == DORMANT:
        return Phrase.of(DORMANT_STATUS, days=DORMANT_AFTER_DAYS)
    return Phrase(STATUSES.get(status, status))


@dataclass(frozen=True)
class Person:
    name: str
    username: str
    status: str
    detail: str = ""  # services of a user, in the reader's language

    @property
    def status_phrase(self) -> Phrase:
        return status_phrase(self.status)


@dataclass(frozen=True)
class QualityView:
    code: str
    label: str
    activated: bool
    access_manager: Person | None
    co_access_managers: list[Person]
    users: list[Person]
    user_count: int


@dataclass(frozen=True)
class Overview:
    enterprise: str
    enterprise_name: str
    person: Account
    roles: list[Phrase]
    co_main_access_managers: list[Person]  # shown to the main access manager and co-main access managers
    qualities: list[QualityView]
    waiting: list[tuple[Account, str]]  # accounts they issue codes for that are not active yet, with status
    highest: Phrase | None = None  # the person's highest role, shown beside their name


@dataclass(frozen=True)
class Issuer:
    """A person who issues new access codes for someone: their declared name and their role."""

    name: str
    role: Phrase


@dataclass(frozen=True)
class NewCodes:
    """Who issues new access codes for one person: people of the level above, or the contact center."""

    contact_center: bool = False
    issuers: tuple[Issuer, ...] = ()

    def phrase(self) -> Phrase:
        """One sentence for a letter or a terminal (names neutralised; pages list them as markup)."""
        if self.contact_center:
            return Phrase.of(CONTACT_CENTER, phone=CONTACT_CENTER_PHONE)
        if not self.issuers:
            return Phrase(N_("Ask the person who manages your access in your enterprise for new access codes."))
        people = [
            Phrase.of(N_("%(name)s (%(role)s)"), name=escape(i.name), role=i.role) if i.name else i.role
            for i in self.issuers
        ]
        return Phrase.of(N_("New access codes are issued by %(people)s."), people=Phrase.either(*people))


def quality_name(catalogue: Catalogue, code: str) -> Phrase:
    """A quality's name in every language of the catalogue; its code when the catalogue lacks it."""
    kind = catalogue.qualities.get(code)
    if kind is None:
        return Phrase(code)
    return Phrase.named(en=kind.en, nl=kind.nl, fr=kind.fr, de=kind.de or kind.en)


def role_phrases(roles: Roles, label: Mapping[str, Phrase]) -> list[Phrase]:
    """Every role a person holds; ``label`` gives a quality's name in every language."""
    lines = []
    if roles.main:
        lines.append(Phrase(MAIN))
    if roles.co_main:
        lines.append(Phrase(CO_MAIN))
    lines += [Phrase.of(ACCESS_MANAGER_OF, quality=label.get(q, Phrase(q))) for q in sorted(roles.access_manager)]
    lines += [Phrase.of(CO_ACCESS_MANAGER_OF, quality=label.get(q, Phrase(q))) for q in sorted(roles.co_access_manager)]
    lines += [Phrase.of(USER_OF, quality=label.get(q, Phrase(q))) for q in sorted(roles.user)]
    return lines


class CodeIssuers:
    """Who issues new access codes for each person of one enterprise, read once for all of them.

    Only the main access manager, co-main access managers and the (co-)access managers of
    the person's own qualities can be above a person; ``may_issue_codes`` decides among them.
    """

    def __init__(self, records: Mapping[Address, tuple], catalogue: Catalogue | None = None):
        self.records = records
        self.catalogue = catalogue or load_catalogue()
        self.roles = roles_by_person(records)
        self.number = next(iter(records)).enterprise if records else ""
        self.managers = [ssin for ssin, held in self.roles.items() if held.main or held.co_main]
        self.of_quality: dict[str, set[str]] = {}
        for ssin, held in self.roles.items():
            for quality in held.access_manager | held.co_access_manager:
                self.of_quality.setdefault(quality, set()).add(ssin)

    @classmethod
    def read(cls, store: Store, enterprise: str) -> CodeIssuers:
        stored = store.read([enterprise]).get(enterprise)
        return cls(stored.state.records if stored else {})

    def name(self, ssin: str) -> str:
        return as_text(dict(self.records.get(Address(self.number, Kind.PERSON, "", ssin), ())).get("name", ""))

    def of(self, ssin: str) -> NewCodes:
        """The issuers for the person ``ssin``, nearest level first, at most ``ISSUERS_NAMED``."""
        subject = self.roles.get(ssin)
        if subject is None:
            return NewCodes()
        if subject.main:
            return NewCodes(contact_center=True)
        concerned = set(subject.user) | subject.co_access_manager | subject.access_manager
        candidates = set(self.managers).union(*(self.of_quality.get(q, set()) for q in concerned))
        found: list[tuple[int, str, Issuer]] = []
        for actor in candidates:
            held = self.roles[actor]
            if not may_issue_codes(actor, held, ssin, subject):
                continue
            managed = sorted(held.access_manager & concerned)
            if held.main:
                rank, role = 3, Phrase(MAIN)
            elif held.co_main:
                rank, role = 2, Phrase(CO_MAIN)
            elif managed:
                rank, role = 1, Phrase.of(ACCESS_MANAGER_OF, quality=quality_name(self.catalogue, managed[0]))
            else:
                helped = sorted(held.co_access_manager & concerned)[0]
                rank, role = 0, Phrase.of(CO_ACCESS_MANAGER_OF, quality=quality_name(self.catalogue, helped))
            name = self.name(actor)
            found.append((rank, name, Issuer(name, role)))
        found.sort(key=lambda item: (item[0], item[1]))
        return NewCodes(issuers=tuple(issuer for _, _, issuer in found[:ISSUERS_NAMED]))


def new_codes_for(store: Store, account: Account) -> NewCodes:
    """Who issues new access codes for ``account``, read from the store."""
    return CodeIssuers.read(store, account.enterprise).of(account.ssin)


def overview(store: Store, account: Account, now: datetime, language: str = "en") -> Overview:
    """What ``account`` administers, quality and service names in ``language``."""
    number = account.enterprise
    stored = store.read([number]).get(number)
    records = stored.state.records if stored else {}
    roles = roles_by_person(records)
    mine = roles.get(account.ssin, Roles())
    accounts = {a.ssin: a for a in store.accounts(number)}
    catalogue = load_catalogue()

    def person(ssin: str, detail: str = "") -> Person:
        found = accounts.get(ssin)
        name = as_text(dict(records.get(Address(number, Kind.PERSON, "", ssin), ())).get("name", ssin))
        status = account_status(found, now, DORMANT_AFTER_DAYS) if found else ""
        return Person(name, found.username if found else "", status, detail)

    def services(codes: tuple[str, ...]) -> str:
        return ", ".join(catalogue.services[c].label(language) if c in catalogue.services else c for c in codes)

    header = dict(records.get(Address(number, Kind.ENTERPRISE), ()))
    qualities = {a.quality: dict(f) for a, f in records.items() if a.kind is Kind.QUALITY}
    labels = {code: quality_name(catalogue, code) for code in qualities}
    views = []
    for code in mine.administers(qualities):
        settings = qualities[code]
        users = sorted((a for a in records if a.kind is Kind.USER and a.quality == code), key=lambda a: a.key)
        co = sorted(a.key for a in records if a.kind is Kind.CO_ACCESS_MANAGER and a.quality == code)
        views.append(
            QualityView(
                code,
                labels[code].say(language),
                bool(settings["activated"]),
                person(as_text(settings["access_manager"])) if settings["access_manager"] else None,
                sorted((person(s) for s in co), key=lambda p: p.name),
                sorted(
                    (
                        person(a.key, services(as_codes(dict(records[a])["services"])))
                        for a in users[:SHOWN_PER_QUALITY]
                    ),
                    key=lambda p: p.name,
                ),
                len(users),
            )
        )
    co_main = (
        [person(a.key) for a in records if a.kind is Kind.CO_MAIN_ACCESS_MANAGER] if (mine.main or mine.co_main) else []
    )
    waiting = [
        (a, a.effective_status(now))
        for a in accounts.values()
        if a.effective_status(now) in WAITING
        and a.ssin in roles
        and may_issue_codes(account.ssin, mine, a.ssin, roles[a.ssin])
    ]
    waiting.sort(key=lambda pair: (pair[0].activation_deadline or "", pair[0].username))
    phrases = role_phrases(mine, labels)
    return Overview(
        number,
        as_text(header.get("name", number)),
        account,
        phrases,
        sorted(co_main, key=lambda p: p.name),
        views,
        waiting,
        phrases[0] if phrases else None,
    )
