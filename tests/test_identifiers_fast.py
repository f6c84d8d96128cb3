"""The fast SSIN check agrees with python-stdnum on every number (property test)."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st
from stdnum.be import ssn, vat
from stdnum.exceptions import ValidationError

from reconciler.declare import identifiers


def stdnum_accepts(number: str) -> bool:
    return ssn.is_valid(number)


def ours_accepts(number: str) -> bool:
    try:
        return identifiers.ssin(number) == number
    except identifiers.InvalidIdentifier:
        return False


@st.composite
def plausible(draw) -> str:
    """Numbers with valid check digits for either century, over every month a BIS number may use."""
    year, month, day = draw(st.integers(0, 99)), draw(st.integers(0, 99)), draw(st.integers(0, 99))
    serial = draw(st.integers(0, 999))
    body = f"{year:02d}{month:02d}{day:02d}{serial:03d}"
    base = int(body) + (2_000_000_000 if draw(st.booleans()) else 0)
    return f"{body}{97 - base % 97:02d}"


@settings(max_examples=3000, deadline=None)
@given(st.one_of(plausible(), st.text("0123456789", min_size=11, max_size=11)))
@example("00000100197")
@example("00200100112")
@example("85273003371")
@example("05041212367")
@example("85073003328")
def test_fast_check_agrees_with_stdnum(number: str) -> None:
    assert ours_accepts(number) == stdnum_accepts(number)


# Digits of other scripts: ``str.isdigit`` accepts them, stdnum does not (or reads full-width
# digits as ASCII ones), so a fast path must never let them through as they are.
DIGITS = "0123456789" + "".join(chr(0x660 + n) for n in range(10)) + "".join(chr(0xFF10 + n) for n in range(10))


def outcome(check, number: str) -> str | None:
    try:
        return check(number)
    except (identifiers.InvalidIdentifier, ValidationError):
        return None


def spelled_in(draw, number: str) -> str:
    """The number with some of its digits written in another script."""
    scripts = [0x30, 0x660, 0xFF10]
    return "".join(chr(draw(st.sampled_from(scripts)) + int(d)) if draw(st.booleans()) else d for d in number)


@st.composite
def enterprise_numbers(draw) -> str:
    """Ten digits whose check digits are right, starting with any digit, or in another script."""
    first, body = draw(st.integers(0, 9)), draw(st.integers(0, 9_999_999))
    base = first * 10_000_000 + body
    number = f"{base:08d}{97 - base % 97:02d}"
    return spelled_in(draw, number) if draw(st.booleans()) else number


@st.composite
def foreign_ssins(draw) -> str:
    return spelled_in(draw, draw(plausible()))


@settings(max_examples=2000, deadline=None)
@given(st.one_of(plausible(), foreign_ssins(), st.text(DIGITS, min_size=11, max_size=11)))
@example("٨٥٠٧٣٠٠٣٣٢٨")  # Arabic-Indic digits: the fast path once took them as a compact SSIN
def test_an_ssin_is_stdnums_compact_form_or_refused(number: str) -> None:
    assert outcome(identifiers.ssin, number) == outcome(ssn.validate, number)


@settings(max_examples=2000, deadline=None)
@given(st.one_of(enterprise_numbers(), st.text(DIGITS, min_size=10, max_size=10)))
@example("0000000000")
@example("0403019261")
@example("2403019237")
@example("０４０３０１９２６１")  # full-width: stdnum reads it as 0403019261
def test_an_enterprise_number_is_stdnums_compact_form_or_refused(number: str) -> None:
    assert outcome(identifiers.enterprise_number, number) == outcome(vat.validate, number)


@st.composite
def dotted(draw) -> str:
    """An enterprise number as files write it (0403.019.261), its dots sometimes elsewhere or other
    characters in their place."""
    number = draw(enterprise_numbers())
    first, second = draw(st.sampled_from([(4, 7), (4, 7), (3, 7), (4, 8)]))
    sign = draw(st.sampled_from([".", ".", ".", " ", "-", "/", ":", "\u2024"]))
    return f"{number[:first]}{sign}{number[first:second]}.{number[second:]}"


@settings(max_examples=2000, deadline=None)
@given(dotted())
@example("0403.019.261")
@example("0403.019.262")  # wrong check digits
@example("2403.019.237")  # a first digit no enterprise number has
@example("0403.0l9.261")
@example("٠٤٠٣.٠١٩.٢٦١")
def test_a_dotted_enterprise_number_is_stdnums_compact_form_or_refused(number: str) -> None:
    assert outcome(identifiers.enterprise_number, number) == outcome(vat.validate, number)
