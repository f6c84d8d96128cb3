"""The one clock: every part of reconciler that needs the time or today's date asks here.

Grants end on a date (``until``), access codes expire, sessions time out, accounts go dormant:
all of it is decided against ``now()``.  Tests, and anyone asking "what will the plan be on
that day", fix the time with ``frozen(at)``; nothing else reads the system clock.

Dates people write (an ``until``) are Belgian dates: a grant declared ``until: "2026-12-31"``
ends when that day starts in Brussels, whatever the time zone of the machine that plans.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

BRUSSELS = ZoneInfo("Europe/Brussels")

_fixed: list[datetime] = []  # the frozen time, innermost last


def now() -> datetime:
    """The current time, in UTC (or the frozen time)."""
    return _fixed[-1] if _fixed else datetime.now(UTC)


def today() -> date:
    """Today's date in Belgium."""
    return now().astimezone(BRUSSELS).date()


@contextmanager
def frozen(at: datetime) -> Iterator[datetime]:
    """Within the block, ``now()`` is ``at`` (a time with a zone)."""
    if at.tzinfo is None:
        raise ValueError("a frozen time needs a time zone")
    _fixed.append(at.astimezone(UTC))
    try:
        yield _fixed[-1]
    finally:
        _fixed.pop()
