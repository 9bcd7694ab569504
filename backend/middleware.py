"""Pure ASGI middleware (BaseHTTPMiddleware costs a task per request): request context for the
audit log, Prometheus metrics, an access log, and a request body size limit."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.context import RequestContext, set_request_context
from backend.logging import get_logger

log = get_logger("http")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.errors = Counter(
            "http_errors_total",
            "HTTP responses with an error status",
            ["route", "error"],
            registry=self.registry,
        )


class RouteTemplates:
    """Maps a concrete path to its route template ("/api/v1/invoices/{invoice_id}") for metric
    labels. Built from the OpenAPI paths (public API) because FastAPI's nested routers put only
    the inner path on scope["route"]."""

    def __init__(self, list_paths: Callable[[], list[str]]) -> None:
        self._list_paths = list_paths
        self._compiled: list[tuple[re.Pattern[str], str]] | None = None
        self.template_for = lru_cache(maxsize=4096)(self._template_for)

    def _compile(self) -> list[tuple[re.Pattern[str], str]]:
        compiled = []
        for path in sorted(set(self._list_paths()), key=lambda p: (p.count("{"), p)):
            parts = re.split(r"(\{[^}]+\})", path)
            pattern = "".join(
                (".+" if p.endswith(":path}") else "[^/]+") if p.startswith("{") else re.escape(p)
                for p in parts
            )
            compiled.append((re.compile(f"^{pattern}$"), path))
        return compiled

    def _template_for(self, path: str) -> str:
        if self._compiled is None:
            self._compiled = self._compile()
        for pattern, template in self._compiled:
            if pattern.match(path):
                return template
        return "unmatched"


def _client_ip(scope: Scope, trusted_proxies: list[str]) -> str | None:
    client = scope.get("client")
    ip: str | None = str(client[0]) if client else None
    if ip and ip in trusted_proxies:
        for name, value in scope.get("headers", []):
            if name == b"x-forwarded-for":
                hops = [h.strip() for h in value.decode("latin-1").split(",") if h.strip()]
                # The client writes the leftmost entries; the rightmost address our own
                # proxies did not add is the one that reached them.
                for hop in reversed(hops):
                    if hop not in trusted_proxies:
                        return str(hop[:64])
                return str(hops[0][:64]) if hops else ip
    return ip


class RequestMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        routes: RouteTemplates,
        trusted_proxies: list[str] | None = None,
        max_body_bytes: int = 1_048_576,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes
        self.trusted_proxies = trusted_proxies or []
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        set_request_context(
            RequestContext(
                ip=_client_ip(scope, self.trusted_proxies),
                user_agent=headers.get(b"user-agent", b"").decode("latin-1")[:255] or None,
                request_id=request_id,
            )
        )
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await _send_json(send, 413, b'{"error":"payload_too_large","detail":"body too large"}')
            return

        received = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        status_holder: dict[str, Any] = {"status": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, limited_receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            status = status_holder["status"]
            route_path = self.routes.template_for(scope["path"]) if status != 404 else "unmatched"
            method = scope["method"]
            self.metrics.requests.labels(method, route_path, str(status)).inc()
            self.metrics.latency.labels(method, route_path).observe(elapsed)
            if status >= 400:
                self.metrics.errors.labels(route_path, str(status)).inc()
            if status >= 500 or too_large:
                log.warning(
                    "request",
                    method=method,
                    path=scope["path"],
                    status=status,
                    ms=round(elapsed * 1000, 1),
                    request_id=request_id,
                )


async def _send_json(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
