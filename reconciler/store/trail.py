"""What a SQL store reads of the audit trail: its entries, the records as the applies left them
(for drift), and each chain's head.

Mixed into ``sql.SqlStore``, which supplies what is abstract here, as ``synced.SyncedFiles`` is.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from reconciler.store.audit import ENTRY_QUERY, AuditEntry, stored_entries


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

    def applied_records(self, enterprise: str, actions: Iterable[str]) -> dict[str, str | None]:
        wanted = set(actions)
        # The enterprise's entries in order, in one pass over its part of the table (its key is
        # enterprise and seq): the newest entry of each address is the last one read.  Picking the
        # newest per address through the index on (enterprise, address, seq) reads each entry's
        # row anyway, for its action, then the newest again: twice the time.
        newest: dict[str, str | None] = {}
        with self._snapshot():
            for address, action, after in self._each_row(
                "SELECT address, action, after FROM audit_log WHERE enterprise = ? ORDER BY seq", (enterprise,)
            ):
                if action in wanted:
                    newest[address] = after
        return {address: after for address, after in newest.items() if address.startswith("enterprise[")}

    def audit_heads(self) -> dict[str, tuple[int, str]]:
        with self._snapshot():
            return {
                n: (seq, head) for n, seq, head in self._rows("SELECT number, audit_seq, audit_head FROM enterprises")
            }
