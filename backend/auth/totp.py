"""TOTP (RFC 6238) through pyotp; secrets encrypted at rest with Fernet."""

from __future__ import annotations

import base64
import hashlib
import secrets

import pyotp
from cryptography.fernet import Fernet, InvalidToken

from backend.config import Settings

ISSUER = "provider-desk"
RECOVERY_CODE_COUNT = 10


def _fernet(settings: Settings) -> Fernet:
    # A separate key derived from SECRET_KEY, so the JWT key never encrypts data directly.
    digest = hashlib.sha256(b"totp-secret-v1:" + settings.secret_key.get_secret_value().encode())
    return Fernet(base64.urlsafe_b64encode(digest.digest()))


def new_secret() -> str:
    return pyotp.random_base32()


def encrypt_secret(settings: Settings, secret: str) -> bytes:
    return _fernet(settings).encrypt(secret.encode())


def decrypt_secret(settings: Settings, blob: bytes) -> str | None:
    try:
        return _fernet(settings).decrypt(blob).decode()
    except InvalidToken:
        return None


def provisioning_uri(secret: str, account_name: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account_name, issuer_name=ISSUER)


def matching_timecode(secret: str, code: str) -> int | None:
    """The time step the code belongs to (±1 step), or None. Replay checks use the result."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    try:
        return int(pyotp.TOTP(secret).verify_and_get_timecode(code, valid_window=1))
    except pyotp.exceptions.OTPVerificationError:
        return None


def new_recovery_codes() -> list[str]:
    return [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODE_COUNT)]


def hash_recovery_code(code: str) -> str:
    return hashlib.sha256(code.strip().lower().encode()).hexdigest()
