from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from backend.app import create_app
from backend.webchat.nlu_endpoints import nlu_holder
from dialogs.nlu.rasa_backend import CircuitBreaker, RasaNLUBackend
from dialogs.nlu.service import NLUService
from tests.factories import make_tariff


class RasaStandIn:
    """A tiny HTTP/1.1 server answering POST /model/parse like `rasa run --enable-api`."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.requests: list[dict[str, Any]] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> RasaStandIn:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.decode().split("\r\n"):
            if line.lower().startswith("content-length:"):
                length = int(line.split(":")[1])
        body = json.loads(await reader.readexactly(length))
        self.requests.append(body)
        if self.mode == "slow":
            await asyncio.sleep(1.0)
        if self.mode == "500":
            status = "500 Internal Server Error"
            payload: dict[str, Any] = {"error": "boom"}
        else:
            conf = 0.3 if self.mode == "unsure" else 0.97
            payload = {
                "text": body["text"],
                "intent": {"name": "talk_to_agent", "confidence": conf},
                "entities": [
                    {
                        "entity": "tariff",
                        "value": "X",
                        "start": 0,
                        "end": 1,
                        "extractor": "DIETClassifier",
                    }
                ],
                "intent_ranking": [{"name": "talk_to_agent", "confidence": conf}],
            }
            status = "200 OK"
        data = json.dumps(payload).encode()
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
            + data
        )
        await writer.drain()
        writer.close()


@pytest.fixture
def local(nlu):
    return nlu


async def test_rasa_used_when_up_and_fallback_on_5xx_timeout_low_confidence(local):
    async with RasaStandIn() as rasa:
        backend = RasaNLUBackend(rasa.url, timeout=0.2)
        service = NLUService(rasa=backend, breaker=CircuitBreaker(failures=2, reset_after=60))
        service._models = local._models
        try:
            r = await service.aparse("пополнить на 500")
            assert r["intent"]["name"] == "talk_to_agent"  # Rasa's answer
            assert {e["entity"] for e in r["entities"]} == {"tariff", "amount"}
            assert "extractor" not in r["entities"][0]
            assert rasa.requests[-1] == {"text": "пополнить на 500"}

            rasa.mode = "unsure"
            assert (await service.aparse("пополнить на 500"))["intent"]["name"] == "top_up"

            rasa.mode = "500"
            assert (await service.aparse("пополнить на 500"))["intent"]["name"] == "top_up"
            rasa.mode = "slow"
            r = await service.aparse("пополнить на 500")
            assert r["intent"]["name"] == "top_up"
            # Two failures opened the circuit: Rasa is no longer asked.
            seen = len(rasa.requests)
            rasa.mode = "ok"
            assert (await service.aparse("пополнить на 500"))["intent"]["name"] == "top_up"
            assert len(rasa.requests) == seen
        finally:
            await backend.aclose()


async def test_rasa_unreachable_falls_back(local):
    backend = RasaNLUBackend("http://127.0.0.1:9", timeout=0.2)
    service = NLUService(rasa=backend)
    service._models = local._models
    try:
        assert (await service.aparse("какой баланс"))["intent"]["name"] == "check_balance"
    finally:
        await backend.aclose()


@pytest.fixture
async def nlu_client(resources, session):
    from httpx import ASGITransport, AsyncClient

    nlu_holder.reset()
    app = create_app(resources.settings, resources=resources, roles=[])
    transport = ASGITransport(app=app, client=("198.51.100.9", 50000))
    async with AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
    nlu_holder.reset()


async def test_endpoint_parses_with_tariffs_from_db(nlu_client, session):
    await make_tariff(session, name="Космос 300")
    await session.commit()
    r = await nlu_client.post("/api/v1/nlu/parse", json={"text": "хочу перейти на космос"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["intent"]["name"] == "change_tariff"
    assert [e["value"] for e in body["entities"] if e["entity"] == "tariff"] == ["Космос 300"]
    r = await nlu_client.post("/api/v1/nlu/parse", json={"text": "my balance", "lang": "en"})
    assert r.json()["intent"]["name"] == "check_balance"


@pytest.mark.parametrize(
    "payload",
    [
        {"text": ""},
        {"text": "x" * 2001},
        {"text": "hi", "lang": "de"},
        {},
        {"text": 5},
        {"text": "hi", "extra": 1},
    ],
)
async def test_endpoint_bad_input_is_422(nlu_client, payload):
    r = await nlu_client.post("/api/v1/nlu/parse", json=payload)
    assert r.status_code == 422


async def test_endpoint_rate_limited(nlu_client, monkeypatch):
    import backend.webchat.nlu_endpoints as ep

    monkeypatch.setattr(ep, "PARSES_PER_MINUTE", 3)
    codes = [
        (await nlu_client.post("/api/v1/nlu/parse", json={"text": "привет"})).status_code
        for _ in range(4)
    ]
    assert codes == [200, 200, 200, 429]
