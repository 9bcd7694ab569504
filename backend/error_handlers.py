"""Exception handlers: every failure leaves as `{"error": code, "detail": ...}`."""

from __future__ import annotations

from typing import Any

import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.errors import AppError, RateLimited
from backend.logging import get_logger

log = get_logger("errors")

_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def error_response(
    status: int,
    code: str,
    detail: Any,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    # Machine-readable extras (e.g. `available_from`, `amount_to_pay`) let the bot and the
    # widget phrase the next step; they never override the two standard keys.
    body = {**(extra or {}), "error": code, "detail": detail}
    return JSONResponse(jsonable_encoder(body), status_code=status, headers=headers)


async def app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    if exc.status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return error_response(exc.status, exc.code, exc.detail, headers, exc.extra)


async def validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {
            "loc": [str(p) for p in err.get("loc", ())],
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        for err in exc.errors()
    ]
    return error_response(422, "validation_error", problems)


async def http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, exc.detail, getattr(exc, "headers", None))


async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.error("database unavailable", path=request.url.path, error=type(exc).__name__)
    return error_response(
        503,
        "database_unavailable",
        "the database is unavailable, try again shortly",
        {"Retry-After": "5"},
    )


async def service_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.error("backing service unavailable", path=request.url.path, error=type(exc).__name__)
    return error_response(
        503,
        "service_unavailable",
        "a backing service is unavailable, try again shortly",
        {"Retry-After": "5"},
    )


async def redis_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.error("redis unavailable", path=request.url.path, error=type(exc).__name__)
    return error_response(
        503,
        "redis_unavailable",
        "the cache is unavailable, try again shortly",
        {"Retry-After": "5"},
    )


async def integrity_error(request: Request, exc: Exception) -> JSONResponse:
    log.info("integrity conflict", path=request.url.path, error=str(exc.__cause__ or exc)[:200])
    return error_response(409, "conflict", "the change conflicts with existing data")


async def unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", path=request.url.path, error=type(exc).__name__)
    return error_response(500, "internal_error", "unexpected error; it has been logged")


def _is_connection_problem(exc: sa_exc.DBAPIError) -> bool:
    return bool(exc.connection_invalidated) or isinstance(
        exc, sa_exc.OperationalError | sa_exc.InterfaceError
    )


async def dbapi_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, sa_exc.DBAPIError)
    if isinstance(exc, sa_exc.IntegrityError):
        return await integrity_error(request, exc)
    if _is_connection_problem(exc):
        return await database_unavailable(request, exc)
    # 53300: too many connections; 57P03: the server is starting or shutting down
    if getattr(exc.orig, "sqlstate", None) in ("53300", "57P03"):
        return await database_unavailable(request, exc)
    # 22021: a NUL byte or invalid encoding; 22P05: untranslatable character
    if getattr(exc.orig, "sqlstate", None) in ("22021", "22P05"):
        return error_response(
            422, "validation_error", "text contains characters that cannot be stored"
        )
    if isinstance(exc, sa_exc.DataError):
        return error_response(422, "validation_error", "a value is out of range")
    return await unexpected(request, exc)


def install(app: FastAPI) -> None:
    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(sa_exc.DBAPIError, dbapi_error)
    app.add_exception_handler(sa_exc.TimeoutError, database_unavailable)  # pool exhausted
    # asyncpg raises OSError subclasses when the database cannot be reached at all.
    app.add_exception_handler(ConnectionError, database_unavailable)
    app.add_exception_handler(OSError, service_unavailable)
    app.add_exception_handler(redis.exceptions.ConnectionError, redis_unavailable)
    app.add_exception_handler(redis.exceptions.TimeoutError, redis_unavailable)
    app.add_exception_handler(Exception, unexpected)
