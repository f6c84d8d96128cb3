"""Who may change what: the portal's hierarchy as an authority matrix.

An actor's standing is read from the *stored* state, never from the plan, so nobody can
promote themselves and use the promotion in the same change.  Each change of a plan
falls in one area of the matrix; a change in an area the actor holds no role for is
reported with the area's id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from reconciler.declare.declared import Site
from reconciler.declare.diagnostics import Diagnostic, Position
from reconciler.plan.gates import offboards, records_after
from reconciler.records.change import Action, Change
from reconciler.records.state import Address, Kind, StoredEnterprise

LEGAL_REPRESENTATIVE = "legal-representative"


class Standing(Enum):
    """A role an actor can hold; access managers and co-access managers hold it per quality."""

    LEGAL_REPRESENTATIVE = "legal representative"
    MAIN = "main access manager"
    CO_MAIN = "co-main access manager"
    ACCESS_MANAGER = "access manager of the quality"
    CO_ACCESS_MANAGER = "co-access manager of the quality"
    SELF = "person concerned"


L, M, CM, AM, CAM, ME = (
    Standing.LEGAL_REPRESENTATIVE,
    Standing.MAIN,
    Standing.CO_MAIN,
    Standing.ACCESS_MANAGER,
    Standing.CO_ACCESS_MANAGER,
    Standing.SELF,
)


@dataclass(frozen=True)
class Area:
    id: str
    what: str
    allowed: frozenset[Standing]


AREAS = {
    area.id: area
    for area in (
        Area("A001", "creating an enterprise account, with everything declared in it", frozenset({L})),
        Area("A002", "appointing or replacing the main access manager (done in CSAM)", frozenset({L})),
        Area("A003", "changing the enterprise's name, default language or default quality", frozenset({M, CM})),
        Area("A004", "appointing or removing co-main access managers", frozenset({M, CM})),
        Area(
            "A005",
            "activating, deactivating, protecting or removing a quality, and its identifiers",
            frozenset({M, CM}),
        ),
        Area("A006", "appointing or replacing the access manager of a quality", frozenset({M, CM})),
        Area("A007", "appointing or removing co-access managers of a quality", frozenset({M, CM, AM})),
        Area(
            "A008",
            "creating, changing or removing users of a quality and granting services",
            frozenset({M, CM, AM, CAM}),
        ),
        Area("A009", "changing the notification e-mail address of a quality", frozenset({M, CM, AM, CAM})),
        # Managing a quality includes configuring its parameters, and the main access manager
        # manages every quality: the access manager is there to help, not to hold them alone.
        Area(
            "A010",
            "registering senders and routing rules of a quality (structured messages)",
            frozenset({M, CM, AM, CAM}),
        ),
        Area("A011", "correcting a person's name, e-mail address or language", frozenset({ME, M, CM, AM})),
        # Off-boarding removes everything at once: one decision, the enterprise's own, not a
        # sum of removals each checked in its area (which would make it no one's to take).
        Area("A012", "off-boarding the enterprise: removing everything its account holds", frozenset({L, M})),
        # A profile grants services in every quality whose users list it.
        Area(
            "A013",
            "declaring, changing or removing the enterprise's profiles (bundles of services)",
            frozenset({M, CM}),
        ),
    )
}

_QUALITY_FIELDS = {
    "activated": "A005",
    "nsso_number": "A005",
    "protected": "A005",
    "access_manager": "A006",
    "access_manager_until": "A006",
    "notification_email": "A009",
}
_ENTERPRISE_FIELDS = {"name": "A003", "default_quality": "A003", "language": "A003", "main_access_manager": "A002"}
_KIND_AREA = {
    Kind.CO_MAIN_ACCESS_MANAGER: "A004",
    Kind.CO_ACCESS_MANAGER: "A007",
    Kind.USER: "A008",
    Kind.SENDER: "A010",
    Kind.ROUTE: "A010",
    Kind.QUALITY: "A005",
    Kind.PROFILE: "A013",
}


def areas_of(change: Change, new_enterprise: bool) -> set[str]:
    """The matrix areas a change falls in; people created or removed with a role need nothing more."""
    kind = change.address.kind
    if new_enterprise:
        return {"A001"}
    if kind is Kind.PERSON:
        return {"A011"} if change.action is Action.UPDATE else set()
    if change.action is Action.UPDATE and kind in (Kind.ENTERPRISE, Kind.QUALITY):
        table = _ENTERPRISE_FIELDS if kind is Kind.ENTERPRISE else _QUALITY_FIELDS
        return {table[f.name] for f in change.field_changes}
    if kind is Kind.QUALITY and change.action is Action.DELETE and dict(change.before or ())["access_manager"]:
        return {"A005", "A006"}
    return {_KIND_AREA.get(kind, "A003")}


@dataclass
class Roles:
    """The roles one person holds in an enterprise, read from the stored state."""

    main: bool = False
    co_main: bool = False
    access_manager: set[str] = field(default_factory=set)  # qualities
    co_access_manager: set[str] = field(default_factory=set)
    user: dict[str, tuple[str, ...]] = field(default_factory=dict)  # quality -> services

    def highest(self) -> str:
        """The role that decides who is above this person."""
        for name, held in (
            ("main access manager", self.main),
            ("co-main access manager", self.co_main),
            ("access manager", self.access_manager),
            ("co-access manager", self.co_access_manager),
            ("user", self.user),
        ):
            if held:
                return name
        return "none"

    def administers(self, all_qualities: Iterable[str]) -> list[str]:
        """Qualities this person manages: all of them for (co-)main access managers."""
        if self.main or self.co_main:
            return sorted(all_qualities)
        return sorted(self.access_manager | self.co_access_manager)


def roles_by_person(records: Mapping[Address, tuple]) -> dict[str, Roles]:
    """Every person's roles in one pass over an enterprise's records."""
    roles: dict[str, Roles] = {}

    def of(ssin: str) -> Roles:
        return roles.setdefault(ssin, Roles())

    for address, values in records.items():
        kind = address.kind
        if kind is Kind.PERSON:
            of(address.key)
        elif kind is Kind.ENTERPRISE:
            main = dict(values)["main_access_manager"]
            if main:
                of(main).main = True
        elif kind is Kind.CO_MAIN_ACCESS_MANAGER:
            of(address.key).co_main = True
        elif kind is Kind.QUALITY:
            manager = dict(values)["access_manager"]
            if manager:
                of(manager).access_manager.add(address.quality)
        elif kind is Kind.CO_ACCESS_MANAGER:
            of(address.key).co_access_manager.add(address.quality)
        elif kind is Kind.USER:
            of(address.key).user[address.quality] = dict(values)["services"]
    return roles


def standing(actor: str, roles: Mapping[str, Roles], quality: str, subject: str) -> set[Standing]:
    """What ``actor`` is, in the stored state, for a change inside ``quality`` about person ``subject``."""
    if actor == LEGAL_REPRESENTATIVE:
        return {Standing.LEGAL_REPRESENTATIVE}
    held: set[Standing] = set()
    mine = roles.get(actor)
    if mine is not None:
        if mine.main:
            held.add(M)
        if mine.co_main:
            held.add(CM)
        if quality in mine.access_manager:
            held.add(AM)
        if quality in mine.co_access_manager:
            held.add(CAM)
    if subject and subject == actor:
        held.add(ME)
    theirs = roles.get(subject) if subject else None
    if mine is not None and theirs is not None and mine.access_manager & (set(theirs.user) | theirs.co_access_manager):
        held.add(AM)  # a person's data may be corrected by the access manager of one of their qualities
    return held


def check_authority(
    changes: Sequence[Change], stored: Mapping[str, StoredEnterprise], actor: str, origins: Mapping[Address, Site]
) -> list[Diagnostic]:
    """Every change of the plan that ``actor`` may not make, as an error with the area's id."""
    problems = []
    roles_of: dict[str, dict[str, Roles]] = {}  # per enterprise, read once: plans have many changes
    offboarded = _offboarded(changes, stored)
    for change in changes:
        number = change.address.enterprise
        current = stored.get(number)
        if number not in roles_of:
            roles_of[number] = roles_by_person(current.state.records if current else {})
        subject = change.address.key if change.address.kind is Kind.PERSON else ""
        held = standing(actor, roles_of[number], change.address.quality, subject)
        if number in offboarded:  # one decision, checked once, on the enterprise's header
            if change.address.kind is not Kind.ENTERPRISE:
                continue
            found = {"A012"}
        else:
            found = areas_of(change, current is None)
        for area_id in sorted(found):
            area = AREAS[area_id]
            if not held & area.allowed:
                site = origins.get(change.address) or origins.get(Address(number, Kind.ENTERPRISE))
                where = site.at() if site else Position(number)
                roles = ", ".join(sorted(s.value for s in held)) or "no role"
                allowed = ", ".join(s.value for s in Standing if s in area.allowed)
                problems.append(
                    Diagnostic(
                        where,
                        area.id,
                        f"{actor} ({roles}) may not {change.action.value} {change.address}: "
                        f"{area.what} is reserved to: {allowed}",
                    )
                )
    return problems


def _offboarded(changes: Iterable[Change], stored: Mapping[str, StoredEnterprise]) -> set[str]:
    """The enterprises the changes off-board (``gates.offboards``)."""
    by_enterprise: dict[str, list[Change]] = {}
    for change in changes:
        by_enterprise.setdefault(change.address.enterprise, []).append(change)
    found = set()
    for number, mine in by_enterprise.items():
        before = stored[number].state.records if number in stored else {}
        if offboards(number, before, records_after(before, mine)):
            found.add(number)
    return found


CONTACT_CENTER = "contact-center"


# Who issues new access codes for an account: the level above the account's highest role.
CODE_ISSUERS = (
    ("main access manager", "an operator of the contact center (--actor contact-center)"),
    ("co-main access manager", "the main access manager"),
    ("access manager", "the main access manager or a co-main access manager"),
    ("co-access manager", "the main access manager, a co-main access manager, or the access manager of that quality"),
    (
        "user",
        "the main access manager, a co-main access manager, or the access manager or a co-access manager "
        "of one of the user's qualities",
    ),
)


def may_issue_codes(actor: str, actor_roles: Roles | None, subject: str, subject_roles: Roles) -> bool:
    """Whether ``actor`` may issue new access codes for ``subject``: only from a level above."""
    if actor == subject:
        return False
    highest = subject_roles.highest()
    if actor == CONTACT_CENTER:
        return highest == "main access manager"
    if actor_roles is None or highest in ("main access manager", "none"):
        return False
    if actor_roles.main:
        return True
    if highest == "co-main access manager":
        return False
    if actor_roles.co_main:
        return True
    if highest == "access manager":
        return False
    if highest == "co-access manager":
        return bool(actor_roles.access_manager & subject_roles.co_access_manager)
    return bool((actor_roles.access_manager | actor_roles.co_access_manager) & set(subject_roles.user))
