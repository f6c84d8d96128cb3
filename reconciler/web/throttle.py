"""Slowing down one client address that sprays logins, in front of the per-name lock-out.

The lock-out counts failures per user name, so an attacker who tries one password on
many names never meets it; this counts attempts per client address instead.  It lives
in the server's memory (per process), bounded: at most ``tracked`` addresses, the least
recently active forgotten first, each with at most ``limit`` times.

The address is the TCP peer's.  Behind a reverse proxy that is the proxy's, and every
person shares one budget, unless the application is told how many proxies to trust
(``reconciler serve --trusted-proxies N``, werkzeug's ProxyFix reading X-Forwarded-For).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from datetime import datetime, timedelta

ATTEMPTS_PER_MINUTE = 20  # an activation takes 3 posts; an office behind one address shares these
TRACKED_ADDRESSES = 10_000  # about 12 MB at most: 10,000 addresses, each a deque of up to 20 floats


class AddressThrottle:
    """At most ``limit`` attempts per ``period`` from one address, over a sliding window.

    Refused attempts are not counted, so a client that keeps trying gets ``limit`` attempts
    per period, no more and no fewer.  Thread-safe: waitress serves on several threads.
    """

    def __init__(
        self,
        limit: int = ATTEMPTS_PER_MINUTE,
        period: timedelta = timedelta(minutes=1),
        tracked: int = TRACKED_ADDRESSES,
    ):
        self.limit = limit
        self.period = period.total_seconds()
        self.tracked = tracked
        self._times: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def attempt(self, address: str, now: datetime) -> int | None:
        """Count an attempt from ``address``; None when allowed, else the seconds to wait."""
        at = now.timestamp()
        with self._lock:
            times = self._times.pop(address, None) or deque(maxlen=self.limit)
            while times and times[0] <= at - self.period:
                times.popleft()
            self._times[address] = times  # now the most recently active
            if len(times) >= self.limit:
                return max(1, math.ceil(times[0] + self.period - at))
            times.append(at)
            while len(self._times) > self.tracked:
                self._times.popitem(last=False)
            return None

    def __len__(self) -> int:
        """How many addresses are remembered."""
        return len(self._times)
