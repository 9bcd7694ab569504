"""FastAPI dependencies as named Annotated aliases. All are `async def`: FastAPI runs a plain
`def` dependency in a worker thread, a thread hop per dependency per request."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit.service import Actor
from backend.auth.tokens import Principal, decode_token
from backend.config import Settings
from backend.customers.linking import ConversationAccess
from backend.db import unit_of_work
from backend.errors import Forbidden, InvalidToken, MfaRequired, NotAuthenticated
from backend.models import Role
from backend.ratelimit import RateLimiter
from backend.redis import Redis
from backend.state import Resources


async def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


async def get_settings_dep(resources: ResourcesDep) -> Settings:
    return resources.settings


async def get_redis(resources: ResourcesDep) -> Redis:
    return resources.redis


async def get_limiter(resources: ResourcesDep) -> RateLimiter:
    return resources.limiter


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
RedisDep = Annotated[Redis, Depends(get_redis)]
LimiterDep = Annotated[RateLimiter, Depends(get_limiter)]


async def get_session(resources: ResourcesDep) -> AsyncIterator[AsyncSession]:
    """The request's unit of work (backend.db.unit_of_work: commit on success, rollback on any
    error). scope="function" (below) runs the commit before the response is sent, so a failed
    commit is reported to the client instead of being lost."""
    async with unit_of_work(resources.sessionmaker) as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_conversations(request: Request) -> ConversationAccess:
    """The conversation engine's access cut, plugged in by the composition root
    (backend/app.py), so that the core's endpoints reach it without importing the engine."""
    conversations: ConversationAccess = request.app.state.conversations
    return conversations


ConversationsDep = Annotated[ConversationAccess, Depends(get_conversations)]

_bearer = HTTPBearer(auto_error=False, description="Access token from /api/v1/auth/login")

# The agent console (backend/webchat/console) keeps its session in cookies instead of a bearer
# header (docs/agent-console.md): the access token in an HttpOnly cookie, and beside it a CSRF
# token that the page's script sends back as a header on every unsafe request. The CSRF token
# is an HMAC of the session id, so it is bound to the session and survives a token refresh.
CONSOLE_COOKIE = "pd_console"
CSRF_COOKIE = "pd_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FORM_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfFailed(Forbidden):
    code = "csrf_failed"
    detail = "missing or wrong CSRF token: reload the page"


def csrf_token_for(settings: Settings, sid: str) -> str:
    digest = hmac.new(
        settings.secret_key.get_secret_value().encode(),
        f"console-csrf:{sid}".encode(),
        hashlib.sha256,
    ).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def csrf_matches(settings: Settings, sid: str, presented: str | None, cookie: str | None) -> bool:
    """Double submit (the header equals the cookie, which another site cannot read) and bound
    to the session (the value is the HMAC of its id, so a token planted from another session
    does not pass)."""
    if not presented or not cookie:
        return False
    expected = csrf_token_for(settings, sid)
    return hmac.compare_digest(presented, cookie) and hmac.compare_digest(presented, expected)


async def presented_csrf(request: Request) -> str | None:
    """The CSRF token of a request: the header, or the form field of a posted form."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        # Starlette caches the parsed form on the request, so the endpoint reads it again free.
        value = (await request.form()).get(CSRF_FORM_FIELD)
        return value if isinstance(value, str) else None
    return None


async def get_principal(
    request: Request,
    resources: ResourcesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    from_cookie = False
    if credentials is not None and credentials.scheme.lower() == "bearer":
        token = credentials.credentials
    elif "authorization" not in request.headers and request.cookies.get(CONSOLE_COOKIE):
        token, from_cookie = request.cookies[CONSOLE_COOKIE], True
    else:
        raise NotAuthenticated()
    principal = decode_token(resources.settings, token, "access")
    # A cookie is sent by the browser whoever made the page that sends it: an unsafe request
    # riding on it must prove it came from the console's own page.
    if from_cookie and request.method not in SAFE_METHODS:
        presented = await presented_csrf(request)
        if not csrf_matches(
            resources.settings, principal.sid, presented, request.cookies.get(CSRF_COOKIE)
        ):
            raise CsrfFailed()
    # Logout, password change and deactivation put the session id here for the access lifetime;
    # deactivation also blocks the user id (backend/auth/revocations.py), so a token minted in a
    # sign-in that raced the deactivation is refused too. Read from memory: no query per request.
    if await resources.revocations.is_denied(principal.sid, principal.user_id):
        raise InvalidToken("session revoked")
    return principal


CurrentUser = Annotated[Principal, Depends(get_principal)]


def require_customer(principal: Principal) -> Principal:
    if principal.role is not Role.customer or principal.customer_id is None:
        raise Forbidden("customer account required")
    return principal


def require_staff(principal: Principal) -> Principal:
    if principal.role not in (Role.agent, Role.admin):
        raise Forbidden("agent or admin role required")
    if not principal.has_mfa:
        raise MfaRequired("agents and admins must sign in with two-factor authentication")
    return principal


def customer_scope(principal: Principal) -> int | None:
    """The customer id a request is limited to, or None for staff (who must have 2FA)."""
    if principal.role is Role.customer:
        customer_id = require_customer(principal).customer_id
        assert customer_id is not None
        return customer_id
    require_staff(principal)
    return None


async def get_customer(principal: CurrentUser) -> Principal:
    return require_customer(principal)


async def get_staff(principal: CurrentUser) -> Principal:
    return require_staff(principal)


async def get_customer_or_staff(principal: CurrentUser) -> Principal:
    customer_scope(principal)
    return principal


async def get_admin(principal: Annotated[Principal, Depends(get_staff)]) -> Principal:
    if principal.role is not Role.admin:
        raise Forbidden("admin role required")
    return principal


CurrentCustomer = Annotated[Principal, Depends(get_customer)]
CurrentStaff = Annotated[Principal, Depends(get_staff)]
CurrentAdmin = Annotated[Principal, Depends(get_admin)]
CurrentCustomerOrStaff = Annotated[Principal, Depends(get_customer_or_staff)]


def actor_of(principal: Principal) -> Actor:
    return Actor(user_id=principal.user_id, role=principal.role)
