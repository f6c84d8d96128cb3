"""Drift: rows written to the store outside reconciler since an enterprise's last apply.

Every write moves an enterprise's version, and only an apply moves the version it records as
applied with it (``store.transaction``); so the store knows *that* an enterprise drifted.  *What*
drifted is found in the audit trail, which holds the fields every apply wrote: replayed, it
gives the records as reconciler left them, and each record that differs from what the store
holds now was changed by someone else.  Terraform calls this "objects have changed outside of
Terraform"; a plan names those changes (``Plan.drift``) so a reviewer does not take them for
edits of the YAML, and ``reconciler drift`` lists them without planning.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

import orjson

from reconciler.records.change import Action
from reconciler.records.state import Address, Fields, StoredEnterprise
from reconciler.store.port import CHUNK, Store

# The audit action of a record written outside reconciler that an apply found already as
# declared: it records the record as it is ("after"), so that replaying the trail gives it.
ADOPT = "adopt"
# The audit actions that write records (others record codes, logins, overrides and seals).
WRITES = frozenset({*(action.value for action in Action), ADOPT})


@dataclass(frozen=True)
class Drift:
    """One record that differs from what reconciler last wrote: ``None`` on a side where it does not exist."""

    enterprise: str
    address: str
    applied: Mapping[str, object] | None  # as the audit trail says reconciler left it
    found: Mapping[str, object] | None  # as the store holds it now


def adopted_events(plan_drift: Iterable[Drift], changed: set[str]) -> dict[str, list[tuple]]:
    """Per enterprise, the audit events (action, address, before, after) of the drifted records a plan
    leaves as they are."""
    events: dict[str, list[tuple]] = {}
    for item in plan_drift:
        if item.address not in changed:
            before = dict(item.applied) if item.applied is not None else None
            after = dict(item.found) if item.found is not None else None
            events.setdefault(item.enterprise, []).append((ADOPT, item.address, before, after))
    return events


_PERSON = re.compile(r"^enterprise\[([^\]]*)\]\.person\[([^\]]*)\]$")


def adopted_people(plan_drift: Iterable[Drift], changed: set[str]) -> list[tuple[str, str, str | None]]:
    """People written into or out of the store by hand whom a plan adopts as they are:
    (enterprise, ssin, name when they exist now, None when they were removed).

    A person has an account whatever wrote their record; adopting a person written by hand
    gives them one, adopting a removal deactivates it (``Transaction.accounts_follow_people``).
    """
    found = []
    for item in plan_drift:
        match = _PERSON.match(item.address)
        if match is None or item.address in changed:
            continue
        name = item.found.get("name") if item.found is not None else None
        found.append((match.group(1), match.group(2), str(name) if item.found is not None else None))
    return found


def _same(applied: dict, found: dict) -> bool:
    """Equal field by field; a field an older apply did not record yet (a newer column) counts as unset."""
    return all(applied.get(name) == found.get(name) for name in set(applied) | set(found))


def outside_changes(
    stored: StoredEnterprise, applied: Mapping[str, str | None], only: Collection[Address] | None = None
) -> tuple[Drift, ...]:
    """What differs between the enterprise as its applies left it (``applied``: per address, the
    ``after`` of its newest audit entry, ``Store.applied_records``) and as the store holds it;
    among the records ``only`` names when given (those written by hand, ``Store.written_by_hand``).

    A record is compared as the audit trail wrote it (compact JSON, sorted keys) first, which
    settles almost every record at the cost of one ``orjson.dumps``; only when the texts differ
    are both read and compared field by field.
    """
    records = stored.state.records
    held: Iterable[tuple[Address, Fields]] = (
        records.items() if only is None else ((a, records[a]) for a in only if a in records)
    )
    drift = []
    names = set()
    # Stored users share their fields (``store.tables``): each fields object is written as JSON once,
    # keyed by identity, which is sound while the enterprise read holds every one of them.
    texts: dict[int, str] = {}
    for address, values in held:
        name = str(address)
        names.add(name)
        text = texts.get(id(values))
        if text is None:
            text = texts[id(values)] = orjson.dumps(dict(values), option=orjson.OPT_SORT_KEYS).decode()
        before = applied.get(name)
        if before == text:
            continue
        now = orjson.loads(text)
        if before is None or not _same(orjson.loads(before), now):
            drift.append(Drift(stored.state.number, name, orjson.loads(before) if before else None, now))
    if only is None:
        gone: Iterable[str] = applied.keys()
    else:
        gone = {str(a) for a in only if a not in records} & applied.keys()
        if gone:  # a record written by hand may read as another one ("quality[]" is the enterprise)
            names = {str(address) for address in records}
    for name in gone:
        before = applied[name]
        if before is not None and name not in names:  # written by an apply, removed by other means
            drift.append(Drift(stored.state.number, name, orjson.loads(before), None))
    return tuple(sorted(drift, key=lambda item: item.address))


# Beyond this share of an enterprise's records written by hand, or more addresses than one query
# takes, its whole trail is read in one pass rather than the entries of those records: the trail
# has no index by address (an apply would pay for it on every entry), so each query for a few
# addresses is itself a pass over the enterprise's part of the trail, made in the database.
WHOLE_TRAIL_SHARE = 0.25


def drift_of(store: Store, stored: StoredEnterprise) -> tuple[Drift, ...]:
    """The drift of a stored enterprise (empty unless the store says it drifted): the records its
    triggers list as written by hand, or every record when they cannot say which."""
    if not stored.drifted:
        return ()
    number = stored.state.number
    written = store.written_by_hand(number)
    if written is None:
        return outside_changes(stored, store.applied_records(number, WRITES))
    if len(written) >= CHUNK or len(written) > WHOLE_TRAIL_SHARE * len(stored.state.records):
        return outside_changes(stored, store.applied_records(number, WRITES), written)
    return outside_changes(stored, store.applied_records(number, WRITES, [str(a) for a in written]), written)
