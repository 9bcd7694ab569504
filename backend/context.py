"""Per-request context (client address, user agent, request id) for the audit log and logs."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RequestContext:
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


_EMPTY = RequestContext()
_current: ContextVar[RequestContext] = ContextVar("request_context", default=_EMPTY)


def current_request() -> RequestContext:
    return _current.get()


def set_request_context(ctx: RequestContext) -> None:
    _current.set(ctx)
