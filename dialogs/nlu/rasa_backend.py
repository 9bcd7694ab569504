"""A Rasa server's `/model/parse` as an optional intent backend, behind a circuit breaker."""

from __future__ import annotations

import time
from typing import Any

import httpx


class RasaUnavailable(Exception):
    """Timeout, connection error, a 5xx or an answer that is not a parse."""


class CircuitBreaker:
    """Open after `failures` consecutive failures; let one call through after `reset_after` s."""

    def __init__(self, failures: int = 3, reset_after: float = 30.0) -> None:
        self.threshold = failures
        self.reset_after = reset_after
        self.failures = 0
        self.opened_at: float | None = None

    def allow(self) -> bool:
        if self.opened_at is None:
            return True
        return time.monotonic() - self.opened_at >= self.reset_after

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None

    def failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.opened_at = time.monotonic()


class RasaNLUBackend:
    def __init__(self, url: str, timeout: float = 2, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.token = token
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def parse(self, text: str) -> dict[str, Any]:
        params = {"token": self.token} if self.token else None
        try:
            resp = await self._http().post(
                f"{self.url}/model/parse", json={"text": text}, params=params
            )
        except httpx.HTTPError as exc:
            raise RasaUnavailable(type(exc).__name__) from exc
        if resp.status_code >= 500 or resp.status_code != 200:
            raise RasaUnavailable(f"status {resp.status_code}")
        try:
            return to_parse_shape(text, resp.json())
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise RasaUnavailable("malformed answer") from exc


def to_parse_shape(text: str, data: Any) -> dict[str, Any]:
    """Keep only the documented fields of Rasa's answer, in our shape."""
    intent = data.get("intent") or {}
    name = intent.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("no intent")
    entities = [
        {
            "entity": str(e["entity"]),
            "value": e.get("value"),
            "start": int(e.get("start", 0)),
            "end": int(e.get("end", 0)),
        }
        for e in data.get("entities") or []
    ]
    ranking = [
        {"name": str(r["name"]), "confidence": float(r.get("confidence", 0.0))}
        for r in data.get("intent_ranking") or []
        if r.get("name")
    ]
    return {
        "text": text,
        "intent": {"name": name, "confidence": float(intent.get("confidence") or 0.0)},
        "entities": entities,
        "intent_ranking": ranking,
    }
