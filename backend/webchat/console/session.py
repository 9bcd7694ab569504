"""The console's cookie session (docs/agent-console.md, "Sign-in and the session").

The console signs in through the same auth service as the API (`backend/auth/service.py`: the
same rate limits, lockout, 2FA and audit rows) and keeps the tokens in cookies instead of
handing them to a script:

- `pd_console`: the access token; HttpOnly, SameSite=Strict, Path=/, Max-Age = its lifetime.
  `backend.deps.get_principal` accepts it when a request has no Authorization header, so every
  `/api/v1/agent/...` endpoint works from the console's script.
- `pd_csrf`: the CSRF token, the HMAC of the session id (`backend.deps.csrf_token_for`);
  readable by the page's script, which sends it back as `X-CSRF-Token`; SameSite=Strict.
- `pd_console_refresh`: the refresh token; HttpOnly, SameSite=Strict, Path=/agent, so only the
  console's own routes ever see it (`POST /agent/refresh` and the pages rotate it).

Secure outside development and test (or whenever PUBLIC_URL is https)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response

from backend.auth import service as auth_service
from backend.auth.schemas import TokenPair
from backend.auth.tokens import Principal, decode_token
from backend.config import Settings
from backend.db import unit_of_work
from backend.deps import CONSOLE_COOKIE, CSRF_COOKIE, csrf_token_for, require_staff
from backend.errors import AppError
from backend.state import Resources

REFRESH_COOKIE = "pd_console_refresh"
MFA_COOKIE = "pd_console_mfa"
LANG_COOKIE = "pd_console_lang"
REFRESH_PATH = "/agent"
MFA_PATH = "/agent/login"


def secure_cookies(settings: Settings) -> bool:
    return settings.app_env == "production" or settings.public_url.startswith("https://")


def _set(
    response: Response,
    settings: Settings,
    name: str,
    value: str,
    max_age: int,
    *,
    path: str = "/",
    httponly: bool = True,
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        secure=secure_cookies(settings),
        httponly=httponly,
        samesite="strict",
    )


def set_session(response: Response, settings: Settings, tokens: TokenPair, sid: str) -> None:
    """The cookies of a signed-in console: access token, CSRF token and refresh token."""
    refresh_age = settings.refresh_token_days * 86400
    _set(response, settings, CONSOLE_COOKIE, tokens.access_token, tokens.expires_in)
    # The CSRF cookie lives as long as the refresh cookie: after the access cookie expired
    # the script still needs it for POST /agent/refresh.
    _set(
        response, settings, CSRF_COOKIE, csrf_token_for(settings, sid), refresh_age, httponly=False
    )
    _set(
        response,
        settings,
        REFRESH_COOKIE,
        tokens.refresh_token,
        refresh_age,
        path=REFRESH_PATH,
    )


def new_login_csrf() -> str:
    """A CSRF token before there is a session (the sign-in forms): a random double-submit
    value, replaced by the session-bound one at sign-in."""
    return secrets.token_urlsafe(32)


def set_login_csrf(response: Response, settings: Settings, token: str) -> None:
    _set(response, settings, CSRF_COOKIE, token, 3600, httponly=False)


def set_mfa(response: Response, settings: Settings, mfa_token: str) -> None:
    _set(response, settings, MFA_COOKIE, mfa_token, settings.mfa_token_minutes * 60, path=MFA_PATH)


def clear_mfa(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        MFA_COOKIE, path=MFA_PATH, secure=secure_cookies(settings), samesite="strict"
    )


def clear_session(response: Response, settings: Settings) -> None:
    secure = secure_cookies(settings)
    response.delete_cookie(
        CONSOLE_COOKIE, path="/", secure=secure, httponly=True, samesite="strict"
    )
    response.delete_cookie(CSRF_COOKIE, path="/", secure=secure, samesite="strict")
    response.delete_cookie(
        REFRESH_COOKIE, path=REFRESH_PATH, secure=secure, httponly=True, samesite="strict"
    )


async def principal_from_cookie(resources: Resources, token: str | None) -> Principal | None:
    """The staff member a console access cookie speaks for, or None (absent, invalid, expired,
    revoked, not staff with 2FA)."""
    if not token:
        return None
    try:
        principal = decode_token(resources.settings, token, "access")
        require_staff(principal)
    except AppError:
        return None
    if await resources.revocations.is_denied(principal.sid, principal.user_id):
        return None
    return principal


@dataclass(frozen=True)
class Refreshed:
    principal: Principal
    tokens: TokenPair


async def refresh(resources: Resources, refresh_token: str | None) -> Refreshed | None:
    """Rotate the console's refresh token; None when it is no longer good (expired, used,
    revoked) or it is not a staff session with 2FA (such a rotation is rolled back)."""
    if not refresh_token or len(refresh_token) > 200:
        return None
    try:
        async with unit_of_work(resources.sessionmaker) as session:
            tokens = await auth_service.refresh(session, resources, refresh_token)
            principal = decode_token(resources.settings, tokens.access_token, "access")
            require_staff(principal)
    except AppError:
        return None
    return Refreshed(principal, tokens)


async def current(
    request: Request, resources: Resources
) -> tuple[Principal | None, TokenPair | None]:
    """Who a page request is: from the access cookie, else by rotating the refresh cookie (the
    new tokens are returned so that the response sets them)."""
    principal = await principal_from_cookie(resources, request.cookies.get(CONSOLE_COOKIE))
    if principal is not None:
        return principal, None
    refreshed = await refresh(resources, request.cookies.get(REFRESH_COOKIE))
    if refreshed is None:
        return None, None
    return refreshed.principal, refreshed.tokens
