"""Move a whole registry from one store to another, and prove the copy is exact.

A plan would recreate accounts (new deadlines, new user names), so the copy moves rows
as stored, accounts and versions included, and then compares both stores.
"""

from __future__ import annotations

from reconciler.records import clock
from reconciler.store.port import Store, StoreError


def copy_registry(source: Store, target: Store) -> int:
    """Copy every enterprise of ``source`` into the empty ``target``; return how many."""
    rows = source.dump()
    target.load(rows, clock.now())
    differences = compare(source, target)
    if differences:
        raise StoreError("the copy differs from its source: " + "; ".join(differences[:5]))
    return len(rows["enterprises"][1])


def compare(left: Store, right: Store) -> list[str]:
    """Where two registries differ: records, versions or accounts of any enterprise."""
    ours, theirs = left.read(), right.read()
    problems = [f"enterprise {n} only in {left.url}" for n in sorted(ours.keys() - theirs.keys())]
    problems += [f"enterprise {n} only in {right.url}" for n in sorted(theirs.keys() - ours.keys())]
    for number in sorted(ours.keys() & theirs.keys()):
        if ours[number] != theirs[number]:
            problems.append(f"enterprise {number} has other records or another version")
        elif left.accounts(number) != right.accounts(number):
            problems.append(f"enterprise {number} has other accounts")
    return problems
