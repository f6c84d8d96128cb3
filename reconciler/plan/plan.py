"""The plan: a pure, immutable value computed from (desired, stored).

``make_plan`` decides everything; ``apply`` only executes.  A dry run is simply not
calling apply.  Changes are ordered (``change.STEPS``) so that every intermediate step
keeps the hierarchy valid.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from reconciler.plan.drift import Drift
from reconciler.plan.ending import Ending, end_dates, ending_grants
from reconciler.plan.gates import Policy, Refusal, check_gates
from reconciler.plan.incremental import sync_digest
from reconciler.records import clock
from reconciler.records.change import Action, Change
from reconciler.records.changes import Changes
from reconciler.records.state import Address, EnterpriseState, Fields, Kind, StoredEnterprise, as_codes, fields

Sync = tuple[str, int | None, str, tuple[tuple[str, str], ...], str | None]


def next_expiry(dates: list[tuple[Address, str, str, str]]) -> str | None:
    """The earliest end date among the grants declared (``ending.end_dates``; those already ended are
    not in the desired state)."""
    return min((until for _, until, _, _ in dates), default=None)


@dataclass(frozen=True)
class Waiting:
    """An account of an enterprise the plan changes that nobody has activated yet, as read when planning."""

    enterprise: str
    username: str
    name: str
    status: str  # awaiting codes, pending or expired
    deadline: str | None


@dataclass(frozen=True)
class Plan:
    """Changes in execution order, and the store version each touched enterprise was read at.

    ``changes`` may be given as any sequence; the plan holds them as ``Changes`` (runs, packed
    while unused when they came from worker processes).
    """

    changes: Changes
    versions: tuple[tuple[str, int | None], ...]
    refusals: tuple[Refusal, ...] = ()
    actor: str | None = None
    # Per planned enterprise: (number, version read, digest, files, next end of a grant) for
    # incremental planning, which never skips an enterprise once one of its grants has ended.
    sync: tuple[Sync, ...] = ()
    skipped: tuple[str, ...] = ()  # enterprises unchanged since their last apply, not parsed
    # Accounts not activated yet in the enterprises changed, for people to chase; informative
    # only, apply ignores them.  ``accounts.waiting.with_waiting_accounts`` fills both.
    waiting: tuple[Waiting, ...] = ()  # the first ten per enterprise, by deadline
    waiting_counts: tuple[tuple[str, str, int], ...] = ()  # (enterprise, status, number of accounts): all
    # Records of the planned enterprises written outside reconciler since their last apply
    # (``plan.drift``); apply records those the plan leaves as they are as adopted.
    drift: tuple[Drift, ...] = ()
    # Enterprises the store holds that no file given declares (only for a plan over whole
    # folders, where that means they were deleted from the repository); informative only.
    undeclared: tuple[str, ...] = ()
    # Grants of the planned enterprises that end within the policy's window (``plan.ending``).
    ending: tuple[Ending, ...] = ()
    # The profiles of the planned enterprises: (enterprise, name, services), so that a plan says
    # which profile brought which service to a user.
    bundles: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    # What each declared file of the planned enterprises gave (path, ``plan.facts`` text), when asked
    # for: apply keeps it with the sync records so that the next plan reads only changed files.  Not
    # part of what the plan does (``saved.plan_hash``), nor of any rendering.
    facts: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "changes", Changes.of(self.changes))

    @property
    def is_empty(self) -> bool:
        return not self.changes

    def counts(self) -> dict[Action, int]:
        found: Counter[Action] = Counter()
        for (_, _, action, _), count in self.changes.tally().items():
            found[action] += count
        return {action: found.get(action, 0) for action in Action}

    def enterprises(self) -> tuple[str, ...]:
        return self.changes.enterprises()

    def places(self) -> Counter[tuple[str, str, Action]]:
        """How many changes of each action per (enterprise, quality), in plan order, without reading
        each change: a first apply's plan holds millions of them."""
        found: Counter[tuple[str, str, Action]] = Counter()
        for (enterprise, quality, action, _), count in self.changes.tally().items():
            found[(enterprise, quality, action)] += count
        return found

    def new_accounts(self) -> int:
        """How many people the plan creates: each gets an account, pending until activated."""
        tally = self.changes.tally().items()
        return sum(count for (_, _, action, kind), count in tally if action is Action.CREATE and kind is Kind.PERSON)


def diff_enterprise(desired: EnterpriseState, stored: EnterpriseState | None) -> list[Change]:
    """Changes that turn ``stored`` into ``desired`` for one enterprise, unordered."""
    before = stored.records if stored is not None else {}
    after = offboarded(desired.number, before) if desired.offboard else desired.records
    if after == before:  # the usual case, compared in C: most enterprises of a plan are as stored
        return []
    changes = []
    kept = 0  # records of ``before`` still declared: when that is all of them, nothing is deleted
    for address, now in after.items():  # one lookup per record: enterprises hold a million of them
        was = before.get(address)
        if was is None:
            changes.append(Change(Action.CREATE, address, None, now))
            continue
        kept += 1
        if was != now:
            changes.append(Change(Action.UPDATE, address, was, now))
    if kept < len(before):
        changes += [Change(Action.DELETE, a, f, None) for a, f in before.items() if a not in after]
    return changes


def offboarded(number: str, before: Mapping[Address, Fields]) -> dict[Address, Fields]:
    """What an off-boarded enterprise keeps: its header, with its name, and nobody in it.

    The header stays because it carries the enterprise's version and the head of its audit
    trail, which outlive the enterprise (``reconciler audit verify`` still checks them).
    """
    header = before.get(Address(number, Kind.ENTERPRISE))
    if header is None:
        return {}  # never stored: nothing to remove
    return {Address(number, Kind.ENTERPRISE): fields(Kind.ENTERPRISE, name=dict(header)["name"])}


@dataclass(frozen=True)
class PlanPart:
    """The plan of one enterprise, before the parts are put together."""

    number: str
    changes: tuple[Change, ...] | Changes  # Changes (packed) once sent from the process that planned it
    version: int | None  # stored version read; None for an enterprise not stored yet
    refusals: tuple[Refusal, ...]
    sync: Sync | None
    drift: tuple[Drift, ...] = ()
    ending: tuple[Ending, ...] = ()
    bundles: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    facts: tuple[tuple[str, str], ...] = ()  # (path, ``plan.facts`` text) of its files, for apply to keep

    def __reduce__(self) -> tuple[Callable[..., PlanPart], tuple]:
        """Pickled with its changes packed (``records.changes.Changes.packed``): parts come back from
        the worker processes that planned them, and stay packed until the plan is used."""
        rest = (self.version, self.refusals, self.sync, self.drift, self.ending, self.bundles, self.facts)
        return PlanPart, (self.number, Changes.of(self.changes).packed(), *rest)


def plan_enterprise(
    number: str,
    desired: EnterpriseState,
    current: StoredEnterprise | None,
    policy: Policy,
    files: dict[str, str] | None = None,
    drift: tuple[Drift, ...] = (),
    unread_expiry: str | None = None,
) -> PlanPart:
    """The changes, gates and sync record of one enterprise: the unit plans are made of.

    ``desired`` and ``current`` may both be slices of the enterprise (``plan.patch``): the records
    they leave out are the same on both sides, and ``unread_expiry`` is the earliest end date
    among the grants left out.
    """
    found = diff_enterprise(desired, current.state if current else None)
    found.sort(key=lambda c: (c.step, c.address.quality, c.address.kind.value, c.address.key))
    refusals = check_gates(found, {number: current} if current else {}, policy) if found else ()
    version = current.version if current else None
    dates = list(end_dates(desired.records))  # one pass over the records, for both uses
    expiry = min((d for d in (next_expiry(dates), unread_expiry) if d is not None), default=None)
    sync = (number, version, sync_digest(files), tuple(sorted(files.items())), expiry) if files is not None else None
    ending = tuple(ending_grants(desired.records, clock.today(), policy.expiry_window, dates))
    bundles = tuple(
        sorted(
            (number, address.key, as_codes(values[0][1]))
            for address, values in desired.records.items()
            if address.kind is Kind.PROFILE
        )
    )
    return PlanPart(number, tuple(found), version, refusals, sync, drift, ending, bundles)


def combine(
    parts: Iterable[PlanPart], policy: Policy, skipped: Iterable[str] = (), undeclared: Iterable[str] = ()
) -> Plan:
    """One plan from the parts of several enterprises, in enterprise order."""
    ordered = sorted(parts, key=lambda part: part.number)
    return Plan(
        changes=Changes.joined(part.changes for part in ordered),
        versions=tuple((part.number, part.version) for part in ordered if part.changes),
        refusals=tuple(refusal for part in ordered for refusal in part.refusals),
        actor=policy.actor,
        sync=tuple(part.sync for part in ordered if part.sync is not None),
        skipped=tuple(sorted(skipped)),
        drift=tuple(item for part in ordered for item in part.drift),
        ending=tuple(item for part in ordered for item in part.ending),
        bundles=tuple(item for part in ordered for item in part.bundles),
        undeclared=tuple(sorted(undeclared)),
        facts=tuple(item for part in ordered for item in part.facts),
    )


def make_plan(
    desired: Mapping[str, EnterpriseState],
    stored: Mapping[str, StoredEnterprise],
    policy: Policy | None = None,
    files: Mapping[str, dict[str, str]] | None = None,
    skipped: Iterable[str] = (),
) -> Plan:
    """The plan for every enterprise in ``desired``; enterprises only in the store are left alone.

    The safety gates are evaluated here, so every view of the plan shows what apply will refuse.
    """
    policy = policy or Policy()
    parts = [
        plan_enterprise(number, desired[number], stored.get(number), policy, (files or {}).get(number))
        for number in desired
    ]
    return combine(parts, policy, skipped)
