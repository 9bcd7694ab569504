"""FastAPI dependencies as named Annotated aliases. All are `async def`: FastAPI runs a plain
`def` dependency in a worker thread, a thread hop per dependency per request."""

from __future__ import annotations

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


async def get_principal(
    resources: ResourcesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated()
    principal = decode_token(resources.settings, credentials.credentials, "access")
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
