"""Secrets: code format, argon2id costs, and the rules for a new password (table-driven)."""

from __future__ import annotations

import re

import pytest

from reconciler.accounts import passwords
from reconciler.accounts.passwords import (
    CODE_ALPHABET,
    generate_code,
    normalise_code,
    password_problems,
    verify,
)

USER, SSIN, NAME = "emertens", "75031366754", "Els Mertens"

# (password, confirmation, the problems expected: by their first words)
RULES = [
    ("a long passphrase here", "a long passphrase here", []),
    ("Zinnebeeld-Korst-1958", "Zinnebeeld-Korst-1958", []),
    ("short1!", "short1!", ["Use at least 12"]),
    ("x" * 129, "x" * 129, ["Use at most 128"]),
    ("a long passphrase here", "a long passphrase HERE", ["The two passwords"]),
    ("my-emertens-account", "my-emertens-account", ["Do not use your user name", "Do not use your name"]),
    ("account of els-m 2026", "account of els-m 2026", ["Do not use your name"]),
    ("bread 75031366754 x", "bread 75031366754 x", ["Do not use your national register number"]),
    ("born on 750313 okay", "born on 750313 okay", ["Do not use your national register number"]),
    ("i love mertens bread", "i love mertens bread", ["Do not use your name"]),
    ("password1234", "password1234", ["This password is one of the most common"]),
    ("Qwertyuiop123", "Qwertyuiop123", ["This password is one of the most common"]),
    (
        "emertens",
        "other",
        ["The two passwords", "Use at least 12", "Do not use your user name", "Do not use your name"],
    ),
]


@pytest.mark.parametrize(("password", "confirmation", "expected"), RULES)
def test_password_rules(password: str, confirmation: str, expected: list[str]) -> None:
    problems = password_problems(password, confirmation, USER, SSIN, NAME)
    assert len(problems) == len(expected), problems
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start)


def test_codes_are_eighty_random_bits_typed_forgivingly() -> None:
    codes = {generate_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(re.fullmatch(rf"[{CODE_ALPHABET}]{{4}}(-[{CODE_ALPHABET}]{{4}}){{3}}", c) for c in codes)
    assert len(CODE_ALPHABET) == 32 and not set("01IO") & set(CODE_ALPHABET)
    code = "ABCD-EFGH-JKLM-NPQR"
    assert normalise_code(" abcd efgh-jklm npqr ") == "ABCDEFGHJKLMNPQR"
    hashed = passwords.hash_codes([code])[0]
    assert verify(hashed, "abcd efgh jklm npqr", code=True)
    assert not verify(hashed, "ABCD-EFGH-JKLM-NPQS", code=True)


def test_verify_refuses_missing_and_damaged_hashes() -> None:
    assert not verify(None, "anything")
    assert not verify("$argon2id$not-a-hash", "anything")
    hashed = passwords.hash_password("a long passphrase here")
    assert verify(hashed, "a long passphrase here") and not verify(hashed, "a long passphrase her")


def test_many_codes_are_hashed_on_every_core_with_distinct_salts() -> None:
    hashes = passwords.hash_codes(["SAME-CODE-SAME-CODE"] * 40)
    assert len(set(hashes)) == 40
    assert all(verify(h, "SAME-CODE-SAME-CODE", code=True) for h in hashes)


def test_real_costs_are_argon2id_rfc9106_and_owasp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(passwords.PROFILE_ENV)
    passwords._hasher.cache_clear()
    try:
        assert passwords.hash_password("a long passphrase here").startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        assert passwords.hash_codes(["ABCD-EFGH-JKLM-NPQR"])[0].startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        monkeypatch.setenv(passwords.PROFILE_ENV, "fast")
        passwords._hasher.cache_clear()
        with pytest.raises(ValueError, match="must be 'default' or 'cheapest'"):
            passwords.hash_password("x")
    finally:
        monkeypatch.setenv(passwords.PROFILE_ENV, "cheapest")
        passwords._hasher.cache_clear()
