"""Handing out temporary access codes, once, the way the portal does: in two halves.

Each letter and e-mail is written in the person's language (``Letter.language``) and says
who issues new codes if these expire (``Letter.new_codes``, from ``overview.code_issuers``).

The user name and the temporary password always travel separately (two letters, or two
e-mails), so one intercepted message is not enough to log in.  The code exists in clear
only in memory and in what is delivered: never in the store, a plan, a log or the audit
trail.

Channels are named by a URL (``--delivery`` or ``RECONCILER_DELIVERY``):

- ``letters:PATH``: sealed letters, one folder per person (mode 0700) holding two files
  (mode 0600), ``1-user-name.txt`` and ``2-temporary-password.txt``;
- ``smtp://[user@]host[:port]?from=ADDRESS[&starttls=yes]`` or ``smtps://...``: two
  e-mails to the person's declared address; the password of the SMTP account is read
  from ``RECONCILER_SMTP_PASSWORD``.
"""

from __future__ import annotations

import contextlib
import os
import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from reconciler.accounts.overview import NewCodes
from reconciler.declare.characters import escape
from reconciler.declare.identifiers import format_enterprise_number
from reconciler.locale import DEFAULT, N_, Phrase, supported
from reconciler.store.files import private_folder, write_private
from reconciler.store.urls import MASK, redact_url, scrub

DELIVERY_ENV = "RECONCILER_DELIVERY"
DEFAULT_DELIVERY = "letters:.reconciler/letters"
LOGIN_URL_ENV = "RECONCILER_LOGIN_URL"
DEFAULT_LOGIN_URL = "http://127.0.0.1:8080/first-login"
SMTP_PASSWORD_ENV = "RECONCILER_SMTP_PASSWORD"  # noqa: S105 - the name of a variable, not a password


class DeliveryError(Exception):
    """A channel is misconfigured or refused a message; the message says which and why."""


# The lines of the letters, each translated whole; values are put in after translation.
TO = N_("To: %(name)s")
ENTERPRISE = N_("Enterprise: %(number)s %(name)s")
CREATED = N_("An account on the secured online services of the social-security portal was created for you.")
USER_NAME = N_("Your user name: %(username)s")
ACTIVATE_BEFORE = N_("Your temporary password comes separately. Activate your account before %(deadline)s UTC at:")
ASKED = N_("You will be asked for your national register number and a new password.")
IN_TIME = N_("If you do not activate your account by then, these codes stop working.")
TEMPORARY_PASSWORD = N_("Your temporary password: %(code)s")
WORKS_ONCE = N_("It works once, until %(deadline)s UTC. Your user name comes separately.")
USER_NAME_SUBJECT = N_("Your user name for the social-security portal")
PASSWORD_SUBJECT = N_("Your temporary password for the social-security portal")


@dataclass(frozen=True)
class Letter:
    """Everything one person needs to log in for the first time, in their language.

    ``language`` is the account's (the person's own, else the enterprise's; English when
    neither is declared); ``new_codes`` says who issues new codes if these expire.
    """

    enterprise: str
    enterprise_name: str
    name: str
    email: str
    username: str
    code: str
    deadline: str  # ISO 8601, UTC
    login_url: str
    language: str = ""
    new_codes: NewCodes | None = None

    @property
    def said_in(self) -> str:
        return supported(self.language) or DEFAULT

    def _say(self, text: str, **values: str) -> str:
        return Phrase.of(text, **values).say(self.said_in)

    def _heading(self) -> str:
        number = format_enterprise_number(self.enterprise)
        return (
            f"{self._say(TO, name=escape(self.name))}\n"
            f"{self._say(ENTERPRISE, number=number, name=escape(self.enterprise_name))}\n\n"
        )

    def _deadline(self) -> str:
        return self.deadline[:16].replace("T", " ")

    def user_name_text(self) -> str:
        guidance = (self.new_codes or NewCodes()).phrase().say(self.said_in)
        return (
            f"{self._heading()}"
            f"{self._say(CREATED)}\n\n"
            f"{self._say(USER_NAME, username=self.username)}\n\n"
            f"{self._say(ACTIVATE_BEFORE, deadline=self._deadline())}\n{self.login_url}\n"
            f"{self._say(ASKED)}\n\n"
            f"{self._say(IN_TIME)} {guidance}\n"
        )

    def password_text(self) -> str:
        return (
            f"{self._heading()}"
            f"{self._say(TEMPORARY_PASSWORD, code=self.code)}\n\n"
            f"{self._say(WORKS_ONCE, deadline=self._deadline())}\n"
        )

    def messages(self) -> list[tuple[str, str]]:
        """The two halves as (subject, body), in the order they are sent."""
        return [
            (self._say(USER_NAME_SUBJECT), self.user_name_text()),
            (self._say(PASSWORD_SUBJECT), self.password_text()),
        ]


class Delivery(Protocol):
    description: str

    def send(self, letter: Letter) -> None: ...

    def close(self) -> None: ...


_FOLDER = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


class LetterBox:
    """Sealed letters on disk, readable by their owner only; a new issue replaces the old letters."""

    def __init__(self, folder: str):
        self.folder = Path(folder)
        self.description = f"letters in {folder}"

    def send(self, letter: Letter) -> None:
        # Folder names come from the store: a value from a hand-edited row must not reach outside.
        if not (_FOLDER.fullmatch(letter.enterprise) and _FOLDER.fullmatch(letter.username)):
            raise DeliveryError(f"account {letter.username[:40]!r} of {letter.enterprise[:20]!r} cannot name a folder")
        person = self.folder / letter.enterprise / letter.username
        private_folder(self.folder)
        for directory in (self.folder, self.folder / letter.enterprise, person):
            directory.mkdir(mode=0o700, exist_ok=True)
            os.chmod(directory, 0o700)
        write_private(person / "1-user-name.txt", letter.user_name_text())
        write_private(person / "2-temporary-password.txt", letter.password_text())

    def close(self) -> None:
        pass


class Mailer:
    """Two e-mails per person over one SMTP connection, opened on the first letter."""

    def __init__(self, url: str):
        self.url = url  # kept for ``scrub``: never shown as it is
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise DeliveryError(f"{redact_url(url)[:200]}: not a valid URL") from None
        query = dict(parse_qsl(parts.query))
        if not parts.hostname or "from" not in query:
            raise DeliveryError(f"{redact_url(url)[:200]}: expected smtp://[user@]host[:port]?from=ADDRESS")
        self.implicit_tls = parts.scheme == "smtps"
        self.host, self.port = parts.hostname, port or (465 if self.implicit_tls else 25)
        self.user = unquote(parts.username) if parts.username else None
        # A password in the URL works, but the environment variable keeps it out of command lines.
        self.password = os.environ.get(SMTP_PASSWORD_ENV) or (unquote(parts.password) if parts.password else "")
        self.sender = query["from"]
        self.starttls = query.get("starttls", "no").lower() in ("yes", "true", "1")
        self.description = f"e-mail through {parts.scheme}://{self.host}:{self.port}"
        self._connection: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        if self._connection is None:
            try:
                connection: smtplib.SMTP
                if self.implicit_tls:
                    connection = smtplib.SMTP_SSL(
                        self.host, self.port, context=ssl.create_default_context(), timeout=30
                    )
                else:
                    connection = smtplib.SMTP(self.host, self.port, timeout=30)
                    if self.starttls:
                        connection.starttls(context=ssl.create_default_context())
                if self.user:
                    connection.login(self.user, self.password)
            except smtplib.SMTPAuthenticationError:
                # A server may quote the AUTH line it refused, which encodes the password: never shown.
                raise DeliveryError(f"{self.description} refused the user name or password of {self.user}") from None
            except (OSError, smtplib.SMTPException) as error:
                raise DeliveryError(f"cannot reach {self.description}: {self._scrub(str(error))}") from None
            self._connection = connection
        return self._connection

    def send(self, letter: Letter) -> None:
        connection = self._connect()
        for subject, body in letter.messages():
            message = EmailMessage()
            message["From"], message["To"], message["Subject"] = self.sender, letter.email, subject
            message.set_content(body)
            message["Content-Language"] = letter.said_in  # after set_content, which replaces Content-* headers
            try:
                connection.send_message(message)
            except smtplib.SMTPException as error:
                raise DeliveryError(
                    f"{self.description} refused a message to {letter.email}: {self._scrub(str(error))}"
                ) from None

    def _scrub(self, text: str) -> str:
        """A server's answer without the account's password, whichever way it was given."""
        text = scrub(text, self.url)
        return text.replace(self.password, MASK) if self.password else text

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._connection.quit()
            self._connection = None


def open_delivery(url: str | None = None) -> Delivery:
    """The channel a URL names; ``RECONCILER_DELIVERY`` or sealed letters in ``.reconciler/letters``."""
    url = url or os.environ.get(DELIVERY_ENV) or DEFAULT_DELIVERY
    if url.startswith("letters:"):
        return LetterBox(url.removeprefix("letters:"))
    if url.startswith(("smtp://", "smtps://")):
        return Mailer(url)
    raise DeliveryError(
        f"unsupported delivery {redact_url(url)[:200]!r}: expected letters:PATH, smtp://host... or smtps://host..."
    )


def login_url(url: str | None = None) -> str:
    return url or os.environ.get(LOGIN_URL_ENV) or DEFAULT_LOGIN_URL
