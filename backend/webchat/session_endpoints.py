"""`POST /api/v1/webchat/session`: the widget's way in (docs/webchat-protocol.md). No account:
an anonymous visitor gets a visitor token to keep and a short-lived session token that opens
/ws/chat; a returning visitor sends the kept token and continues the same conversation."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from backend.context import current_request
from backend.deps import ResourcesDep
from backend.errors import RateLimited, refusals
from backend.webchat import session as webchat_session

router = APIRouter(tags=["webchat"])


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The token from an earlier session (localStorage): the same conversation continues.
    visitor_token: str | None = Field(
        default=None, pattern=webchat_session.VISITOR_TOKEN_PATTERN.pattern
    )


class SessionOut(BaseModel):
    session_token: str
    visitor_token: str
    expires_in: int  # seconds the session token opens a socket


@router.post("/webchat/session", responses=refusals(RateLimited))
async def create_session(res: ResourcesDep, data: SessionIn | None = None) -> SessionOut:
    """A session token for /ws/chat (first frame `auth`), and the visitor token to keep.
    Counted per client address first, so concurrent requests cannot pass the limit."""
    ip = current_request().ip or "unknown"
    await res.limiter.hit("webchat-session", ip, res.settings.webchat_sessions_per_ip_minute, 60)
    started = webchat_session.start(res.settings, data.visitor_token if data else None)
    return SessionOut(
        session_token=started.session_token,
        visitor_token=started.visitor_token,
        expires_in=started.expires_in,
    )
