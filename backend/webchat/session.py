"""Who a widget visitor is, without an account: the visitor token and the session token.

The visitor token is an opaque random secret the widget keeps in localStorage. Its SHA-256 is
the web conversation's `chat_id` (conversations.channel = webchat), so the same token finds the
same conversation after a reload or in another tab, while the database never holds the secret.

The session token opens one socket (docs/webchat-protocol.md): a short-lived JWT signed with
SECRET_KEY for its own audience, so it is never mistaken for an API access token, and it
carries only the conversation's chat id. It is sent in the socket's first frame, never in a
URL (URLs end up in access logs)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from backend.config import Settings

ALGORITHMS = ["HS256"]
CLAIM_TYP = "webchat"  # the `typ` claim: a web chat session, nothing else
VISITOR_TOKEN_BYTES = 32
# token_urlsafe(32) is 43 characters; a visitor token from elsewhere must be as hard to guess.
VISITOR_TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43,128}$")


@dataclass(frozen=True, slots=True)
class WebchatSession:
    session_token: str
    visitor_token: str
    expires_in: int


def audience(settings: Settings) -> str:
    return f"{settings.jwt_audience}-webchat"


def new_visitor_token() -> str:
    return secrets.token_urlsafe(VISITOR_TOKEN_BYTES)


def chat_id_of(visitor_token: str) -> str:
    """The conversation's chat id: the token's SHA-256, never the token itself."""
    return hashlib.sha256(visitor_token.encode()).hexdigest()


def start(settings: Settings, visitor_token: str | None) -> WebchatSession:
    """A session for the visitor (a new one when `visitor_token` is None)."""
    visitor = visitor_token or new_visitor_token()
    now = datetime.now(UTC)
    lifetime = settings.webchat_session_seconds
    claims = {
        "iss": settings.jwt_issuer,
        "aud": audience(settings),
        "typ": CLAIM_TYP,
        "sub": chat_id_of(visitor),
        "iat": now,
        "exp": now + timedelta(seconds=lifetime),
    }
    token = jwt.encode(claims, settings.secret_key.get_secret_value(), algorithm=ALGORITHMS[0])
    return WebchatSession(session_token=token, visitor_token=visitor, expires_in=lifetime)


def chat_id_from(settings: Settings, session_token: str) -> str | None:
    """The chat id a session token was issued for; None when it is invalid or expired."""
    try:
        claims = jwt.decode(
            session_token,
            settings.secret_key.get_secret_value(),
            algorithms=ALGORITHMS,
            audience=audience(settings),
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "sub", "aud", "iss"]},
        )
    except jwt.PyJWTError:
        return None
    sub = claims.get("sub")
    if claims.get("typ") != CLAIM_TYP or not isinstance(sub, str) or len(sub) != 64:
        return None
    return sub
