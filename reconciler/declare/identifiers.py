"""Belgian identifiers: parse the usual spellings, check the digits, keep the compact form.

Enterprise numbers and SSINs are checked by python-stdnum.  The NSSO registration number
of an employer has no stdnum module; its rule is small and written out below.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stdnum.exceptions import ValidationError

from reconciler.declare.characters import quoted


def _stdnum_be() -> tuple[ModuleType, ModuleType, type[ValidationError]]:
    """stdnum's Belgian enterprise and SSIN modules and its error, imported when a number is not in
    its compact form: stdnum imports ssl and pydoc as it loads (a thirtieth of a pull request's
    plan), and compact numbers, nearly all of them, are checked here without it."""
    import stdnum.be.ssn  # noqa: PLC0415 - compact numbers never need it
    import stdnum.be.vat  # noqa: PLC0415
    import stdnum.exceptions  # noqa: PLC0415

    return stdnum.be.vat, stdnum.be.ssn, stdnum.exceptions.ValidationError


class InvalidIdentifier(ValueError):
    """The text is not a valid identifier of the expected kind; the message says why."""


def enterprise_number(text: str) -> str:
    """Compact 10-digit enterprise number (KBO/BCE) from ``0403.019.261``, ``BE0403019261``, ..."""
    if len(text) == 10 and text.isascii() and text.isdigit() and _compact_enterprise_number_is_valid(text):
        return text
    if len(text) == 12 and text[4] == text[8] == "." and text.isascii():  # 0403.019.261, as files write it
        compact = text[:4] + text[5:8] + text[9:]
        if compact.isdigit() and _compact_enterprise_number_is_valid(compact):
            return compact
    vat, _, invalid = _stdnum_be()
    try:
        return vat.validate(text)
    except invalid as error:
        raise InvalidIdentifier(f"enterprise number {quoted(text)} is not valid: {_reason(error)}") from None


def _compact_enterprise_number_is_valid(number: str) -> bool:
    """The checks of ``stdnum.be.vat.validate`` for a number already compact (ten ASCII digits): every
    file's head and header names its enterprise, and stdnum's cleaning cost more than the check.
    A property test proves this agrees with stdnum; what it does not accept goes to stdnum."""
    return number[0] in "01" and int(number) > 0 and (int(number[:8]) + int(number[8:])) % 97 == 0


def is_enterprise_number(text: str) -> bool:
    """Whether ``text`` is a valid enterprise number in its compact form."""
    if len(text) == 10 and text.isascii() and text.isdigit():
        return _compact_enterprise_number_is_valid(text)
    return _stdnum_be()[0].is_valid(text) and text.isdigit() and len(text) == 10


def format_enterprise_number(number: str) -> str:
    """The dotted spelling people read (stdnum.be.vat has no ``format``)."""
    return f"{number[:4]}.{number[4:7]}.{number[7:]}"


def ssin(text: str) -> str:
    """Compact 11-digit SSIN: a national register number or a BIS number."""
    if len(text) == 11 and text.isascii() and text.isdigit() and _compact_ssin_is_valid(text):
        return text
    _, ssn, invalid = _stdnum_be()
    try:
        return ssn.validate(text)
    except invalid as error:
        raise InvalidIdentifier(f"SSIN {quoted(text)} is not valid: {_reason(error)}") from None


def _this_year() -> int:
    """The current year, looked up at most once a minute (it is asked for every SSIN)."""
    minute = int(time.time() // 60)
    if _YEAR[0] != minute:
        _YEAR[:] = [minute, datetime.now(UTC).year]
    return _YEAR[1]


_YEAR = [0, 0]


def _compact_ssin_is_valid(number: str) -> bool:
    """The checks of ``stdnum.be.ssn.validate`` for an already compact number, about ten times faster.

    Registries hold up to a million SSINs, and stdnum's general path (cleaning, trying the BIS
    rules, then the national register rules) dominated planning time.  A property test proves
    this agrees with stdnum; anything it does not accept goes to stdnum, which words the error.
    """
    month = int(number[2:4])
    if not (month <= 12 or 20 <= month <= 32 or 40 <= month <= 52):
        return False
    body, check = int(number[:9]), int(number[9:])
    if check == 97 - body % 97:  # born in the 1900s: most people, and no need to know the year
        return True
    # Like stdnum: the 2000s reading only for birth years that have already begun.
    return check == 97 - (2_000_000_000 + body) % 97 and int(number[:2]) + 2000 <= _this_year()


_NSSO = re.compile(r"^(\d{3})(\d{7})(\d{2})$")


def nsso_number(text: str) -> str:
    """Compact 12-digit NSSO registration number: category, registration number, check digits.

    The two check digits guard the seven-digit registration number:
    ``96 - (registration * 100) mod 97``, with 97 standing for 0.
    """
    compact = re.sub(r"[\s.\-/]", "", text)
    match = _NSSO.match(compact)
    if not match:
        raise InvalidIdentifier(
            f"NSSO number {quoted(text)} is not valid: expected 12 digits, "
            "category (3), registration number (7) and check digits (2)"
        )
    if int(match.group(3)) != nsso_check_digits(int(match.group(2))):
        raise InvalidIdentifier(f"NSSO number {quoted(text)} is not valid: wrong check digits")
    return compact


def nsso_check_digits(registration: int) -> int:
    """Check digits that guard a seven-digit registration number."""
    return 96 - (registration * 100) % 97 or 97


def _reason(error: ValidationError) -> str:
    return {
        "InvalidChecksum": "wrong check digits",
        "InvalidLength": "wrong number of digits",
        "InvalidFormat": "unexpected characters",
        "InvalidComponent": "impossible part (a birth date or a first digit)",
    }.get(type(error).__name__, str(error).rstrip("."))
