"""Liveness with dependency checks, and Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from backend.deps import ResourcesDep
from backend.middleware import Metrics

router = APIRouter(tags=["operations"])

CHECK_TIMEOUT_S = 2.0


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


def metrics_router(metrics: Metrics) -> APIRouter:
    r = APIRouter(tags=["operations"])

    @r.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return r
