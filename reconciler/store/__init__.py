"""The storage port: a narrow interface that every backend implements the same way.

The core reads snapshots and hands a plan's changes to a transaction; it never builds
SQL.  ``open_store`` picks the backend from a URL such as ``sqlite:///.reconciler/state.db``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from reconciler.plan import Change, StoredEnterprise

DEFAULT_URL = "sqlite:///.reconciler/state.db"
ACTIVATION_DAYS = 30


class StoreError(Exception):
    """The store cannot be opened or used; the message says why, for a person."""


class StalePlan(StoreError):
    """The store changed since the plan was computed."""


@dataclass(frozen=True)
class Account:
    """Login state of one person's account in one enterprise (never a password)."""

    enterprise: str
    ssin: str
    name: str
    username: str
    status: str
    created_at: str
    activation_deadline: str | None

    def effective_status(self, now: datetime) -> str:
        """``pending`` turns ``expired`` once the activation deadline has passed."""
        if self.status == "pending" and self.activation_deadline and self.activation_deadline < now.isoformat():
            return "expired"
        return self.status


class Transaction(Protocol):
    def versions(self, numbers: Iterable[str]) -> dict[str, int]: ...

    def execute(self, change: Change) -> None: ...


class Store(Protocol):
    url: str

    def read(self, numbers: Iterable[str] | None = None) -> dict[str, StoredEnterprise]:
        """Snapshot of the given enterprises (all when None) with their versions."""

    def accounts(self, number: str) -> list[Account]: ...

    def transaction(self, now: datetime) -> AbstractContextManager[Transaction]:
        """All-or-nothing unit of work; writers are serialised."""

    def close(self) -> None: ...


def resolve_url(url: str | None) -> str:
    return url or os.environ.get("RECONCILER_STATE") or DEFAULT_URL


def open_store(url: str | None = None) -> Store:
    """Open (and migrate) the store a URL names."""
    url = resolve_url(url)
    scheme, _, rest = url.partition("://")
    if scheme == "sqlite" and rest.startswith("/"):
        from reconciler.store.sqlite import SqliteStore

        return SqliteStore(url, rest[1:])
    raise StoreError(f"unsupported state URL {url!r}: expected sqlite:///relative/path or sqlite:////absolute/path")


def batched(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
