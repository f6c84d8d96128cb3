"""User names: readable, unique in the registry, never reused (table-driven)."""

from __future__ import annotations

import random

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


def test_names_handed_out_never_meet_each_other_nor_those_stored_before() -> None:
    """The allocator remembers only the names stored before and the next suffix of each base:
    bases that are prefixes of others, names cut at sixteen letters and stored names that look
    like handed-out ones still never give a name twice."""
    chooser = random.Random(5)
    people = ["Jan Peeters", "Jan Peeterss", "J Anpeeters", "Ann-Sofie Van den Broeck", "Ann Sofie Van den Broecke"]
    people += ["李 小龍", "User", "Ja Npeeters", "Els Mertens", "E Lsmertens2"]
    stored = ["jpeeters2", "jpeeterss", "user3", "asofievandenbroe", "asofievandenbroe4", "emertens12"]
    allocator = UsernameAllocator(lambda: list(stored))
    handed = [allocator.allocate(chooser.choice(people)) for _ in range(5000)]
    assert len(set(handed)) == len(handed)
    assert not set(handed) & set(stored)
    assert all(name.isascii() and name.isalnum() for name in handed)
