"""Access and MFA-pending JWTs (PyJWT). Refresh tokens are opaque: see service.py."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import jwt

from backend.config import Settings
from backend.errors import InvalidToken
from backend.models import Role

# The only algorithm we sign with or accept; "none" and key-confusion tricks are refused.
ALGORITHMS = ["HS256"]
TokenType = Literal["access", "mfa"]


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    role: Role
    customer_id: int | None
    sid: str
    amr: tuple[str, ...]

    @property
    def has_mfa(self) -> bool:
        return "otp" in self.amr


def _signing_key(settings: Settings) -> str:
    return settings.secret_key.get_secret_value()


def encode_token(
    settings: Settings,
    *,
    typ: TokenType,
    user_id: int,
    role: Role,
    customer_id: int | None,
    sid: str,
    amr: tuple[str, ...],
    lifetime: timedelta,
) -> str:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(user_id),
        "typ": typ,
        "role": role.value,
        "cid": customer_id,
        "sid": sid,
        "amr": list(amr),
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + lifetime,
    }
    return jwt.encode(claims, _signing_key(settings), algorithm=ALGORITHMS[0])


def decode_token(settings: Settings, token: str, typ: TokenType) -> Principal:
    try:
        claims = jwt.decode(
            token,
            _signing_key(settings),
            algorithms=ALGORITHMS,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "sub", "jti", "iss", "aud"]},
            leeway=5,
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken() from exc
    if claims.get("typ") != typ:
        raise InvalidToken("wrong token type")
    try:
        customer_id = claims.get("cid")
        return Principal(
            user_id=int(claims["sub"]),
            role=Role(claims["role"]),
            customer_id=int(customer_id) if customer_id is not None else None,
            sid=str(claims["sid"]),
            amr=tuple(str(x) for x in claims.get("amr", [])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidToken("malformed claims") from exc


def new_opaque_token() -> str:
    return secrets.token_urlsafe(32)


def hash_opaque(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
