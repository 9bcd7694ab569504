"""Liveness with dependency checks, and Prometheus metrics."""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import SecretStr
from sqlalchemy import text

from backend.deps import ResourcesDep
from backend.errors import InvalidToken
from backend.middleware import Metrics

router = APIRouter(tags=["operations"])

CHECK_TIMEOUT_S = 2.0


class MetricsTokenRequired(InvalidToken):
    detail = "a valid METRICS_TOKEN bearer token is required"


async def _check_database(res: ResourcesDep) -> str:
    async with res.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return "ok"


async def _check_redis(res: ResourcesDep) -> str:
    await res.redis.ping()  # type: ignore[misc]  # redis-py types ping as bool | Awaitable
    return "ok"


async def _run(check: Any, res: ResourcesDep) -> str:
    try:
        return str(await asyncio.wait_for(check(res), CHECK_TIMEOUT_S))
    except TimeoutError:
        return "timeout"
    except Exception as exc:  # health reports every failure as a reason, it never raises
        return f"error: {type(exc).__name__}: {str(exc)[:120]}"


@router.get("/health")
async def health(res: ResourcesDep) -> JSONResponse:
    """200 when the database and Redis answer; 503 with the reasons otherwise."""
    database, redis = await asyncio.gather(_run(_check_database, res), _run(_check_redis, res))
    checks = {"database": database, "redis": redis}
    ok = all(v == "ok" for v in checks.values())
    body = {
        "status": "ok" if ok else "degraded",
        "checks": checks,
        "database_backend": "sqlite" if res.settings.is_sqlite else "postgresql",
        "redis_backend": "embedded" if res.settings.embedded_redis else "redis",
    }
    return JSONResponse(body, status_code=200 if ok else 503)


def metrics_router(metrics: Metrics, token: SecretStr | None = None) -> APIRouter:
    """`/metrics`; with METRICS_TOKEN set, only for `Authorization: Bearer <token>`."""
    r = APIRouter(tags=["operations"])
    expected = token.get_secret_value().encode() if token is not None else b""

    @r.get("/metrics", include_in_schema=False)
    async def prometheus_metrics(request: Request) -> Response:
        if expected:
            auth = request.headers.get("authorization", "")
            given = auth[7:].strip().encode() if auth[:7].lower() == "bearer " else b""
            if not hmac.compare_digest(given, expected):
                raise MetricsTokenRequired()
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return r
