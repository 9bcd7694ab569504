"""FastAPI dependencies as named Annotated aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from backend.audit.service import Actor
from backend.auth.tokens import Principal, decode_token
from backend.config import Settings
from backend.errors import Forbidden, InvalidToken, MfaRequired, NotAuthenticated
from backend.models import Role
from backend.ratelimit import RateLimiter
from backend.redis import Redis
from backend.state import Resources


def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


def get_settings_dep(resources: ResourcesDep) -> Settings:
    return resources.settings


def get_redis(resources: ResourcesDep) -> Redis:
    return resources.redis


def get_limiter(resources: ResourcesDep) -> RateLimiter:
    return resources.limiter


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
RedisDep = Annotated[Redis, Depends(get_redis)]
LimiterDep = Annotated[RateLimiter, Depends(get_limiter)]


async def get_session(resources: ResourcesDep) -> AsyncIterator[AsyncSession]:
    """The request's unit of work. scope="function" (below) runs the commit before the response
    is sent, so a failed commit is reported to the client instead of being lost."""
    async with resources.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="Access token from /api/v1/auth/login")


def revoked_sid_key(sid: str) -> str:
    return f"auth:revoked-sid:{sid}"


async def get_principal(
    resources: ResourcesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated()
    principal = decode_token(resources.settings, credentials.credentials, "access")
    # Logout, password change and deactivation put the session id here for the access lifetime.
    if await resources.redis.exists(revoked_sid_key(principal.sid)):
        raise InvalidToken("session revoked")
    return principal


CurrentUser = Annotated[Principal, Depends(get_principal)]


def get_customer(principal: CurrentUser) -> Principal:
    if principal.role is not Role.customer or principal.customer_id is None:
        raise Forbidden("customer account required")
    return principal


def get_staff(principal: CurrentUser) -> Principal:
    if principal.role not in (Role.agent, Role.admin):
        raise Forbidden("agent or admin role required")
    if not principal.has_mfa:
        raise MfaRequired("agents and admins must sign in with two-factor authentication")
    return principal


def get_admin(principal: Annotated[Principal, Depends(get_staff)]) -> Principal:
    if principal.role is not Role.admin:
        raise Forbidden("admin role required")
    return principal


CurrentCustomer = Annotated[Principal, Depends(get_customer)]
CurrentStaff = Annotated[Principal, Depends(get_staff)]
CurrentAdmin = Annotated[Principal, Depends(get_admin)]


def actor_of(principal: Principal) -> Actor:
    return Actor(user_id=principal.user_id, role=principal.role)
