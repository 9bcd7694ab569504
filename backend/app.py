"""Composition root: assembles the FastAPI app from every package's router and owns the
long-lived resources and background roles of the process."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from backend import error_handlers
from backend.api import API_PREFIX, DOMAIN_ROUTERS
from backend.billing import ledger_check
from backend.billing import metrics as billing_metrics
from backend.config import Settings, get_settings
from backend.health import metrics_router
from backend.health import router as health_router
from backend.logging import get_logger
from backend.middleware import Metrics, RequestMiddleware, RouteTemplates
from backend.payments.endpoints import pages_router
from backend.state import Resources
from backend.webchat.chat_socket import router as webchat_socket_router
from backend.webchat.console import presence_hooks
from backend.webchat.console.pages import router as console_pages_router
from backend.webchat.console.socket import router as console_socket_router
from backend.webchat.live import LiveHub
from backend.webchat.pages import router as widget_pages_router
from backend.webchat.rasa_endpoints import router as rasa_router
from bot import inbox as telegram_inbox
from bot.webhook import get_router as telegram_router
from dialogs import access as conversation_access

log = get_logger("app")

BackgroundRole = Callable[[Resources, asyncio.Event], Coroutine[Any, Any, None]]


async def warm_up_and_freeze_gc(resources: Resources, stop: asyncio.Event) -> None:
    """A served process (python main.py, api) builds its NLU model at once instead of on the
    first turn, then moves everything alive into the GC's permanent generation: the model and
    the app are long-lived, and without this every full collection walks them again, a pause
    of about half a second that was the p99 of the widget benchmark (bench/webchat.py). Not a
    default role: a test process builds many apps and must keep collecting them."""
    from backend.webchat.nlu_endpoints import nlu_holder

    try:
        await nlu_holder.get(resources)
    except Exception:  # the first turn builds it then; freezing is still worth it
        log.warning("nlu warm-up failed; it is built on the first turn")
    gc.collect()
    gc.freeze()
    log.info("gc frozen after warm-up", frozen=gc.get_freeze_count())
    await stop.wait()


def default_roles(settings: Settings, *, with_bot: bool = True) -> list[BackgroundRole]:
    roles: list[BackgroundRole] = []
    if settings.run_worker:
        from notifications.worker import run_worker

        roles.append(run_worker)
    if settings.run_worker:
        # pending payments re-checked with their providers (docs/billing.md, Payments)
        from backend.payments.tasks import run_payment_reconciler

        roles.append(run_payment_reconciler)
        # due broadcasts fanned out into the outbox (docs/broadcasts.md)
        from backend.broadcasts.tasks import run_broadcasts

        roles.append(run_broadcasts)
    if with_bot and settings.telegram_bot_token is not None and settings.telegram_mode == "webhook":
        # every API process answers Telegram's webhook (behind the load balancer)
        from bot.webhook import run_webhook_role

        roles.append(run_webhook_role)
    elif with_bot and settings.run_worker and settings.telegram_bot_token is not None:
        # the all-in-one process also polls Telegram when a bot token is configured
        from bot.runner import run_bot_role

        roles.append(run_bot_role)
    if settings.run_billing_scheduler:
        from backend.billing.tasks import run_billing_scheduler, run_promised_expiry

        roles.append(run_billing_scheduler)
        roles.append(run_promised_expiry)  # on time, not at the next daily run
    if settings.run_worker:
        # accounts against their ledger rows, once a business day (docs/operations.md)
        roles.append(ledger_check.run_ledger_check_scheduler)
    # the ledger gauges of /metrics, read back from the audit log whichever process checked
    roles.append(ledger_check.run_ledger_monitor)
    # the billing gauges of /metrics, read from the database whichever process ran the billing
    from backend.billing.tasks import run_billing_monitor

    roles.append(run_billing_monitor)
    # agents whose console went away without "offline": their waiting customers are requeued
    from backend.webchat.presence import run_presence_sweep

    roles.append(run_presence_sweep)
    return roles


def create_app(
    settings: Settings | None = None,
    resources: Resources | None = None,
    roles: list[BackgroundRole] | None = None,
) -> FastAPI:
    settings = settings or (resources.settings if resources else get_settings())
    metrics = Metrics()
    billing_metrics.register(metrics.registry)
    ledger_check.register(metrics.registry)
    telegram_inbox.register_metrics(metrics.registry)  # successful_payment failures and alerts
    background_roles = default_roles(settings) if roles is None else roles

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = app.state.resources is None
        if owned:
            app.state.resources = Resources.create(settings)
        # one Redis subscriber for every live view of this process (backend/webchat/live.py)
        app.state.live = LiveHub(app.state.resources.redis)
        await app.state.live.start()
        app.state.offline_timers = presence_hooks.OfflineTimers()
        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = [
            asyncio.create_task(
                role(app.state.resources, stop), name=getattr(role, "__name__", "role")
            )
            for role in background_roles
        ]
        try:
            yield
        finally:
            await app.state.live.stop()
            await app.state.offline_timers.cancel()
            stop.set()
            for task in tasks:
                try:
                    await asyncio.wait_for(task, 10)
                except (TimeoutError, asyncio.CancelledError):
                    task.cancel()
                except Exception:
                    log.exception("background role failed at shutdown", role=task.get_name())
            if owned:
                await app.state.resources.close()
                app.state.resources = None

    app = FastAPI(
        title="provider-desk API",
        version="1.0",
        summary="Customer self-service, billing and support for internet providers.",
        lifespan=lifespan,
    )
    app.state.resources = resources
    # the core cuts conversations through this port (backend/customers/linking.py)
    app.state.conversations = conversation_access
    app.state.settings = settings
    app.state.metrics = metrics
    error_handlers.install(app)
    app.include_router(health_router)
    app.include_router(metrics_router(metrics, settings.metrics_token))
    for router in DOMAIN_ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(rasa_router)  # the action-server protocol at /rasa/*, not under /api/v1
    app.include_router(telegram_router())  # /telegram/webhook (TELEGRAM_MODE=webhook)
    app.include_router(pages_router)
    app.include_router(webchat_socket_router)  # the widget's socket /ws/chat, not under /api/v1
    app.include_router(console_pages_router)  # the agent console's pages under /agent
    app.include_router(console_socket_router)  # the console's live events, /ws/agent
    app.include_router(widget_pages_router)  # / (the demo page) and /widget.js
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=True,
        allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "Idempotency-Key",
            "X-Request-Id",
            "X-Visitor-Token",  # the widget's attachments (backend/webchat/file_endpoints.py)
        ],
        expose_headers=["Idempotent-Replayed", "X-Request-Id", "Content-Disposition"],
    )

    def list_paths() -> list[str]:
        paths = list(app.openapi().get("paths", {}))
        return paths + [
            str(p) for r in app.routes if isinstance(p := getattr(r, "path", None), str)
        ]

    app.add_middleware(
        RequestMiddleware,
        metrics=metrics,
        routes=RouteTemplates(list_paths),
        trusted_proxies=settings.trusted_proxies,
        hsts=settings.public_url.startswith("https://"),
    )
    return app
