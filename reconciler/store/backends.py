"""Which backend a state URL names, and opening it.

The only module outside the backends themselves that imports them: everything else asks
for ``open_store(url)`` and speaks to the ``port.Store`` it returns.
"""

from __future__ import annotations

import os

from reconciler.store.port import DEFAULT_LOCK_TIMEOUT, DEFAULT_URL, Store, StoreError
from reconciler.store.urls import redact_url


def resolve_url(url: str | None) -> str:
    return url or os.environ.get("RECONCILER_STATE") or DEFAULT_URL


def open_store(url: str | None = None, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> Store:
    """Open (and migrate) the store a URL names; wait up to ``lock_timeout`` seconds for locks."""
    url = resolve_url(url)
    scheme, _, rest = url.partition("://")
    # Imported when named, not above: psycopg costs a pull request's plan on SQLite 0.1 s to load.
    # (One direction only: no backend imports this module.)
    if scheme == "sqlite" and rest.startswith("/"):
        if rest[1:] in ("", ":memory:") or rest[1:].startswith("file:"):
            raise StoreError(
                f"{url[:80]!r} names no file: a store in memory or in a temporary file is gone when the "
                "command ends, with everything applied to it"
            )
        from reconciler.store.sqlite import SqliteStore  # noqa: PLC0415

        return SqliteStore(url, rest[1:], lock_timeout)
    if scheme in ("postgresql", "postgres"):
        from reconciler.store.postgresql import PostgresStore  # noqa: PLC0415

        return PostgresStore(url, lock_timeout)
    raise StoreError(
        f"unsupported state URL {redact_url(url)[:200]!r}: expected sqlite:///relative/path, "
        "sqlite:////absolute/path or postgresql://user@host:port/database[?schema=NAME]"
    )
