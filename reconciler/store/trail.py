"""What a SQL store reads of the audit trail: its entries, the records as the applies left them
(for drift), and each chain's head.

Mixed into ``sql.SqlStore``, which supplies what is abstract here, as ``synced.SyncedFiles`` is.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from reconciler.records.state import Address, Kind
from reconciler.store.audit import ENTRY_QUERY, GENESIS, AuditEntry, stored_entries
from reconciler.store.port import CHUNK, batched


class AuditReads(ABC):
    """Reading the audit trail."""

    @abstractmethod
    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]: ...

    @abstractmethod
    def _each_row(self, sql: str, params: Iterable[Any] = ()) -> Iterator[tuple]: ...

    @abstractmethod
    def _snapshot(self) -> AbstractContextManager[None]: ...

    def audit_entries(self, enterprise: str | None = None) -> list[AuditEntry]:
        with self._snapshot():
            if enterprise is None:
                rows = self._rows(f"{ENTRY_QUERY} ORDER BY e.enterprise, e.seq")
            else:
                rows = self._rows(f"{ENTRY_QUERY} WHERE e.enterprise = ? ORDER BY e.seq", (enterprise,))
        return stored_entries(rows)

    def audit_trail(self, enterprise: str) -> tuple[list[AuditEntry], tuple[int, str]]:
        with self._snapshot():
            rows = self._rows(f"{ENTRY_QUERY} WHERE e.enterprise = ? ORDER BY e.seq", (enterprise,))
            head = self._rows("SELECT audit_seq, audit_head FROM enterprises WHERE number = ?", (enterprise,))
        return stored_entries(rows), (head[0][0], head[0][1]) if head else (0, GENESIS)

    def applied_records(
        self, enterprise: str, actions: Iterable[str], addresses: Iterable[str] | None = None
    ) -> dict[str, str | None]:
        wanted = set(actions)
        newest: dict[str, str | None] = {}
        with self._snapshot():
            if addresses is None:
                # The enterprise's entries in order, in one pass over its part of the table (its key
                # is enterprise and seq): the newest entry of each address is the last one read.
                rows: Iterable[tuple] = self._each_row(
                    "SELECT address, action, after FROM audit_log WHERE enterprise = ? ORDER BY seq", (enterprise,)
                )
            else:
                # A few records: their entries alone, picked out by the database in its pass over
                # the enterprise's part of the trail, in order per address.
                rows = (
                    row
                    for chunk in batched(sorted(set(addresses)), CHUNK - 1)
                    for row in self._rows(
                        "SELECT address, action, after FROM audit_log "
                        f"WHERE enterprise = ? AND address IN ({', '.join('?' * len(chunk))}) ORDER BY address, seq",
                        (enterprise, *chunk),
                    )
                )
            for address, action, after in rows:
                if action in wanted:
                    newest[address] = after
        return {address: after for address, after in newest.items() if address.startswith("enterprise[")}

    def written_by_hand(self, enterprise: str) -> set[Address] | None:
        with self._snapshot():
            rows = self._rows("SELECT kind, quality, key FROM hand_writes WHERE enterprise = ?", (enterprise,))
        kinds = {kind.value: kind for kind in Kind}
        # Nothing listed while the version moved, '*', or a kind this version does not know: any
        # record may have been written.
        if not rows or any(kind not in kinds for kind, _, _ in rows):
            return None
        return {Address(enterprise, kinds[kind], quality, key) for kind, quality, key in rows}

    def audit_heads(self) -> dict[str, tuple[int, str]]:
        with self._snapshot():
            return {
                n: (seq, head) for n, seq, head in self._rows("SELECT number, audit_seq, audit_head FROM enterprises")
            }
