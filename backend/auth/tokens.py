"""Access and MFA-pending JWTs (PyJWT). Refresh tokens are opaque: see service.py."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections import OrderedDict
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


# Verified access tokens, so a client that calls many times in its token's 10 minutes pays for
# the signature check once. Keyed by (key, token): a new SECRET_KEY never reuses an entry.
# Expiry is checked on every hit; revocation is checked by the caller on every request.
_VERIFIED: OrderedDict[tuple[str, str], tuple[float, Principal]] = OrderedDict()
_VERIFIED_MAX = 10_000


def decode_token(settings: Settings, token: str, typ: TokenType) -> Principal:
    if typ == "access":
        cache_key = (_signing_key(settings), token)
        hit = _VERIFIED.get(cache_key)
        if hit is not None:
            expires, principal = hit
            if time.time() < expires:
                _VERIFIED.move_to_end(cache_key)
                return principal
            del _VERIFIED[cache_key]
    principal, expires = _decode(settings, token, typ)
    if typ == "access":
        _VERIFIED[cache_key] = (expires, principal)
        if len(_VERIFIED) > _VERIFIED_MAX:
            _VERIFIED.popitem(last=False)
    return principal


def _decode(settings: Settings, token: str, typ: TokenType) -> tuple[Principal, float]:
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
        principal = Principal(
            user_id=int(claims["sub"]),
            role=Role(claims["role"]),
            customer_id=int(customer_id) if customer_id is not None else None,
            sid=str(claims["sid"]),
            amr=tuple(str(x) for x in claims.get("amr", [])),
        )
        return principal, float(claims["exp"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidToken("malformed claims") from exc


def new_opaque_token() -> str:
    return secrets.token_urlsafe(32)


def hash_opaque(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
