"""Grants that end soon: listed by plans, ``show`` and the pull-request comment before their day.

A grant declared ``until`` a day counts as not declared from that day on (``canonical``), so a
nightly plan and apply remove it without anyone editing YAML.  Before that, people should
see it coming: every grant whose day falls within the window (14 days by default) is named,
with the person it concerns, so that it can be extended in time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from reconciler.records.state import FIELDS, Address, Fields, Kind

DEFAULT_WINDOW = 14  # days

_ROLE = {
    Kind.CO_MAIN_ACCESS_MANAGER: "co-main access manager",
    Kind.CO_ACCESS_MANAGER: "co-access manager",
    Kind.USER: "user",
}


@dataclass(frozen=True)
class Ending:
    """One grant whose end date falls within the window."""

    enterprise: str
    quality: str  # "" for a co-main access manager
    role: str
    ssin: str
    name: str
    until: str  # YYYY-MM-DD: from that day on the grant is gone

    def document(self) -> dict:
        """As the plan's and ``show``'s JSON give it."""
        return {
            "enterprise": self.enterprise,
            "quality": self.quality or None,
            "role": self.role,
            "ssin": self.ssin,
            "name": self.name,
            "until": self.until,
        }

    @classmethod
    def from_document(cls, item: dict) -> Ending:
        return cls(item["enterprise"], item["quality"] or "", item["role"], item["ssin"], item["name"], item["until"])


# Where a grant's end date and holder are in a record: (index of the until field, role).
_UNTIL_AT = {kind: (FIELDS[kind].index("until"), role) for kind, role in _ROLE.items()}
_MANAGER_UNTIL = FIELDS[Kind.QUALITY].index("access_manager_until")
_MANAGER = FIELDS[Kind.QUALITY].index("access_manager")


def end_dates(records: Mapping[Address, Fields]) -> Iterator[tuple[Address, str, str, str]]:
    """(address, until, holder's SSIN, role) of every grant with an end date: one pass, by position,
    as it runs on every record of every enterprise planned."""
    for address, values in records.items():
        kind = address.kind
        found = _UNTIL_AT.get(kind)
        if found is not None:
            until = values[found[0]][1] if len(values) > found[0] else None  # a record may leave fields out
            if until is not None:
                yield address, str(until), address.key, found[1]
        elif kind is Kind.QUALITY and len(values) > _MANAGER_UNTIL:
            until, holder = values[_MANAGER_UNTIL][1], values[_MANAGER][1]
            if until is not None and holder is not None:
                yield address, str(until), str(holder), "access manager"


def ending_grants(
    records: Mapping[Address, Fields],
    today: date,
    window: int,
    dates: list[tuple[Address, str, str, str]] | None = None,
) -> list[Ending]:
    """The grants of one enterprise's records whose ``until`` is within ``window`` days of ``today``
    (one that has come already is listed too: the next apply removes it); ``dates``, when the
    caller has them, are ``end_dates(records)``."""
    last = (today + timedelta(days=window)).isoformat()
    soon = [found for found in (end_dates(records) if dates is None else dates) if found[1] < last]
    if not soon:
        return []
    found = []
    for address, until, ssin, role in soon:
        person = records.get(Address(address.enterprise, Kind.PERSON, key=ssin))
        name = str(dict(person)["name"]) if person else ""
        found.append(Ending(address.enterprise, address.quality, role, ssin, name, until))
    return sorted(found, key=lambda e: (e.until, e.enterprise, e.quality, e.role, e.ssin))


def ending_across(stored: Iterable[tuple[str, Mapping[Address, Fields]]], today: date, window: int) -> list[Ending]:
    """The grants ending within the window in several enterprises, soonest first."""
    found = [ending for _, records in stored for ending in ending_grants(records, today, window)]
    return sorted(found, key=lambda e: (e.until, e.enterprise, e.quality, e.role, e.ssin))
