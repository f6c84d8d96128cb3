"""Identifiers: accepted spellings, compact forms, and rejected numbers (table-driven)."""

import pytest

from reconciler.declare import identifiers
from reconciler.declare.identifiers import InvalidIdentifier

ENTERPRISE = [
    ("0999.055.557", "0999055557"),
    ("0999055557", "0999055557"),
    ("BE0999055557", "0999055557"),
    ("BE 0999.055.557", "0999055557"),
    ("999055557", "0999055557"),  # the old 9-digit form gains its leading 0
]
BAD_ENTERPRISE = [
    ("0999.055.558", "wrong check digits"),
    ("12345", "wrong number of digits"),
    ("2999055557", "impossible part"),
    ("abc", "unexpected characters"),
]
SSIN = [
    ("85073003328", "85073003328"),
    ("85.07.30-033.28", "85073003328"),
    ("75031366754", "75031366754"),
]
BAD_SSIN = ["85073003329", "1234", "99999999999", ""]
NSSO = [
    ("010-4521873-24", "010452187324"),
    ("010452187324", "010452187324"),
    ("024 1187220 82", "024118722082"),
]
BAD_NSSO = ["010-4521873-25", "010-4521873", "abc-defghij-kl"]


@pytest.mark.parametrize(("text", "compact"), ENTERPRISE)
def test_enterprise_numbers_are_compacted(text: str, compact: str) -> None:
    assert identifiers.enterprise_number(text) == compact


@pytest.mark.parametrize(("text", "reason"), BAD_ENTERPRISE)
def test_bad_enterprise_numbers_are_rejected(text: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier, match=reason):
        identifiers.enterprise_number(text)


def test_enterprise_number_format() -> None:
    assert identifiers.format_enterprise_number("0999055557") == "0999.055.557"


@pytest.mark.parametrize(("text", "compact"), SSIN)
def test_ssins_are_compacted(text: str, compact: str) -> None:
    assert identifiers.ssin(text) == compact


@pytest.mark.parametrize("text", BAD_SSIN)
def test_bad_ssins_are_rejected(text: str) -> None:
    with pytest.raises(InvalidIdentifier, match="SSIN"):
        identifiers.ssin(text)


def test_ssin_of_someone_born_after_2000() -> None:
    # For births from 2000 the check digits are computed over "2" + the first nine digits.
    body = "050101123"
    check = 97 - int("2" + body) % 97
    assert identifiers.ssin(f"{body}{check:02d}") == f"{body}{check:02d}"
    with pytest.raises(InvalidIdentifier):
        identifiers.ssin(f"{body}{(check + 1) % 97:02d}")


@pytest.mark.parametrize(("text", "compact"), NSSO)
def test_nsso_numbers_are_compacted(text: str, compact: str) -> None:
    assert identifiers.nsso_number(text) == compact


@pytest.mark.parametrize("text", BAD_NSSO)
def test_bad_nsso_numbers_are_rejected(text: str) -> None:
    with pytest.raises(InvalidIdentifier, match="NSSO number"):
        identifiers.nsso_number(text)


@pytest.mark.parametrize(("registration", "check"), [(4521873, 24), (1187220, 82), (1, 93)])
def test_nsso_check_digits(registration: int, check: int) -> None:
    assert identifiers.nsso_check_digits(registration) == check
