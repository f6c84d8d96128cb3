"""A change to one record: the unit plans are made of, rendered, audited and applied.

Kept apart from ``plan`` so that the gates, the renderers and the stores can speak of
changes without depending on how plans are made.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple

from reconciler.records.state import Address, Fields, Kind, Value


class Action(Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"

    # As for ``Kind``: members are singletons, so identity is a correct hash, and a first apply
    # hashes the action of each of its millions of changes several times (ordering, counting).
    __hash__ = object.__hash__


# The order in which changes are executed: edges are removed before the nodes they hang
# from, nodes are created before the edges that point at them, and people outlive every
# role that names them.
STEPS: tuple[tuple[Action, Kind], ...] = (
    (Action.DELETE, Kind.ROUTE),
    (Action.DELETE, Kind.USER),
    (Action.DELETE, Kind.PROFILE),
    (Action.DELETE, Kind.CO_ACCESS_MANAGER),
    (Action.DELETE, Kind.CO_MAIN_ACCESS_MANAGER),
    (Action.CREATE, Kind.ENTERPRISE),
    (Action.CREATE, Kind.PERSON),
    (Action.UPDATE, Kind.PERSON),
    (Action.CREATE, Kind.QUALITY),
    (Action.UPDATE, Kind.QUALITY),
    (Action.UPDATE, Kind.ENTERPRISE),
    (Action.CREATE, Kind.PROFILE),
    (Action.UPDATE, Kind.PROFILE),
    (Action.CREATE, Kind.SENDER),
    (Action.UPDATE, Kind.SENDER),
    (Action.CREATE, Kind.CO_MAIN_ACCESS_MANAGER),
    (Action.UPDATE, Kind.CO_MAIN_ACCESS_MANAGER),  # protected or until changed
    (Action.CREATE, Kind.CO_ACCESS_MANAGER),
    (Action.UPDATE, Kind.CO_ACCESS_MANAGER),
    (Action.CREATE, Kind.USER),
    (Action.UPDATE, Kind.USER),
    (Action.CREATE, Kind.ROUTE),
    (Action.UPDATE, Kind.ROUTE),
    (Action.DELETE, Kind.SENDER),
    (Action.DELETE, Kind.QUALITY),
    (Action.DELETE, Kind.PERSON),
)
STEP = {step: index for index, step in enumerate(STEPS)}  # the index of each (action, kind) in STEPS


@dataclass(frozen=True)
class FieldChange:
    name: str
    before: Value
    after: Value


class Change(NamedTuple):
    """One record created, updated or deleted; ``before``/``after`` are None when absent.

    A named tuple, as ``Address``: a first apply makes millions of changes from the bytes the
    worker processes sent (``records.changes``), each in one call made in C, where a frozen dataclass
    ran Python code for each of its fields (twice the time).
    """

    action: Action
    address: Address
    before: Fields | None
    after: Fields | None

    @property
    def step(self) -> int:
        return STEP[(self.action, self.address.kind)]

    @property
    def field_changes(self) -> tuple[FieldChange, ...]:
        """Fields whose value differs (for creations and deletions: every field that is set)."""
        if self.before is None:
            return tuple(FieldChange(n, None, v) for n, v in self.after or () if v is not None)
        if self.after is None:
            return tuple(FieldChange(n, v, None) for n, v in self.before if v is not None)
        # Both sides hold every field of the kind, in the kind's order.
        return tuple(FieldChange(n, b, a) for (n, b), (_, a) in zip(self.before, self.after, strict=True) if b != a)
