"""User names for new accounts, as the portal hands them out: readable and unique."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

_WORD = re.compile(r"[a-z]+")


def base_username(name: str) -> str:
    """``Els Van den Broeck`` becomes ``evandenbroeck``: first initial, then the other words, ASCII only."""
    # Most names are ASCII already, and decomposing them changes nothing: a first apply names a
    # million people.
    plain = name if name.isascii() else unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = _WORD.findall(plain.lower())
    if not words:
        return "user"
    return (words[0][0] + "".join(words[1:]))[:16] if len(words) > 1 else words[0][:16]


class UsernameAllocator:
    """Hands out unique user names; existing ones are read once, on first use.

    The next free suffix of each base name is remembered, so a thousand people called
    J. Peeters cost a thousand steps, not half a million.  The names handed out need not be
    remembered: a base name is letters only and a suffix digits only, so two names handed out
    from different bases or suffixes always differ, and only the names stored before can be
    met again (a first apply of a million accounts held them all, a tenth of its memory).
    """

    def __init__(self, existing: Callable[[], Iterable[str]]):
        self._existing = existing
        self._taken: set[str] | None = None
        self._next: dict[str, int] = {}

    def allocate(self, name: str) -> str:
        if self._taken is None:
            self._taken = set(self._existing())
        base = base_username(name)
        suffix = self._next.get(base, 1)
        candidate = f"{base}{suffix}" if suffix > 1 else base
        while candidate in self._taken:
            suffix += 1
            candidate = f"{base}{suffix}"
        self._next[base] = suffix + 1
        return candidate
