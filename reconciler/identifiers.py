"""Belgian identifiers: parse the usual spellings, check the digits, keep the compact form.

Enterprise numbers and SSINs are checked by python-stdnum.  The NSSO registration number
of an employer has no stdnum module; its rule is small and written out below.
"""

from __future__ import annotations

import re

from stdnum.be import ssn, vat
from stdnum.exceptions import ValidationError


class InvalidIdentifier(ValueError):
    """The text is not a valid identifier of the expected kind; the message says why."""


def enterprise_number(text: str) -> str:
    """Compact 10-digit enterprise number (KBO/BCE) from ``0403.019.261``, ``BE0403019261``, ..."""
    try:
        return vat.validate(text)
    except ValidationError as error:
        raise InvalidIdentifier(f'enterprise number "{text}" is not valid: {_reason(error)}') from None


def format_enterprise_number(number: str) -> str:
    """The dotted spelling people read (stdnum.be.vat has no ``format``)."""
    return f"{number[:4]}.{number[4:7]}.{number[7:]}"


def ssin(text: str) -> str:
    """Compact 11-digit SSIN: a national register number or a BIS number."""
    try:
        return ssn.validate(text)
    except ValidationError as error:
        raise InvalidIdentifier(f'SSIN "{text}" is not valid: {_reason(error)}') from None


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
            f'NSSO number "{text}" is not valid: expected 12 digits, '
            "category (3), registration number (7) and check digits (2)"
        )
    if int(match.group(3)) != nsso_check_digits(int(match.group(2))):
        raise InvalidIdentifier(f'NSSO number "{text}" is not valid: wrong check digits')
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
