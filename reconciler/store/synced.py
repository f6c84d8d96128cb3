"""What a SQL store remembers of the declared files: which files each enterprise was last applied
from (sync records), what each file gave (``plan.facts``), and the part of an enterprise a plan
from changed files reads (``read_slice``).

Mixed into ``sql.SqlStore``, which supplies what is abstract here; the statements are written
once with ``?`` placeholders and run through the host store's ``q``, as in ``sql``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any

from reconciler.records.state import Address, EnterpriseState, Fields, Kind, StoredEnterprise
from reconciler.store.port import CHUNK, SyncRecord, batched
from reconciler.store.tables import TABLES


class SyncedFiles(ABC):
    """Reading the sync records, the facts of files, and slices of enterprises."""

    @abstractmethod
    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]: ...

    @abstractmethod
    def _snapshot(self) -> AbstractContextManager[None]: ...

    def applied_files(self, numbers: Iterable[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        with self._snapshot():
            for chunk in batched(sorted(set(numbers)), CHUNK):
                marks = ", ".join("?" * len(chunk))
                for enterprise, path in self._rows(
                    f"SELECT enterprise, path FROM declared_files WHERE enterprise IN ({marks}) ORDER BY path", chunk
                ):
                    found.setdefault(enterprise, []).append(path)
        return found

    def sync_records(self, paths: list[str]) -> tuple[dict[str, str], dict[str, SyncRecord]]:
        """For the files given: which enterprise each was last applied to, and those enterprises' records.

        When the files given are a good part of all those remembered (a registry's root was given),
        every file is read in one pass over the index that holds path, enterprise and hash: looking
        each up would read the table's rows, facts and all.
        """
        owner: dict[str, str] = {}
        files: dict[str, dict[str, str]] = {}
        with self._snapshot():
            if 4 * len(paths) >= self._rows("SELECT count(*) FROM declared_files")[0][0]:
                given = set(paths)
                for enterprise, path, sha in self._rows("SELECT enterprise, path, sha256 FROM declared_files"):
                    files.setdefault(enterprise, {})[path] = sha
                    if path in given:
                        owner[path] = enterprise
                files = {number: files[number] for number in set(owner.values())}
            else:
                for chunk in batched(sorted(paths), CHUNK):
                    marks = ", ".join("?" * len(chunk))
                    owner.update(
                        self._rows(f"SELECT path, enterprise FROM declared_files WHERE path IN ({marks})", chunk)
                    )
                for chunk in batched(sorted(set(owner.values())), CHUNK):
                    marks = ", ".join("?" * len(chunk))
                    for enterprise, path, sha in self._rows(
                        f"SELECT enterprise, path, sha256 FROM declared_files WHERE enterprise IN ({marks})", chunk
                    ):
                        files.setdefault(enterprise, {})[path] = sha
            records: dict[str, SyncRecord] = {}
            for chunk in batched(sorted(files), CHUNK):
                marks = ", ".join("?" * len(chunk))
                for number, digest, synced, version, expiry in self._rows(
                    "SELECT number, synced_digest, synced_version, version, next_expiry FROM enterprises "
                    f"WHERE number IN ({marks})",
                    chunk,
                ):
                    records[number] = SyncRecord(files.get(number, {}), digest, synced, version, expiry)
        return owner, records

    def file_facts(self, paths: Iterable[str]) -> dict[str, tuple[str, str | None]]:
        found: dict[str, tuple[str, str | None]] = {}
        with self._snapshot():
            for chunk in batched(sorted(set(paths)), CHUNK):
                marks = ", ".join("?" * len(chunk))
                for path, sha, facts in self._rows(
                    f"SELECT path, sha256, facts FROM declared_files WHERE path IN ({marks})", chunk
                ):
                    found[path] = (sha, facts)
        return found

    def read_slice(
        self, number: str, users: Iterable[tuple[str, str]], persons: Iterable[str]
    ) -> tuple[StoredEnterprise, int] | None:
        by_enterprise: dict[str, dict[Address, Fields]] = {}  # only ``number``'s rows are selected
        wanted_users: dict[str, list[str]] = {}
        for quality, ssin in users:
            wanted_users.setdefault(quality, []).append(ssin)
        with self._snapshot():
            header = self._rows("SELECT version, applied_version FROM enterprises WHERE number = ?", (number,))
            if not header:
                return None
            version, applied = header[0]
            for table in TABLES.values():
                columns = ", ".join(table.key_columns + table.field_columns)
                select = f"SELECT {columns} FROM {table.name} WHERE {table.key_columns[0]} = ?"
                if table.kind is Kind.USER:
                    rows = [
                        row
                        for quality, ssins in sorted(wanted_users.items())
                        for chunk in batched(sorted(set(ssins)), CHUNK)
                        for row in self._rows(
                            f"{select} AND quality = ? AND ssin IN ({', '.join('?' * len(chunk))})",
                            (number, quality, *chunk),
                        )
                    ]
                elif table.kind is Kind.PERSON:
                    rows = [
                        row
                        for chunk in batched(sorted(set(persons)), CHUNK)
                        for row in self._rows(f"{select} AND ssin IN ({', '.join('?' * len(chunk))})", (number, *chunk))
                    ]
                else:
                    rows = self._rows(select, (number,))
                table.collect(rows, by_enterprise)
            held = self._rows("SELECT count(*) FROM users WHERE enterprise = ?", (number,))[0][0]
        state = EnterpriseState(number, by_enterprise.get(number, {}))
        return StoredEnterprise(state, version, drifted=0 <= applied < version), int(held)
