"""URLs as people may see them: the one place a URL that may hold a password becomes text.

State URLs (``postgresql://user:PASSWORD@host/db``) and delivery URLs
(``smtp://user:PASSWORD@host``) may carry a password.  Every message, log line, lock holder
and audit entry shows ``redact_url(url)`` instead, and ``scrub`` removes the password from
text that a library wrote (a driver's error may quote its connection string).
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit, urlunsplit

MASK = "***"


_USER_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#@:]*:(.*)@[^@]*$", re.S)
UNREADABLE = "(a URL that cannot be read, not shown)"


def _query_password(query: str) -> str | None:
    """``password=`` in a query, whatever its case or percent-encoding (libpq decodes the name)."""
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        if unquote(name).lower() == "password" and value:
            return value
    return None


def password_of(url: str) -> str | None:
    """The password a URL carries, if any (as written, and never empty)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises here, as it would later
    except ValueError:  # not a URL Python can read: find the user's password by its shape
        found = _USER_PASSWORD.match(url)
        return (found.group(1) or None) if found else None
    return parts.password or _query_password(parts.query)


def redact_url(url: str) -> str:
    """The URL with its password (in the user part or the query) replaced by ``***``.

    A URL that cannot be read is not shown at all: where its password ends is unknown.
    """
    secret = password_of(url)
    if secret is None:
        return url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018
    except ValueError:
        return UNREADABLE
    if "#" in url or "@" in (parts.password or ""):
        return UNREADABLE  # an unencoded "#" or "@" in a password: readers disagree on where it ends
    netloc = parts.netloc
    if parts.password:
        user_part, _, host_part = netloc.rpartition("@")
        user = user_part.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{host_part}"
    query = "&".join(
        f"{pair.partition('=')[0]}={MASK}" if unquote(pair.partition("=")[0]).lower() == "password" else pair
        for pair in parts.query.split("&")
    )
    return scrub(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)), url)


def scrub(text: str, url: str) -> str:
    """``text`` without the password of ``url``, in any spelling it may appear in, nor its pieces.

    A reader that splits the password at an ``@`` or ``:`` (libpq does, at the first ``@``)
    may quote a piece of it, so pieces of four characters or more are removed too.
    """
    secret = password_of(url)
    if not secret:
        return text
    forms = {secret, unquote(secret), quote(unquote(secret), safe="")}
    forms |= {piece for form in list(forms) for piece in re.split(r"[@:/?#]", form) if len(piece) >= 4}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    return text
