"""The plan: a pure, immutable value computed from (desired, stored).

``make_plan`` decides everything; ``apply`` only executes.  A dry run is simply not
calling apply.  Changes are ordered (``change.STEPS``) so that every intermediate step
keeps the hierarchy valid.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from reconciler.change import Action, Change, FieldChange, StoredEnterprise
from reconciler.gates import Policy, Refusal, check_gates
from reconciler.state import EnterpriseState
from reconciler.sync import sync_digest

__all__ = ["Action", "Change", "FieldChange", "Plan", "StoredEnterprise", "make_plan"]


@dataclass(frozen=True)
class Plan:
    """Changes in execution order, and the store version each touched enterprise was read at."""

    changes: tuple[Change, ...]
    versions: tuple[tuple[str, int | None], ...]
    refusals: tuple[Refusal, ...] = ()
    actor: str | None = None
    # Per planned enterprise: (number, version read, digest, files) for incremental planning.
    sync: tuple[tuple[str, int | None, str, tuple[tuple[str, str], ...]], ...] = ()
    skipped: tuple[str, ...] = ()  # enterprises unchanged since their last apply, not parsed

    @property
    def is_empty(self) -> bool:
        return not self.changes

    def counts(self) -> dict[Action, int]:
        found = Counter(change.action for change in self.changes)
        return {action: found.get(action, 0) for action in Action}

    def enterprises(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(change.address.enterprise for change in self.changes))


def diff_enterprise(desired: EnterpriseState, stored: EnterpriseState | None) -> list[Change]:
    """Changes that turn ``stored`` into ``desired`` for one enterprise, unordered."""
    before = stored.records if stored is not None else {}
    after = desired.records
    changes = [Change(Action.CREATE, a, None, f) for a, f in after.items() if a not in before]
    changes += [Change(Action.UPDATE, a, before[a], f) for a, f in after.items() if a in before and before[a] != f]
    changes += [Change(Action.DELETE, a, f, None) for a, f in before.items() if a not in after]
    return changes


def make_plan(desired: Mapping[str, EnterpriseState], stored: Mapping[str, StoredEnterprise],
              policy: Policy | None = None, files: Mapping[str, dict[str, str]] | None = None,
              skipped: Iterable[str] = ()) -> Plan:
    """The plan for every enterprise in ``desired``; enterprises only in the store are left alone.

    The safety gates are evaluated here, so every view of the plan shows what apply will refuse.
    """
    policy = policy or Policy()
    changes: list[Change] = []
    versions: list[tuple[str, int | None]] = []
    for number in sorted(desired):
        current = stored.get(number)
        found = diff_enterprise(desired[number], current.state if current else None)
        if found:
            changes.extend(found)
            versions.append((number, current.version if current else None))
    changes.sort(key=lambda c: (c.address.enterprise, c.step, c.address.quality, c.address.kind.value, c.address.key))
    sync = tuple((number, stored[number].version if number in stored else None, sync_digest(found),
                  tuple(sorted(found.items())))
                 for number, found in sorted((files or {}).items()) if number in desired)
    return Plan(tuple(changes), tuple(versions), check_gates(changes, stored, policy), policy.actor, sync,
                tuple(sorted(skipped)))
