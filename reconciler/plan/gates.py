"""Safety gates: plans that apply refuses unless a person lifts the gate with an explicit flag.

Gates read the plan and the stored state, never only the YAML, so deleting a block cannot
silently delete its protection.  They are computed with the plan (``make_plan``), shown
in every rendering of it, and enforced by ``apply``; each override used is recorded in
the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from reconciler.plan.ending import DEFAULT_WINDOW
from reconciler.records.change import Action, Change
from reconciler.records.state import Address, Fields, Kind, StoredEnterprise, as_text

DEFAULT_MAX_REMOVAL_SHARE = 0.25


@dataclass(frozen=True)
class Refusal:
    """Why apply will refuse a plan, and the flag that would let it through."""

    gate: str
    enterprise: str
    message: str
    override: str


@dataclass(frozen=True)
class Policy:
    """What the gates measure against: the removal cap and, when known, who is applying."""

    max_removal_share: float = DEFAULT_MAX_REMOVAL_SHARE
    actor: str | None = None
    expiry_window: int = DEFAULT_WINDOW  # days ahead in which a plan lists grants that end (``plan.ending``)


@dataclass(frozen=True)
class Gate:
    id: str
    summary: str
    override: str
    # (number, its changes, records before, records after, policy, users held but not in ``before``)
    check: Callable[[str, list[Change], Mapping[Address, Fields], Mapping[Address, Fields], Policy, int], Iterable[str]]


GATES: dict[str, Gate] = {}


def gate(gate_id: str, summary: str, override: str):
    def register(check):
        GATES[gate_id] = Gate(gate_id, summary, override, check)
        return check

    return register


def check_gates(
    changes: Iterable[Change], stored: Mapping[str, StoredEnterprise], policy: Policy
) -> tuple[Refusal, ...]:
    by_enterprise: dict[str, list[Change]] = {}
    for change in changes:
        by_enterprise.setdefault(change.address.enterprise, []).append(change)
    refusals = []
    for number, found in sorted(by_enterprise.items()):
        before = stored[number].state.records if number in stored else {}
        unread = stored[number].unread_users if number in stored else 0
        after = records_after(before, found)
        for rule in GATES.values():
            refusals += [
                Refusal(rule.id, number, message, rule.override)
                for message in rule.check(number, found, before, after, policy, unread)
            ]
    return tuple(refusals)


def records_after(before: Mapping[Address, Fields], changes: Iterable[Change]) -> dict[Address, Fields]:
    """An enterprise's records once ``changes`` (all of that enterprise) are made."""
    after = dict(before)
    for change in changes:
        if change.action is Action.DELETE:
            after.pop(change.address, None)
        else:
            assert change.after is not None  # creations and updates carry the fields they leave
            after[change.address] = change.after
    return after


def _administrators(records: Mapping[Address, Fields]) -> set[tuple[str, str, str]]:
    """(role, quality, ssin) of every co-main, access manager and co-access manager."""
    found = set()
    for address, values in records.items():
        if address.kind is Kind.CO_MAIN_ACCESS_MANAGER:
            found.add(("co-main access manager", "", address.key))
        elif address.kind is Kind.CO_ACCESS_MANAGER:
            found.add(("co-access manager", address.quality, address.key))
        elif address.kind is Kind.QUALITY and dict(values)["access_manager"]:
            found.add(("access manager", address.quality, as_text(dict(values)["access_manager"])))
    return found


def roles_of(ssin: str, records: Mapping[Address, Fields]) -> set[tuple[str, str]]:
    """The administrative roles a person holds: (role, quality)."""
    roles = {(role, quality) for role, quality, holder in _administrators(records) if holder == ssin}
    for address, values in records.items():
        if address.kind is Kind.ENTERPRISE and dict(values)["main_access_manager"] == ssin:
            roles.add(("main access manager", ""))
    return roles


def offboards(number: str, before: Mapping[Address, Fields], after: Mapping[Address, Fields]) -> bool:
    """Whether the plan off-boards the enterprise: it held more than its header and keeps nothing else.

    Gate G006 then stands for the gates that removing everything would trip one by one
    (mass removal, no main access manager, the default quality, the actor's own role).
    """
    return len(before) > 1 and len(after) == 1 and Address(number, Kind.ENTERPRISE) in after


@gate("G001", "no mass removal of users or administrators", "--allow-mass-removal")
def mass_removal(number, changes, before, after, policy, unread) -> Iterator[str]:
    """A plan removing more than the set share (default 25%) of an enterprise's stored users, or of its
    administrators, and more than one of them, is refused: the usual sign of a file deleted by mistake.

    ``unread`` users are held but were not read (a plan of only the files a pull request changed
    reads only the users those files declare or declared): they stay, and count among the held."""
    if offboards(number, before, after):
        return
    if not any(
        c.action is Action.DELETE or (c.address.kind is Kind.QUALITY and c.action is Action.UPDATE) for c in changes
    ):
        # Nothing removed, no access manager replaced (that is a quality's update): nothing to count,
        # and a first apply of a million users builds no set of them.
        return
    groups = {
        "users": ({a for a in before if a.kind is Kind.USER}, {a for a in after if a.kind is Kind.USER}),
        "administrators": (_administrators(before), _administrators(after)),
    }
    for name, (old, new) in groups.items():
        removed = len(old - new)
        held = len(old) + (unread if name == "users" else 0)
        if held and removed > 1 and removed > policy.max_removal_share * held:
            yield (
                f"removes {removed} of {held} {name} ({removed / held:.0%}, more than {policy.max_removal_share:.0%})"
            )


@gate("G002", "an enterprise keeps its main access manager", "--allow-no-main-access-manager")
def keeps_main_access_manager(number, changes, before, after, policy, unread) -> Iterator[str]:
    """An enterprise always has exactly one main access manager; no plan may leave it without one."""
    header = after.get(Address(number, Kind.ENTERPRISE))
    if header is not None and not dict(header)["main_access_manager"] and not offboards(number, before, after):
        yield "leaves the enterprise without a main access manager"


@gate("G003", "the default quality is never dropped", "--allow-default-quality-removal")
def keeps_default_quality(number, changes, before, after, policy, unread) -> Iterator[str]:
    """The default quality was activated with the account; removing it removes the account's base."""
    header = before.get(Address(number, Kind.ENTERPRISE))
    if header is None or offboards(number, before, after):
        return
    default = dict(header)["default_quality"]
    if default and Address(number, Kind.QUALITY, default) not in after:
        yield f'removes the default quality "{default}"'


@gate("G004", "an actor keeps an administrative role", "--allow-self-removal")
def keeps_own_role(number, changes, before, after, policy, unread) -> Iterator[str]:
    """An actor cannot remove their own last administrative role in an enterprise: someone else must."""
    if offboards(number, before, after):
        return
    if policy.actor and roles_of(policy.actor, before) and not roles_of(policy.actor, after):
        yield f"removes the last administrative role of the actor {policy.actor}"


@gate("G005", "protected objects stay", "--allow-protected-removal")
def protected_stay(number, changes, before, after, policy, unread) -> Iterator[str]:
    """Objects marked protected in the store are not removed, even when their block left the YAML."""
    for change in changes:
        if change.action is Action.DELETE and dict(change.before or ()).get("protected"):
            yield f"removes the protected {change.address}"


@gate("G006", "off-boarding an enterprise is confirmed at apply", "--allow-offboarding")
def offboarding(number, changes, before, after, policy, unread) -> Iterator[str]:
    """An enterprise declared with ``offboard: true`` loses every person, quality, sender and routing
    rule; apply does it only when told so, after the plan was reviewed (protected objects still need
    their own flag)."""
    if offboards(number, before, after):
        people = sum(1 for address in before if address.kind is Kind.PERSON)
        yield f"off-boards the enterprise: removes all {len(before) - 1} records, {people} people among them"


OVERRIDES = {g.override: g.id for g in GATES.values()}


def unlifted(refusals: Iterable[Refusal], overrides: Iterable[str]) -> list[Refusal]:
    """Refusals that none of the given override flags lifts."""
    lifted = set(overrides)
    return [refusal for refusal in refusals if refusal.override not in lifted]
