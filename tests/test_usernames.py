"""User names: readable, unique in the registry, never reused (table-driven)."""

from __future__ import annotations

import pytest

from reconciler.store.usernames import UsernameAllocator, base_username


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Els Mertens", "emertens"),
        ("Ann-Sofie Van den Broeck", "asofievandenbroe"),
        ("Zoë Vermeulen", "zvermeulen"),
        ("Madonna", "madonna"),
        ("李 小龍", "user"),
    ],
)
def test_base_user_names(name: str, expected: str) -> None:
    assert base_username(name) == expected


def test_allocation_skips_names_taken_before_and_in_this_run() -> None:
    allocator = UsernameAllocator(lambda: ["jpeeters", "jpeeters3"])
    got = [allocator.allocate("Jan Peeters") for _ in range(4)] + [allocator.allocate("Els Mertens")]
    assert got == ["jpeeters2", "jpeeters4", "jpeeters5", "jpeeters6", "emertens"]


def test_many_namesakes_get_consecutive_suffixes() -> None:
    allocator = UsernameAllocator(list)
    names = [allocator.allocate("Jan Peeters") for _ in range(3000)]
    assert names == ["jpeeters"] + [f"jpeeters{n}" for n in range(2, 3001)]
