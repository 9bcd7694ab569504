"""A local stand-in of SMS.ru's send method (https://sms.ru/api/send) for tests and dev.

`POST|GET {base}/sms/send` with `api_id`, `to` (one or more numbers, comma-separated),
`msg`, optional `from`, and `json=1` for the JSON answer (without it, SMS.ru's older plain-text
answer: the status code, then one sms id per line). Parameters come from the query string and
an urlencoded or multipart body, as SMS.ru accepts them. The answers have SMS.ru's shape:

    {"status": "OK", "status_code": 100, "balance": 4122.56,
     "sms": {"79991234567": {"status": "OK", "status_code": 100, "sms_id": "000000-10000000"}}}
    {"status": "OK", "status_code": 100, "balance": ...,
     "sms": {"79990000000": {"status": "ERROR", "status_code": 202,
                             "status_text": "Неправильно указан номер телефона получателя"}}}
    {"status": "ERROR", "status_code": 200, "status_text": "Неправильный api_id"}

Deliberate realism: a wrong api_id is 200; an empty text 203; a number that is not 11-15 digits
is 202 for that number; HTTP status is 200 even for errors, as SMS.ru's. Faults are injected
with `fail_next(code)` (top-level: 201 funds, 220 unavailable ...) and `refuse_number(number,
code)` (per number: 202, 207 ...); `delay` holds every answer (to overlap concurrent sends).
What was accepted is in `sent`; every request in `requests`."""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TEST_API_ID = "A1B2C3D4-TEST-STAND-IN0-000000000000"

_TEXTS = {
    200: "Неправильный api_id",
    201: "Не хватает средств на лицевом счету",
    202: "Неправильно указан номер телефона получателя, либо на него нет маршрута",
    203: "Нет текста сообщения",
    204: "Имя отправителя не согласовано с администрацией",
    205: "Сообщение слишком длинное (превышает 8 СМС)",
    207: "На этот номер нет маршрута для доставки сообщений",
    209: "Вы добавили этот номер (или один из номеров) в стоп-лист",
    213: "Указано более 100 номеров в списке получателей",
    220: "Сервис временно недоступен, попробуйте чуть позже",
    230: "Превышен общий лимит количества сообщений на этот номер в день",
    231: "Превышен лимит одинаковых сообщений на этот номер в минуту",
    500: "Ошибка на сервере. Повторите запрос.",
}
_MAX_NUMBERS = 100
_PRICE = 3.5  # roubles per SMS, taken off `balance`


@dataclass
class SentSms:
    to: str
    text: str
    sender: str | None
    sms_id: str


@dataclass
class SmsRuStandIn:
    api_id: str = TEST_API_ID
    balance: float = 4122.56
    delay: float = 0.0
    sent: list[SentSms] = field(default_factory=list)
    requests: list[dict[str, str]] = field(default_factory=list)
    base_url: str = ""

    def __post_init__(self) -> None:
        self._faults: deque[int] = deque()
        self._refused: dict[str, int] = {}
        self._ids = itertools.count(10000000)
        self._runner: web.AppRunner | None = None

    # --- what the test arranges -----------------------------------------------------------

    def fail_next(self, code: int, times: int = 1) -> None:
        """The next `times` requests (with a good api_id) get this top-level error."""
        self._faults.extend([code] * times)

    def refuse_number(self, number: str, code: int = 202) -> None:
        """Every SMS to `number` (digits, as sent) gets this per-number error."""
        self._refused[number] = code

    # --- lifecycle ------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/sms/send", self._send)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.build_app(), shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        self.base_url = f"http://{bound[0]}:{bound[1]}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- the protocol ---------------------------------------------------------------------

    async def _send(self, request: web.Request) -> web.Response:
        params: dict[str, str] = dict(request.query)
        if request.method == "POST":
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        self.requests.append(params)
        if self.delay:
            await asyncio.sleep(self.delay)
        as_json = params.get("json") == "1"
        if params.get("api_id") != self.api_id:
            return self._error(200, as_json)
        if self._faults:
            return self._error(self._faults.popleft(), as_json)
        text = params.get("msg", "")
        if not text.strip():
            return self._error(203, as_json)
        numbers = [n.strip() for n in params.get("to", "").split(",") if n.strip()]
        if not numbers:
            return self._error(202, as_json)
        if len(numbers) > _MAX_NUMBERS:
            return self._error(213, as_json)
        results: dict[str, dict[str, Any]] = {}
        for number in numbers:
            code = self._refused.get(number)
            if code is None and not (number.isdigit() and 11 <= len(number) <= 15):
                code = 202
            if code is not None:
                results[number] = {
                    "status": "ERROR",
                    "status_code": code,
                    "status_text": _TEXTS.get(code, "Ошибка"),
                }
                continue
            sms_id = f"000000-{next(self._ids)}"
            self.sent.append(SentSms(number, text, params.get("from"), sms_id))
            self.balance = round(self.balance - _PRICE, 2)
            results[number] = {"status": "OK", "status_code": 100, "sms_id": sms_id}
        if not as_json:
            lines = ["100", *(r.get("sms_id", str(r["status_code"])) for r in results.values())]
            lines.append(f"balance={self.balance}")
            return web.Response(text="\n".join(lines))
        return web.json_response(
            {"status": "OK", "status_code": 100, "sms": results, "balance": self.balance}
        )

    @staticmethod
    def _error(code: int, as_json: bool) -> web.Response:
        if not as_json:
            return web.Response(text=str(code))
        return web.json_response(
            {"status": "ERROR", "status_code": code, "status_text": _TEXTS.get(code, "Ошибка")}
        )
