"""ASGI factories for the benchmarks (`uvicorn --factory bench.apps:real`)."""

from __future__ import annotations

import os

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from backend.app import create_app
from backend.config import Settings


def real() -> FastAPI:
    settings = Settings(
        database_url=os.environ["BENCH_DATABASE_URL"],
        redis_url=os.environ["BENCH_REDIS_URL"],
        run_worker=False,
        seed_demo=False,
        _env_file=None,
    )
    return create_app(settings, roles=[])


BALANCE = {"amount": 35000, "currency": "RUB", "display": "350.00", "days_left": 15}


def bare() -> FastAPI:
    """The floor: a FastAPI endpoint that returns the same JSON without auth or a database."""
    app = FastAPI()

    @app.get("/api/v1/billing/balance")
    async def balance() -> JSONResponse:
        return JSONResponse(BALANCE)

    return app
