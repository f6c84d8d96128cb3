"""Writing to the audit chain, for a SQL transaction: "no audit, no request".

Before anything is appended to an enterprise's chain, the chain is verified; a chain that
does not verify stops the command (``ChainBroken``) unless the command was told to go on,
which is then the next entry.  A process verifies a chain in full once, then only what was
appended since, as long as the entry it verified last is still there unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from reconciler.records.change import Change
from reconciler.store.audit import (
    ENTRY_QUERY,
    GENESIS,
    KEYED,
    RUN_COLUMNS,
    STORED_COLUMNS,
    ChainBroken,
    Context,
    audit_key,
    chain_events,
    change_events,
    event_json,
    stored_entries,
    verify_chain,
    verify_head,
)


class Statements(Protocol):
    """What the chain needs of a SQL store (``sql.SqlStore`` is one)."""

    connection: Any
    verified_chains: dict[str, tuple[int, str]]

    def q(self, sql: str) -> str: ...

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]: ...

    def insert_rows(self, into: str, columns: Sequence[str], rows: Sequence[tuple], then: str = "") -> None: ...

    def later(self, sql: str, params: Iterable[Any] = ()) -> None: ...


class ChainWriter:
    """The audit side of a transaction; ``SqlTransaction`` supplies the store and the statements."""

    store: Statements
    allow_broken_audit: bool
    _checked: set[str]
    _runs: dict[Context, int]  # the audit_runs row of each apply context written in this transaction
    _heads: dict[str, tuple[int, str]]  # each chain's (seq, head) as this transaction read or left it
    _unmoved: set[str]  # chains appended to whose stored head ``move_heads`` is to move

    def _run(self, sql: str, params: tuple = ()) -> None:
        self.store.connection.execute(self.store.q(sql), tuple(params))

    def record_events(
        self, shared: Context, enterprise: str, events: list[tuple[str, str, dict | None, dict | None]]
    ) -> None:
        self._append(shared, enterprise, _as_json(events))

    def audit_adopted(self, shared: Context, adopted: Mapping[str, list[tuple]]) -> None:
        """Append the events of the records each enterprise adopts (as ``record_events`` takes them):
        before its changes (``audit_changes``), so that its trail says first what the store held."""
        rows: list[tuple] = []
        for enterprise in sorted(adopted):
            self.check_audit(shared, [enterprise])
            if adopted[enterprise]:
                rows += self._chained(shared, enterprise, _as_json(adopted[enterprise]))
                self._unmoved.add(enterprise)
        if rows:
            self.store.insert_rows("audit_log", STORED_COLUMNS, rows)

    def audit_changes(self, shared: Context, changes: Sequence[Change]) -> None:
        """Append one entry per change to its enterprise's chain, each chain going on from the head
        the batch before left, in one insert for the batch.

        Apply hands the changes a batch at a time, in the order they are executed, and the trail
        records them in that order (within an enterprise, the plan's order for every plan ``plan``
        makes): the chains are those of a change-by-change apply in the order of execution.
        The entries of many small enterprises go in one insert, and the stored heads move once,
        with ``move_heads``: a statement or two per enterprise cost a first apply of 8,449
        enterprises more time handing them to the store than inserting them.
        """
        by_enterprise: dict[str, list[Change]] = {}
        for change in changes:
            by_enterprise.setdefault(change.address.enterprise, []).append(change)
        rows: list[tuple] = []
        for enterprise, found in by_enterprise.items():
            self.check_audit(shared, [enterprise])
            rows += self._chained(shared, enterprise, change_events(found))
        if rows:
            self.store.insert_rows("audit_log", STORED_COLUMNS, rows)
        self._unmoved.update(by_enterprise)

    def move_heads(self) -> None:
        """Store the head of each chain ``audit_adopted`` and ``audit_changes`` appended to: once the
        records are written, as a new enterprise's row is among them."""
        unmoved, self._unmoved = sorted(self._unmoved), set()
        self.store.connection.cursor().executemany(
            self.store.q("UPDATE enterprises SET audit_seq = ?, audit_head = ? WHERE number = ?"),
            [(*self._heads[enterprise], enterprise) for enterprise in unmoved],
        )

    def check_audit(self, shared: Context, enterprises: Iterable[str]) -> None:
        """Refuse (``ChainBroken``) to go on when the chain of an enterprise about to be written does not verify.

        Unless ``allow_broken_audit`` is set: then the broken chain is accepted, and that
        acceptance is the next entry of the chain.  Checked once per enterprise and transaction.
        """
        for enterprise in sorted(set(enterprises)):
            if enterprise in self._checked:
                continue
            problems = self._chain_problems(enterprise)
            self._checked.add(enterprise)
            if problems and not self.allow_broken_audit:
                raise ChainBroken(problems)
            if problems:
                self._insert(
                    shared,
                    enterprise,
                    [("audit-override", "audit trail", event_json({"problems": problems[:50]}), None)],
                )

    def audit_head(self, enterprise: str) -> tuple[int, str]:
        """The chain's (seq, head): kept once read or written, as only this transaction writes it (it holds
        the enterprise's lock), so that writing a chain never waits for the write-behind thread."""
        found = self._heads.get(enterprise)
        if found is None:
            seq, head = self.store._rows(
                "SELECT audit_seq, audit_head FROM enterprises WHERE number = ?", (enterprise,)
            )[0]
            found = self._heads[enterprise] = (int(seq), str(head))
        return found

    def _chain_problems(self, enterprise: str, sealing: bool = False) -> list[str]:
        """What is wrong with an enterprise's chain; what this process verified before is not read again."""
        found = self.store._rows("SELECT audit_seq, audit_head FROM enterprises WHERE number = ?", (enterprise,))
        if not found:
            self._heads[enterprise] = (0, GENESIS)  # as the enterprise's row will be created
            return []  # not stored yet: nothing to verify
        recorded = self._heads[enterprise] = (int(found[0][0]), str(found[0][1]))
        verified = self.store.verified_chains.get(enterprise)
        if verified is not None and not self._still_there(enterprise, verified):
            verified = None  # the entry this process verified last was changed since: read it all again
        start = verified if verified is not None and verified[0] <= recorded[0] else (0, GENESIS)
        # Read from the start, every row of the enterprise is read, whatever its number (an entry
        # numbered 0 by hand included); after a verified entry, only those numbered after it.
        if start[0]:
            rows = self.store._rows(
                f"{ENTRY_QUERY} WHERE e.enterprise = ? AND e.seq > ? ORDER BY e.seq", (enterprise, start[0])
            )
        else:
            rows = self.store._rows(f"{ENTRY_QUERY} WHERE e.enterprise = ? ORDER BY e.seq", (enterprise,))
        log = stored_entries(rows, start[1])
        key = audit_key()
        problems = verify_chain(enterprise, log, start, key) + verify_head(enterprise, log, recorded, start[0], key)
        if sealing:  # the one problem `audit seal` is there to mend
            problems = [p for p in problems if "does not end in a keyed entry" not in p]
        if not problems:
            self.store.verified_chains[enterprise] = recorded
        return problems

    def _still_there(self, enterprise: str, verified: tuple[int, str]) -> bool:
        """Whether the entry this process verified last is still there, unchanged."""
        if verified[0] == 0:
            return True
        found = self.store._rows(
            "SELECT hash FROM audit_log WHERE enterprise = ? AND seq = ?", (enterprise, verified[0])
        )
        return bool(found) and found[0][0] == verified[1]

    def seal_audit(self, shared: Context, enterprise: str) -> bool:
        """Append a keyed entry to a plain chain that verifies, so that it ends keyed; False if it ends keyed."""
        problems = self._chain_problems(enterprise, sealing=True)
        if problems:
            raise ChainBroken(problems)
        seq, head = self.audit_head(enterprise)
        if not seq or head.startswith(KEYED):
            return False
        self._checked.add(enterprise)
        self._insert(shared, enterprise, [("audit-seal", "audit trail", None, event_json({"sealed_entries": seq}))])
        return True

    def _append(self, shared: Context, enterprise: str, events: list[tuple[str, str, str | None, str | None]]) -> None:
        self.check_audit(shared, [enterprise])
        self._insert(shared, enterprise, events)

    def _insert(self, shared: Context, enterprise: str, events: list[tuple[str, str, str | None, str | None]]) -> None:
        rows = self._chained(shared, enterprise, events)
        self.store.insert_rows("audit_log", STORED_COLUMNS, rows)
        seq, head = self._heads[enterprise]
        self.store.later(
            "UPDATE enterprises SET audit_seq = ?, audit_head = ? WHERE number = ?", (seq, head, enterprise)
        )

    def _chained(self, shared: Context, enterprise: str, events: list[tuple[str, str, str | None, str | None]]) -> list:
        """The rows of ``events`` continuing the enterprise's chain; its head (``audit_head``) moves
        to the last of them, the stored head is the caller's to move."""
        seq, head = self.audit_head(enterprise)
        rows = chain_events(shared, enterprise, events, seq, head, self._run_id(shared))
        last = self._heads[enterprise] = (rows[-1][1], rows[-1][-1])
        if self.store.verified_chains.get(enterprise) == (seq, head):
            # Appended by this process to a chain it verified: the new head needs no reading again.
            self.store.verified_chains[enterprise] = last
        return rows

    def _run_id(self, shared: Context) -> int:
        """The row of audit_runs that holds what every entry of this apply shares, written on first use."""
        found = self._runs.get(shared)
        if found is None:
            values = tuple(getattr(shared, name) for name in RUN_COLUMNS)
            statement = f"INSERT INTO audit_runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' * len(values))})"
            found = self._runs[shared] = int(self.store._rows(f"{statement} RETURNING id", values)[0][0])
        return found


def _as_json(events: list[tuple[str, str, dict | None, dict | None]]) -> list[tuple[str, str, str | None, str | None]]:
    """Events as ``record_events`` takes them, their values as JSON text."""
    return [(action, subject, event_json(before), event_json(after)) for action, subject, before, after in events]
