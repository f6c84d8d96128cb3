"""A plan's changes as runs of one enterprise, action, kind and quality, packed until they are used.

A first apply of a registry of a million users plans two million changes.  Held as ``Change``
objects they took some 400 bytes each, most of a first apply's memory, and the main process
spent seconds making them again from what the worker processes sent.  So the changes of each
run (consecutive changes of one enterprise, action, kind and quality) that come back from a
worker stay as the bytes it sent, with what a plan is asked of them without reading each
one: how many there are, which enterprise, action, kind and quality they belong to, and
their digest (the plan's hash is made of them).  They are made into ``Change`` objects when
they are used, a run (at most ``RUN_SIZE`` changes) at a time: apply holds one run and one
batch of them.

The bytes are pickles made by this process's own worker processes and never read from
anywhere else: a ``Changes`` is never written to disk (saved plans are JSON).
"""

from __future__ import annotations

import hashlib
import itertools
import pickle
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple, overload

import orjson

from reconciler.records.change import STEP, Action, Change
from reconciler.records.state import Address, Kind


class Run(NamedTuple):
    """Consecutive changes of one enterprise, one action, one kind and one quality ("" for none)."""

    enterprise: str
    action: Action
    kind: Kind
    quality: str
    size: int  # how many changes
    digest: bytes | None  # SHA-256 of the changes as the plan's hash reads them; None until asked for
    changes: tuple[Change, ...] | bytes  # bytes: packed by a worker process (``Changes.packed``)

    def items(self) -> tuple[Change, ...]:
        return unpacked_run(self) if isinstance(self.changes, bytes) else self.changes

    def hashed(self) -> bytes:
        return self.digest if self.digest is not None else run_digest(self.items())


def run_digest(changes: Iterable[Change]) -> bytes:
    """What a plan's hash reads of some changes: SHA-256 of (action, address, before, after) of each, as JSON."""
    return hashlib.sha256(orjson.dumps([(c.action.value, str(c.address), c.before, c.after) for c in changes])).digest()


def packed_run(changes: tuple[Change, ...]) -> bytes:
    """The changes of a run as bytes: what the run does not say of each (its key, before and after),
    as three lists of plain strings and tuples, which pickle in C."""
    columns = ([c.address.key for c in changes], [c.before for c in changes], [c.after for c in changes])
    return pickle.dumps(columns, protocol=pickle.HIGHEST_PROTOCOL)


def unpacked_run(run: Run) -> tuple[Change, ...]:
    """The changes ``packed_run`` gave, each with its address made from the run's."""
    keys, befores, afters = pickle.loads(run.changes)  # type: ignore[arg-type]  # noqa: S301 - our workers' bytes
    new = tuple.__new__  # a change and its address from their values, as their constructors would make them
    action, enterprise, kind, quality = run.action, run.enterprise, run.kind, run.quality
    return tuple(
        [
            new(Change, (action, new(Address, (enterprise, kind, quality, key)), before, after))
            for key, before, after in zip(keys, befores, afters, strict=True)
        ]
    )


def _key(change: Change) -> tuple[str, Action, Kind, str]:
    address = change.address
    return address.enterprise, change.action, address.kind, address.quality


# Changes to a run, at most: apply makes a run into changes at once, so this bounds what it holds
# (an enterprise of a million users is a hundred runs of its users, not one).
RUN_SIZE = 10_000


class Changes(Sequence[Change]):
    """An immutable sequence of changes, in plan order, held as runs (``Run``).

    The runs are always cut the same way, whatever they were made from: the changes of one
    enterprise, action, kind and quality that follow one another, ``RUN_SIZE`` at a time from the
    first.  So equal sequences have the same runs, and the plan's hash (made of the runs'
    digests) does not depend on how the plan was put together.
    """

    __slots__ = ("_count", "runs")

    def __init__(self, runs: Iterable[Run] = ()):
        self.runs: tuple[Run, ...] = tuple(_canonical(runs))
        self._count = sum(run.size for run in self.runs)

    @classmethod
    def of(cls, changes: Iterable[Change]) -> Changes:
        """The changes given, in their order (a ``Changes`` is returned as it is)."""
        if isinstance(changes, Changes):
            return changes
        runs = []
        for key, group in itertools.groupby(changes, key=_key):
            found = tuple(group)
            runs += [Run(*key, len(chunk), None, chunk) for chunk in _chunks(found)]
        return cls(runs)

    @classmethod
    def joined(cls, parts: Iterable[Iterable[Change]]) -> Changes:
        """The changes of each part, one part after the other."""
        return cls(run for part in parts for run in Changes.of(part).runs)

    def packed(self, digests: bool = True) -> Changes:
        """The same changes as bytes, to be sent to the process that puts the plan together: cheaper
        to send, to hold and to keep than objects.  With ``digests`` each run's digest is made
        here (by the worker processes, side by side), for a plan that is to be applied.  Runs
        already packed are kept as they are."""
        return Changes(
            r if isinstance(r.changes, bytes) else Run(*r[:5], r.hashed() if digests else None, packed_run(r.changes))
            for r in self.runs
        )

    def __iter__(self) -> Iterator[Change]:
        for run in self.runs:
            yield from run.items()

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    @overload
    def __getitem__(self, index: int) -> Change: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Change, ...]: ...

    def __getitem__(self, index: int | slice) -> Change | tuple[Change, ...]:
        """As a tuple's; one change is found by the runs' sizes, making only its run."""
        if isinstance(index, slice):
            return tuple(self)[index]
        position = index + self._count if index < 0 else index
        if not 0 <= position < self._count:
            raise IndexError("change index out of range")
        for run in self.runs:
            if position < run.size:
                return run.items()[position]
            position -= run.size
        raise AssertionError("the runs' sizes add up to the count")

    def __eq__(self, other: object) -> bool:
        """Equal to any tuple, list or ``Changes`` of the same changes in the same order; compared a
        run at a time, never making all of a plan's changes at once."""
        if isinstance(other, Changes | tuple | list):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"Changes({len(self)} changes in {len(self.runs)} runs)"

    def __reduce__(self) -> tuple[Any, ...]:
        return Changes, (self.runs,)

    def by_step(self) -> Iterator[tuple[int, Iterator[Change]]]:
        """Each step that has changes (in ``STEPS`` order) and its changes, in plan order; KeyError for
        an action and kind that are no step (never planned)."""
        steps = [STEP[(run.action, run.kind)] for run in self.runs]
        for step in sorted(set(steps)):
            yield (
                step,
                (change for run, at in zip(self.runs, steps, strict=True) if at == step for change in run.items()),
            )

    def tally(self) -> Counter[tuple[str, str, Action, Kind]]:
        """How many changes of each (enterprise, quality, action, kind), without reading them."""
        found: Counter[tuple[str, str, Action, Kind]] = Counter()
        for run in self.runs:
            found[(run.enterprise, run.quality, run.action, run.kind)] += run.size
        return found

    def enterprises(self) -> tuple[str, ...]:
        """The enterprises changed, in plan order."""
        return tuple(dict.fromkeys(run.enterprise for run in self.runs))

    def digests(self) -> Iterator[bytes]:
        """Each run's digest, in plan order: what the plan's hash is made of."""
        return (run.hashed() for run in self.runs)


def _chunks(changes: tuple[Change, ...]) -> list[tuple[Change, ...]]:
    return [changes[start : start + RUN_SIZE] for start in range(0, len(changes), RUN_SIZE)]


def _canonical(runs: Iterable[Run]) -> Iterator[Run]:
    """The runs cut as ``Changes`` cuts them: empty runs dropped, and the runs of one key that follow
    one another made again where they are not already ``RUN_SIZE``, ``RUN_SIZE``, ..., the rest
    (only when parts joined split such a group: never for a plan's parts, one per enterprise)."""
    group: list[Run] = []
    for run in runs:
        if not run.size:
            continue
        if group and group[0][:4] != run[:4]:  # another enterprise, action, kind or quality
            yield from _cut(group)
            group = []
        group.append(run)
    yield from _cut(group)


def _cut(group: list[Run]) -> list[Run]:
    if all(run.size == RUN_SIZE for run in group[:-1]) and (not group or group[-1].size <= RUN_SIZE):
        return group
    found = tuple(change for run in group for change in run.items())
    return [Run(*group[0][:4], len(chunk), None, chunk) for chunk in _chunks(found)]
