"""Pure ASGI middleware (BaseHTTPMiddleware costs a task per request): request context for the
audit log, Prometheus metrics, an access log, security headers, and a request body size
limit."""

from __future__ import annotations

import ipaddress
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


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: list[str]) -> list[Network]:
    """TRUSTED_PROXIES entries: single addresses ("10.0.0.5") or CIDR ranges ("10.0.0.0/24").
    A malformed entry is a configuration error, not a silently unmatched string."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"TRUSTED_PROXIES: {entry!r} is not an address or a range") from exc
    return networks


def _is_trusted(address: str, networks: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def _client_ip(scope: Scope, trusted: list[Network]) -> str | None:
    client = scope.get("client")
    ip: str | None = str(client[0]) if client else None
    if not ip or not trusted or not _is_trusted(ip, trusted):
        return ip
    # Several X-Forwarded-For lines are one list, in order (RFC 9110 5.3).
    hops: list[str] = [
        str(hop).strip()
        for name, value in scope.get("headers", [])
        if name == b"x-forwarded-for"
        for hop in value.decode("latin-1").split(",")
        if hop.strip()
    ]
    # The client writes the leftmost entries; the rightmost address our own proxies did not
    # add is the one that reached them.
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop[:64]
    return hops[0][:64] if hops else ip


class _BodyTooLarge(Exception):
    """Raised from receive() once a body (chunked, with no Content-Length) passes the limit."""


TOO_LARGE = b'{"error":"payload_too_large","detail":"body too large"}'
# On every response: no content sniffing (a served attachment or error is never run as a
# script or page it does not claim to be).
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = ((b"x-content-type-options", b"nosniff"),)
# Only when PUBLIC_URL is https: browsers then refuse plain HTTP to this host for a year.
HSTS_HEADER = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


class RequestMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        routes: RouteTemplates,
        trusted_proxies: list[str] | None = None,
        max_body_bytes: int = 1_048_576,
        hsts: bool = False,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes
        self.trusted_proxies = parse_networks(trusted_proxies or [])
        self.max_body_bytes = max_body_bytes
        self.extra_headers = list(SECURITY_HEADERS)
        if hsts:
            self.extra_headers.append(HSTS_HEADER)

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
            await _send_json(send, 413, TOO_LARGE, self.extra_headers)
            return

        received = 0
        too_large = False
        status_holder: dict[str, Any] = {"status": 500, "started": False}

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # A chunked body has no Content-Length to refuse up front: answer 413
                    # now, and stop the app reading on (whatever it answers is dropped).
                    too_large = True
                    if not status_holder["started"]:
                        status_holder.update(status=413, started=True)
                        await _send_json(send, 413, TOO_LARGE, self.extra_headers)
                    raise _BodyTooLarge()
            return message

        async def send_wrapper(message: Message) -> None:
            if too_large:
                return
            if message["type"] == "http.response.start":
                status_holder.update(status=message["status"], started=True)
                response_headers = message.setdefault("headers", [])
                response_headers.append((b"x-request-id", request_id.encode()))
                present = {name.lower() for name, _ in response_headers}
                response_headers.extend(h for h in self.extra_headers if h[0] not in present)
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, limited_receive, send_wrapper)
        except _BodyTooLarge:
            pass
        except Exception:
            if not too_large:
                raise
            # the app wrapped our signal into its own error; the 413 is already sent
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


async def _send_json(
    send: Send, status: int, body: bytes, extra_headers: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *extra_headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
