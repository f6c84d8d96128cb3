"""Secrets: temporary access codes, argon2id hashes, and the rules a new password must follow.

Two argon2id cost profiles: a person's own password gets RFC 9106's low-memory profile
(about 0.1 s per hash here); a temporary code, 80 random bits that nobody can guess,
gets OWASP's minimum (about 0.02 s), so that issuing codes for thousands of accounts
takes minutes, not hours.  ``RECONCILER_ARGON2_PROFILE=cheapest`` makes both nearly free:
for test suites only.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import cache

from argon2 import PasswordHasher, Type, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

PROFILE_ENV = "RECONCILER_ARGON2_PROFILE"
OWASP_MINIMUM = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.ID)

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: codes are typed from a letter
CODE_GROUPS, CODE_GROUP = 4, 4  # 16 characters of 5 bits: 80 bits
MIN_LENGTH, MAX_LENGTH = 12, 128


@cache
def _hasher(kind: str) -> PasswordHasher:
    chosen = os.environ.get(PROFILE_ENV, "")
    if chosen == "cheapest":
        return PasswordHasher.from_parameters(profiles.CHEAPEST)
    if chosen and chosen != "default":
        raise ValueError(f"{PROFILE_ENV} must be 'default' or 'cheapest', not {chosen!r}")
    return OWASP_MINIMUM if kind == "code" else PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY)


def generate_code() -> str:
    """A temporary password as the portal prints it: ``ABCD-EFGH-JKLM-NPQR``."""
    groups = ("".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_GROUP)) for _ in range(CODE_GROUPS))
    return "-".join(groups)


def normalise_code(typed: str) -> str:
    """What people type from a letter: any case, with or without the dashes and spaces."""
    return "".join(ch for ch in typed.upper() if ch.isalnum())


def hash_codes(codes: Iterable[str]) -> list[str]:
    """Hash many codes on every core (argon2 releases the interpreter lock while it works)."""
    codes = [normalise_code(code) for code in codes]
    if len(codes) < 8:
        return [_hasher("code").hash(code) for code in codes]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(_hasher("code").hash, codes, chunksize=16))


def hash_password(password: str) -> str:
    return _hasher("password").hash(password)


@cache
def _dummy_hash(kind: str) -> str:
    return _hasher(kind).hash(secrets.token_hex(16))


def verify(stored_hash: str | None, secret: str, code: bool = False) -> bool:
    """True when ``secret`` matches; False for no hash, a mismatch or a damaged hash.

    Without a hash (unknown user name, codes not issued) a dummy one is verified, so an
    answer takes as long either way and timing tells nothing.
    """
    if not stored_hash:
        with contextlib.suppress(VerificationError, InvalidHashError):
            _hasher("password").verify(_dummy_hash("code" if code else "password"), secret)
        return False
    try:
        return _hasher("password").verify(stored_hash, normalise_code(secret) if code else secret)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@cache
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of zxcvbn's list, compared case-insensitively."""
    # Large (about 0.1 s to import): loaded when a password is chosen, not by every command.
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # noqa: PLC0415

    return frozenset(FREQUENCY_LISTS["passwords"])


def password_problems(password: str, confirmation: str, username: str, ssin: str, name: str) -> list[str]:
    """Why a new password is refused; empty when it is accepted."""
    problems = []
    if password != confirmation:
        problems.append("The two passwords are not the same.")
    if len(password) < MIN_LENGTH:
        problems.append(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        problems.append(f"Use at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    digits = "".join(ch for ch in password if ch.isdigit())
    if username and username.lower() in lowered:
        problems.append("Do not use your user name in your password.")
    if ssin and (ssin in digits or ssin[:6] in digits):
        problems.append("Do not use your national register number or your date of birth in your password.")
    if any(len(part) >= 3 and part in lowered for part in name.lower().split()):
        problems.append("Do not use your name in your password.")
    if lowered in common_passwords() or lowered.rstrip("0123456789!?.") in common_passwords():
        problems.append("This password is one of the most common passwords; choose another one.")
    return problems
