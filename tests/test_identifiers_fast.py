"""The fast SSIN check agrees with python-stdnum on every number (property test)."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st
from stdnum.be import ssn

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
