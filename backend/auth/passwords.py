"""argon2id password hashing (argon2-cffi defaults follow RFC 9106's second recommendation).
Hashing is CPU-bound for ~50 ms, so it runs in a thread to keep the event loop free."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from backend.auth.errors import WeakPassword
from backend.config import Settings

_hasher = PasswordHasher()
# Verified against when the login names no user, so both paths cost the same time.
_DUMMY_HASH = _hasher.hash("provider-desk-dummy-password")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str) -> bool:
    if password_hash is None:
        await asyncio.to_thread(_verify, _DUMMY_HASH, password)
        return False
    return await asyncio.to_thread(_verify, password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def check_password_strength(settings: Settings, password: str, *context: str | None) -> None:
    """The password policy: a minimum length, and none of the account's own identifiers
    (the e-mail's local part, the phone) inside it."""
    if len(password) < settings.password_min_length:
        raise WeakPassword(f"password must have at least {settings.password_min_length} characters")
    lowered = password.lower()
    for item in context:
        if item and item.lower() in lowered:
            raise WeakPassword("password must not contain your email or phone")
