"""The canonical state both sides of a plan are expressed in: flat records keyed by address.

Declared YAML and stored rows are both turned into ``EnterpriseState`` values (see
``plan.canonical`` and ``store.tables``), so the differ compares like with like and never
sees YAML spellings or SQL types.  Identifiers
are compact, lists are sorted, and a person appears once however many roles they hold.

Single-valued roles are fields, not records: the main access manager and the default
quality are fields of the enterprise, the access manager a field of the quality.  Replacing
one is then a single update, so no step of a plan leaves an enterprise with no main access
manager or a quality with two access managers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple

Value = str | bool | tuple[str, ...] | None
Fields = tuple[tuple[str, Value], ...]


class Kind(Enum):
    """What a record is. The value is the word used in plans and addresses."""

    ENTERPRISE = "enterprise"
    PERSON = "person"
    QUALITY = "quality"
    CO_MAIN_ACCESS_MANAGER = "co_main_access_manager"
    CO_ACCESS_MANAGER = "co_access_manager"
    USER = "user"
    SENDER = "sender"
    ROUTE = "route"
    PROFILE = "profile"

    # Members are singletons, so identity is a correct hash; Enum's own hashes the name in
    # Python, and every record address (a million per registry) is hashed several times.
    __hash__ = object.__hash__


FIELDS: dict[Kind, tuple[str, ...]] = {
    Kind.ENTERPRISE: ("name", "main_access_manager", "default_quality", "language"),
    Kind.PERSON: ("name", "email", "language"),
    Kind.QUALITY: (
        "activated",
        "nsso_number",
        "notification_email",
        "access_manager",
        "protected",
        "access_manager_until",
    ),
    Kind.CO_MAIN_ACCESS_MANAGER: ("protected", "until"),
    Kind.CO_ACCESS_MANAGER: ("protected", "until"),
    Kind.USER: ("services", "protected", "until", "profiles"),
    Kind.SENDER: (
        "channel",
        "ssh_public_key",
        "certificate_fingerprint",
        "contact_name",
        "contact_email",
        "contact_phone",
        "protected",
    ),
    Kind.ROUTE: ("sender",),
    Kind.PROFILE: ("services",),
}


# The word a record's own key is shown with, if it has one (enterprises and qualities are named by their place).
_OWN_KEY = {kind: "" if kind in (Kind.ENTERPRISE, Kind.QUALITY) else kind.value for kind in Kind}


class Address(NamedTuple):
    """Where a record lives: enterprise, then quality (when inside one), then its own key.

    A named tuple rather than a dataclass: it is hashed and compared in C, and registries
    hold millions of addresses.
    """

    enterprise: str
    kind: Kind
    quality: str = ""
    key: str = ""

    def __str__(self) -> str:
        """``enterprise[N].quality[Q].user[SSIN]``: the form plans, audit entries and errors use."""
        head = (
            f"enterprise[{self.enterprise}].quality[{self.quality}]"
            if self.quality
            else f"enterprise[{self.enterprise}]"
        )
        own = _OWN_KEY[self.kind]
        return f"{head}.{own}[{self.key}]" if own else head

    # Kind has no order of its own.  Addresses are only compared with addresses: narrower than
    # tuple's ``__lt__`` on purpose, as accepting any tuple would cost a check on every comparison.
    def __lt__(self, other: Address) -> bool:  # type: ignore[override]
        return (self.enterprise, self.quality, self.kind.value, self.key) < (
            other.enterprise,
            other.quality,
            other.kind.value,
            other.key,
        )


_SHARED: dict[tuple[str, type, Value], tuple[str, Value]] = {}


def shared(name: str, value: Value) -> tuple[str, Value]:
    """The one ``(name, value)`` pair of its kind, for fields that take few distinct values (a user's
    services, ``protected``, end date, profiles, a person's language).

    A registry holds a million users, most of them with one of a few hundred combinations of
    services and the same flags: sharing the pairs saves a few hundred bytes per record in every
    state and plan that holds them.  Never for names or addresses, which are each their own.
    Values are told apart by their type too: 1, 1.0 and True are equal keys, but not the same value
    (a store written by hand may hold any of them in a column).
    """
    pair = (name, value)
    return _SHARED.setdefault((name, type(value), value), pair)


# A person's language is a field of every person's record: its pair is found by the text alone,
# without making the tuple ``shared`` looks up.  Only text and None are kept here (a store written by
# hand may hold anything in the column), and only a few: past them, ``shared`` as for other fields.
_LANGUAGES: dict[str | None, tuple[str, Value]] = {}
_LANGUAGES_KEPT = 16


def language_field(value: Value) -> tuple[str, Value]:
    """``shared("language", value)``, looked up faster for the usual values."""
    if value is not None and type(value) is not str:
        return shared("language", value)
    found = _LANGUAGES.get(value)
    if found is None:
        found = shared("language", value)
        if len(_LANGUAGES) < _LANGUAGES_KEPT:
            _LANGUAGES[value] = found
    return found


def fields(kind: Kind, **values: Value) -> Fields:
    """Fields in the kind's canonical order; every field present, ``None`` when unset."""
    return tuple((name, values.get(name)) for name in FIELDS[kind])


def as_text(value: Value) -> str:
    """A field known to hold text (a name, an SSIN, a code), typed as such: ``Value`` is every field's type."""
    assert isinstance(value, str), value
    return value


def as_codes(value: Value) -> tuple[str, ...]:
    """A field known to hold a list of codes (a user's services), typed as such."""
    assert isinstance(value, tuple), value
    return value


@dataclass(frozen=True)
class EnterpriseState:
    """Every record of one enterprise.

    ``offboard`` marks a declared enterprise whose removal is asked for: its records are then
    empty, and the plan removes everything it holds but its header (``plan.plan.diff_enterprise``).
    """

    number: str
    records: Mapping[Address, Fields]
    offboard: bool = False


@dataclass(frozen=True)
class StoredEnterprise:
    """An enterprise as the store holds it: its records and the version they were read at.

    ``drifted``: rows were written outside reconciler since its last apply (the version moved
    without an apply); ``plan.drift`` finds which from the audit trail.
    """

    state: EnterpriseState
    version: int
    drifted: bool = False
    # Users the store holds that ``state`` leaves out: a slice read to plan only the files a pull
    # request changed (``Store.read_slice``) holds every record but users and people not asked for.
    unread_users: int = 0
