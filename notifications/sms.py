"""SMS through an HTTP gateway speaking SMS.ru's protocol (https://sms.ru/api/send), and which
SMS channel this setup has: `sms_channel(settings, resources)` gives the gateway when
SMS_PROVIDER=smsru and SMS_API_KEY are set; without them, outside production the stand-in that
writes whole messages under DATA_DIR/dev-mail, and in production none (SMS off).

SMS costs money, so two limits hold here whatever the routing asks: only the kinds in SMS_KINDS
go out, and at most SMS_MONTHLY_CAP a calendar month (BILLING_TIMEZONE) across every worker
process, counted in Redis before the send. A send over either limit is UnreachableError: the
attempt is recorded and the worker tries the customer's next channel. The log gets the kind and
the recipient, never the text."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError

from backend.clock import local_zone
from backend.config import Settings
from backend.logging import get_logger
from backend.state import Resources
from backend.validation import normalize_phone
from notifications.channels import (
    Channel,
    DeliveryError,
    LogSmsChannel,
    PermanentDeliveryError,
    Rendered,
    TemporaryDeliveryError,
    UnreachableError,
    dev_mail_dir,
)

log = get_logger("notifications.sms")

DEFAULT_TIMEOUT = 15.0
# A month's counter outlives its month by a few days, then Redis drops it.
_COUNTER_TTL = 40 * 86400

# SMS.ru's status codes (https://sms.ru/api/send), top-level or per number.
# The number cannot get SMS from us: try the customer's next channel.
_UNREACHABLE = {
    202: "invalid phone number",
    207: "no route to this number",
    209: "number in the account's stop list",
    214: "foreign numbers are off for the account",
    215: "number in SMS.ru's stop list",
}
# The message itself is wrong: no channel or retry helps.
_MALFORMED = {
    203: "empty text",
    205: "text longer than 8 SMS",
    208: "bad send time",
}
# Our settings are wrong (SMS_API_KEY, SMS_SENDER, SMS_API_BASE): every SMS fails until an
# operator fixes them, so they wait, and the log says error.
_MISCONFIGURED = {
    200: "SMS.ru refused the api_id (SMS_API_KEY)",
    204: "sender name not approved (SMS_SENDER)",
    210: "SMS.ru wants POST",
    211: "method not found (SMS_API_BASE)",
    212: "text not UTF-8",
    300: "SMS.ru refused the token",
    301: "SMS.ru refused the api_id or login (SMS_API_KEY)",
    302: "SMS.ru account not confirmed",
}
# Passes with time: funds topped up, the service back, a limit's window over. Seconds to wait
# where the code says (SMS.ru sends no Retry-After).
_TEMPORARY: dict[int, tuple[str, float | None]] = {
    201: ("insufficient funds on the SMS.ru account", None),
    206: ("the account's daily limit reached", 3600.0),
    220: ("SMS.ru temporarily unavailable", 60.0),
    230: ("daily limit for this number reached", 3600.0),
    231: ("per-minute limit of identical messages to this number reached", 60.0),
    232: ("daily limit of identical messages to this number reached", 3600.0),
    233: ("limit of repeated codes to this number reached", 600.0),
    500: ("SMS.ru server error", None),
}


def _error_for(code: int) -> DeliveryError:
    if code in _UNREACHABLE:
        return UnreachableError(f"SMS.ru {code}: {_UNREACHABLE[code]}")
    if code in _MALFORMED:
        return PermanentDeliveryError(f"SMS.ru {code}: {_MALFORMED[code]}")
    if code in _MISCONFIGURED:
        log.error("SMS gateway refused the configuration", status_code=code)
        return TemporaryDeliveryError(f"SMS.ru {code}: {_MISCONFIGURED[code]}")
    reason, retry_after = _TEMPORARY.get(code, ("unknown status", None))
    return TemporaryDeliveryError(f"SMS.ru {code}: {reason}", retry_after=retry_after)


def _status_code(entry: Any) -> int:
    code = entry.get("status_code") if isinstance(entry, dict) else None
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    if isinstance(code, str) and code.strip().isdigit():
        return int(code)  # the plain-text protocol's habit, seen from some proxies
    return 0


def _retry_after(response: httpx.Response) -> float | None:
    try:
        seconds = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


class SmsRuChannel:
    """POST {SMS_API_BASE}/sms/send with api_id, to, msg, json=1 and from (SMS_SENDER), one
    number per request. One HTTP client per channel (`close()` it)."""

    def __init__(
        self,
        settings: Settings,
        redis: Redis,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if settings.sms_api_key is None:
            raise ValueError("SMS_API_KEY is not set")
        self.api_key = settings.sms_api_key.get_secret_value()
        self.url = settings.sms_api_base.rstrip("/") + "/sms/send"
        self.sender = settings.sms_sender or None
        self.kinds = frozenset(settings.sms_kinds)
        self.monthly_cap = settings.sms_monthly_cap
        self.zone = local_zone(settings)
        self.redis = redis
        self.client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=5.0), follow_redirects=False
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def send(self, message: Rendered) -> None:
        # Defence in depth: routing sends only these kinds here, but SMS costs money.
        if message.kind not in self.kinds:
            raise UnreachableError("SMS not enabled for this kind")
        try:
            phone = normalize_phone(message.to)
        except ValueError:
            raise UnreachableError("invalid phone number") from None
        if not message.text.strip():
            raise PermanentDeliveryError("empty SMS text")
        counter = await self._count(message, phone)
        try:
            await self._post(message, phone)
        except _NotSent as not_sent:
            # Nothing went out, so the month's budget gets the SMS back.
            await self._uncount(counter)
            raise not_sent.error from None

    # --- the monthly cap ------------------------------------------------------------------

    def month_key(self, now: datetime | None = None) -> str:
        month = (now or datetime.now(self.zone)).astimezone(self.zone)
        return f"sms:month:{month:%Y-%m}"

    async def _count(self, message: Rendered, phone: str) -> str:
        """Count this SMS, then compare: INCR is atomic across processes, so of any number of
        concurrent sends exactly the first SMS_MONTHLY_CAP get a number within the cap. Over
        the cap the count stays (the attempt happened; the month's number is what it is)."""
        key = self.month_key()
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, _COUNTER_TTL)
                count, _ = await pipe.execute()
        except (RedisError, OSError) as exc:
            # Without the counter the cap cannot hold: wait rather than spend blindly.
            raise TemporaryDeliveryError(f"SMS counter unavailable: {type(exc).__name__}") from None
        if int(count) > self.monthly_cap:
            if int(count) == self.monthly_cap + 1:
                log.warning("monthly SMS cap reached", cap=self.monthly_cap, month=key[-7:])
            log.info(
                "sms over the monthly cap", outbox_id=message.outbox_id, kind=message.kind, to=phone
            )
            raise UnreachableError("monthly SMS cap reached")
        return key

    async def _uncount(self, key: str) -> None:
        try:
            await self.redis.decr(key)
        except (RedisError, OSError):
            log.warning("SMS counter not corrected", month=key[-7:])

    # --- the gateway ----------------------------------------------------------------------

    async def _post(self, message: Rendered, phone: str) -> None:
        digits = phone.lstrip("+")
        form = {"api_id": self.api_key, "to": digits, "msg": message.text, "json": "1"}
        if self.sender:
            form["from"] = self.sender
        try:
            response = await self.client.post(self.url, data=form)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise _NotSent(_unavailable(exc)) from None
        except httpx.HTTPError as exc:
            # The request may have reached SMS.ru (a read timeout): it stays counted.
            raise _unavailable(exc) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise TemporaryDeliveryError(
                f"SMS gateway answered HTTP {response.status_code}",
                retry_after=_retry_after(response),
            )
        if response.status_code != 200:
            log.error("SMS gateway refused the request", http_status=response.status_code)
            raise _NotSent(
                TemporaryDeliveryError(f"SMS gateway answered HTTP {response.status_code}")
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise TemporaryDeliveryError("SMS gateway answer is not SMS.ru's JSON")
        if body.get("status") != "OK":
            raise _NotSent(_error_for(_status_code(body)))
        entry = self._entry(body.get("sms"), digits)
        if entry is None:
            raise TemporaryDeliveryError("SMS gateway answer has no result for the number")
        if entry.get("status") != "OK":
            raise _NotSent(_error_for(_status_code(entry)))
        log.info(
            "sms sent",
            outbox_id=message.outbox_id,
            kind=message.kind,
            to=phone,
            sms_id=entry.get("sms_id"),
            balance=body.get("balance"),
        )

    @staticmethod
    def _entry(sms: Any, digits: str) -> dict[str, Any] | None:
        if not isinstance(sms, dict):
            return None
        entry = sms.get(digits)
        if entry is None and len(sms) == 1:
            # one number sent, one result: SMS.ru may key it by its own spelling of the number
            entry = next(iter(sms.values()))
        return entry if isinstance(entry, dict) else None


class _NotSent(Exception):
    """The gateway certainly sent nothing (refused before sending, or never reached)."""

    def __init__(self, error: DeliveryError) -> None:
        super().__init__(str(error))
        self.error = error


def _unavailable(exc: httpx.HTTPError) -> TemporaryDeliveryError:
    return TemporaryDeliveryError(f"SMS gateway unavailable: {type(exc).__name__}")


def sms_channel(settings: Settings, resources: Resources | None) -> Channel | None:
    """The SMS channel of this setup: the SMS.ru gateway when SMS_PROVIDER=smsru and
    SMS_API_KEY are set (it needs `resources` for the monthly counter in Redis); else outside
    production the stand-in writing to DATA_DIR/dev-mail; in production None (SMS off)."""
    if settings.sms_provider == "smsru":
        if settings.sms_api_key is None:
            log.error("SMS_PROVIDER is set but SMS_API_KEY is not: SMS stays off")
        elif resources is None:
            # no Redis, no cap: refuse rather than send uncounted
            log.error("the SMS gateway needs Redis for its monthly cap: SMS stays off")
        else:
            return SmsRuChannel(settings, resources.redis)
    if settings.app_env != "production":
        return LogSmsChannel(dev_mail_dir(settings))
    return None
