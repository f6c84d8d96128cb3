"""The plan: a pure, immutable value computed from (desired, stored).

``make_plan`` decides everything; ``apply`` only executes.  A dry run is simply not
calling apply.  Changes are ordered so that every intermediate step keeps the hierarchy
valid: edges are removed before the nodes they hang from, nodes are created before the
edges that point at them, and people outlive every role that names them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from reconciler.state import Address, EnterpriseState, Fields, Kind, Value


class Action(Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


# The order in which changes are executed.  See the module docstring for why.
STEPS: tuple[tuple[Action, Kind], ...] = (
    (Action.DELETE, Kind.ROUTE),
    (Action.DELETE, Kind.USER),
    (Action.DELETE, Kind.CO_ACCESS_MANAGER),
    (Action.DELETE, Kind.CO_MAIN_ACCESS_MANAGER),
    (Action.CREATE, Kind.ENTERPRISE),
    (Action.CREATE, Kind.PERSON),
    (Action.UPDATE, Kind.PERSON),
    (Action.CREATE, Kind.QUALITY),
    (Action.UPDATE, Kind.QUALITY),
    (Action.UPDATE, Kind.ENTERPRISE),
    (Action.CREATE, Kind.SENDER),
    (Action.UPDATE, Kind.SENDER),
    (Action.CREATE, Kind.CO_MAIN_ACCESS_MANAGER),
    (Action.CREATE, Kind.CO_ACCESS_MANAGER),
    (Action.CREATE, Kind.USER),
    (Action.UPDATE, Kind.USER),
    (Action.CREATE, Kind.ROUTE),
    (Action.UPDATE, Kind.ROUTE),
    (Action.DELETE, Kind.SENDER),
    (Action.DELETE, Kind.QUALITY),
    (Action.DELETE, Kind.PERSON),
)
_STEP = {step: index for index, step in enumerate(STEPS)}


@dataclass(frozen=True)
class FieldChange:
    name: str
    before: Value
    after: Value


@dataclass(frozen=True)
class Change:
    """One record created, updated or deleted; ``before``/``after`` are None when absent."""

    action: Action
    address: Address
    before: Fields | None
    after: Fields | None

    @property
    def step(self) -> int:
        return _STEP[(self.action, self.address.kind)]

    @property
    def field_changes(self) -> tuple[FieldChange, ...]:
        """Fields whose value differs (for creations and deletions: every field that is set)."""
        before, after = dict(self.before or ()), dict(self.after or ())
        names = [name for name, _ in (self.after or self.before or ())]
        return tuple(FieldChange(n, before.get(n), after.get(n)) for n in names if before.get(n) != after.get(n))


@dataclass(frozen=True)
class Plan:
    """Changes in execution order, and the store version each touched enterprise was read at."""

    changes: tuple[Change, ...]
    versions: tuple[tuple[str, int | None], ...]

    @property
    def is_empty(self) -> bool:
        return not self.changes

    def counts(self) -> dict[Action, int]:
        found = Counter(change.action for change in self.changes)
        return {action: found.get(action, 0) for action in Action}

    def enterprises(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(change.address.enterprise for change in self.changes))


@dataclass(frozen=True)
class StoredEnterprise:
    state: EnterpriseState
    version: int


def diff_enterprise(desired: EnterpriseState, stored: EnterpriseState | None) -> list[Change]:
    """Changes that turn ``stored`` into ``desired`` for one enterprise, unordered."""
    before = stored.records if stored is not None else {}
    after = desired.records
    changes = [Change(Action.CREATE, a, None, f) for a, f in after.items() if a not in before]
    changes += [Change(Action.UPDATE, a, before[a], f) for a, f in after.items() if a in before and before[a] != f]
    changes += [Change(Action.DELETE, a, f, None) for a, f in before.items() if a not in after]
    return changes


def make_plan(desired: Mapping[str, EnterpriseState], stored: Mapping[str, StoredEnterprise]) -> Plan:
    """The plan for every enterprise in ``desired``; enterprises only in the store are left alone."""
    changes: list[Change] = []
    versions: list[tuple[str, int | None]] = []
    for number in sorted(desired):
        current = stored.get(number)
        found = diff_enterprise(desired[number], current.state if current else None)
        if found:
            changes.extend(found)
            versions.append((number, current.version if current else None))
    changes.sort(key=lambda c: (c.address.enterprise, c.step, c.address))
    return Plan(tuple(changes), tuple(versions))
