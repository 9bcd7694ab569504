"""Mobile push through Firebase Cloud Messaging (the HTTP v1 API) with firebase-admin.

A push message's address is one device: the FCM registration token (or Firebase installation
id) the app registered through `POST /api/v1/me/devices`, kept as a ChannelIdentity with
channel "fcm". `device_tokens()` lists a customer's reachable ones for routing; the worker sends
one Rendered message per device, in batches through `FcmChannel.send_many` (at most 500 per
`send_each_async` call, which sends them concurrently over one HTTP/2 client).

Each message has the notice as its notification (a short title per category from
locales/*/push.ftl, the text as the body) and a data payload for the app: "kind", "outbox_id"
and "link", a deep link into the app ({PUBLIC_URL}/app/<path>, by kind: `LINKS`). Urgent notices
(notifications/events.py: a block, an outage, security) go with Android priority "high" and an
APNs alert.

What FCM answers, and what the channel makes of it:
- UNREGISTERED, SENDER_ID_MISMATCH, or INVALID_ARGUMENT about the token: the device is gone
  for good; its ChannelIdentity row is deleted and the message is `UnreachableError` (the
  worker tries the customer's next channel);
- QUOTA_EXCEEDED, UNAVAILABLE, INTERNAL, a timeout: `TemporaryDeliveryError`, with the
  Retry-After FCM sent, if any;
- our credentials refused (THIRD_PARTY_AUTH_ERROR for APNs/Web Push keys, 401/403 for the
  service account, 404 for the project): `TemporaryDeliveryError` and an error in the log, as
  every message fails until someone fixes the configuration.

FCM_CREDENTIALS is the service-account key file; FCM_API_BASE the FCM server (a local stand-in
in tests, tests/support/fcm_standin.py, with the key's token_uri pointing OAuth at it too)."""

from __future__ import annotations

import asyncio
import email.utils
import json
import re
import time
import uuid
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import firebase_admin
import google.auth.exceptions
import google.auth.transport.requests
import requests
from firebase_admin import _http_client, credentials, messaging
from firebase_admin import exceptions as fcm
from firebase_admin._retry import HttpxRetry
from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.db import unit_of_work
from backend.i18n import catalog
from backend.logging import get_logger
from backend.models import Channel, ChannelIdentity
from backend.state import Resources
from notifications.channels import (
    DeliveryError,
    PermanentDeliveryError,
    Rendered,
    TemporaryDeliveryError,
    UnreachableError,
)
from notifications.events import BILLING, EVENTS, OUTAGES, SECURITY, TICKETS, is_urgent

log = get_logger("notifications.push")

# send_each_async refuses more messages than this in one call.
MAX_BATCH = 500
# Seconds for one FCM request (firebase-admin's default is 120): a hung request holds its
# whole batch, and the worker's lease on the rows is a minute.
HTTP_TIMEOUT = 20
# Android shows a few lines; FCM refuses payloads over 4 KB (a Cyrillic character is 2 bytes).
MAX_BODY = 1000

# The app's screen for a kind: an exact kind, else its "prefix.*"; anything else goes home.
# "{ticket_id}" is filled from the payload.
LINKS: dict[str, str] = {
    "payment.credited": "balance",
    "billing.low_balance": "balance",
    "subscription.*": "balance",
    "invoice.issued": "invoices",
    "ticket.updated": "tickets/{ticket_id}",
    "outage.*": "outages",
}
DEFAULT_LINK = "home"

# The notification's title by the kind's category (notifications/events.py); a direct
# message or a category without its own title gets the default.
TITLES: dict[str, str] = {
    BILLING: "notifications-push-title-billing",
    TICKETS: "notifications-push-title-tickets",
    OUTAGES: "notifications-push-title-outages",
    SECURITY: "notifications-push-title-security",
}
DEFAULT_TITLE = "notifications-push-title-default"

# A Firebase installation id is 22 characters of URL-safe base64 whose first four bits are
# 0111 (so it starts with c, d, e or f); a registration token is much longer ("<fid>:APA91b...").
_FID = re.compile(r"^[c-f][A-Za-z0-9_-]{21}$")
# As backend/customers/schemas.py DeviceToken: what the device API accepts.
_DEVICE_TOKEN = re.compile(r"^[A-Za-z0-9_\-:.+=~]{1,512}$")
_ID = re.compile(r"[1-9][0-9]{0,17}")
_TOKEN_FIELDS = frozenset({"message.token", "message.fid"})
_BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
_FCM_URL_TEMPLATE = "{base}/v1/projects/{{0}}/messages:send"


class PushConfigError(RuntimeError):
    """FCM_CREDENTIALS names no usable service-account key, or firebase-admin changed under
    us: the process refuses to start rather than drop every push."""


# --- where a message goes ----------------------------------------------------------------


def deep_link(public_url: str, kind: str, payload: Mapping[str, Any]) -> str:
    path = LINKS.get(kind) or LINKS.get(kind.split(".", 1)[0] + ".*") or DEFAULT_LINK
    if "{ticket_id}" in path:
        ticket = payload.get("ticket_id")
        text = str(ticket) if isinstance(ticket, int | str) and not isinstance(ticket, bool) else ""
        # the list of tickets, when the payload names none
        path = path.format(ticket_id=text) if _ID.fullmatch(text) else path.split("/", 1)[0]
    return f"{public_url.rstrip('/')}/app/{path}"


def urgent(kind: str, payload: Mapping[str, Any]) -> bool:
    """Urgent notices (a block, an outage, security; events.EVENTS) are pushed at high
    priority, with an alert on iOS: the customer should see them now."""
    notice = EVENTS.get(kind)
    return notice is not None and is_urgent(notice, payload)


def title_key(kind: str) -> str:
    notice = EVENTS.get(kind)
    return TITLES.get(notice.category, DEFAULT_TITLE) if notice else DEFAULT_TITLE


def _body(text: str) -> str:
    return text if len(text) <= MAX_BODY else text[: MAX_BODY - 1].rstrip() + "…"


def _suffix(token: str) -> str:
    # Enough to find the device in the app's logs, too little to send to it.
    return "…" + token[-6:]


# --- device tokens -----------------------------------------------------------------------


async def device_tokens(session: AsyncSession, customer_id: int) -> list[str]:
    """The customer's reachable push addresses, the most recently seen device first."""
    rows = await session.scalars(
        select(ChannelIdentity.external_id)
        .where(
            ChannelIdentity.customer_id == customer_id,
            ChannelIdentity.channel == Channel.fcm,
            ChannelIdentity.is_reachable.is_(True),
        )
        .order_by(ChannelIdentity.last_seen_at.desc().nulls_last(), ChannelIdentity.id.desc())
    )
    return list(rows.all())


async def forget_devices(session: AsyncSession, tokens: Sequence[str]) -> int:
    """Delete the devices FCM no longer knows, whoever they belong to now: a token FCM
    called unregistered is dead for every account. Returns how many rows went."""
    result = await session.execute(
        delete(ChannelIdentity)
        .where(ChannelIdentity.channel == Channel.fcm, ChannelIdentity.external_id.in_(tokens))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- FCM's answers -----------------------------------------------------------------------


def _error_body(exc: fcm.FirebaseError) -> dict[str, Any]:
    response = exc.http_response
    if response is None:
        return {}
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _about_the_token(exc: fcm.FirebaseError) -> bool:
    """Whether an INVALID_ARGUMENT blames the target (a malformed or foreign token) rather
    than the message (too big, a bad field), going by its BadRequest field violations."""
    for detail in _error_body(exc).get("details") or []:
        if isinstance(detail, dict) and detail.get("@type") == _BAD_REQUEST:
            for violation in detail.get("fieldViolations") or []:
                if isinstance(violation, dict) and violation.get("field") in _TOKEN_FIELDS:
                    return True
    return "registration token" in str(exc).lower()


def retry_after(exc: fcm.FirebaseError) -> float | None:
    """FCM's Retry-After (seconds or an HTTP date) on a 429 or 503, if it sent one."""
    response = exc.http_response
    value = response.headers.get("Retry-After") if response is not None else None
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def classify(exc: BaseException | None) -> tuple[DeliveryError, str | None]:
    """One failed send -> the channel's error, and the reason to delete the device (None when
    the device stays). Error texts name the FCM error, never the message."""
    if isinstance(exc, messaging.UnregisteredError):
        return UnreachableError("fcm: device token unregistered"), "unregistered"
    if isinstance(exc, messaging.SenderIdMismatchError):
        return UnreachableError("fcm: device token of another sender"), "sender_id_mismatch"
    if isinstance(exc, fcm.InvalidArgumentError):
        if _about_the_token(exc):
            return UnreachableError("fcm: invalid device token"), "invalid_token"
        return PermanentDeliveryError("fcm: message refused as invalid"), None
    if isinstance(exc, messaging.ThirdPartyAuthError):
        return TemporaryDeliveryError("fcm: APNs or Web Push credentials refused"), None
    if isinstance(exc, fcm.UnauthenticatedError | fcm.PermissionDeniedError | fcm.NotFoundError):
        return TemporaryDeliveryError(f"fcm: refused ({type(exc).__name__})"), None
    if isinstance(exc, fcm.FirebaseError):
        # Quota, unavailable, internal, deadline, unknown: FCM's guidance is to back off.
        return TemporaryDeliveryError(f"fcm: {type(exc).__name__}", retry_after(exc)), None
    return TemporaryDeliveryError(f"fcm: {type(exc).__name__}"), None


# Refusals of our credentials or project (ThirdPartyAuthError is an UnauthenticatedError).
_CONFIG_ERRORS = (fcm.UnauthenticatedError, fcm.PermissionDeniedError, fcm.NotFoundError)


# --- the channel -------------------------------------------------------------------------


def load_key(path: Path) -> dict[str, Any]:
    """The service-account key file as a dict, or PushConfigError saying what is wrong."""
    try:
        key = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PushConfigError(f"FCM_CREDENTIALS: cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise PushConfigError(f"FCM_CREDENTIALS: {path} is not JSON") from None
    if not isinstance(key, dict) or key.get("type") != "service_account":
        raise PushConfigError(f"FCM_CREDENTIALS: {path} is not a service-account key")
    missing = [
        f for f in ("project_id", "private_key", "client_email", "token_uri") if not key.get(f)
    ]
    if missing:
        raise PushConfigError(f"FCM_CREDENTIALS: {path} lacks {', '.join(missing)}")
    return key


class FcmChannel:
    """Push through one firebase-admin App of its own (a unique name, so several channels and
    tests live in one process), sending to `api_base`."""

    def __init__(
        self,
        key: Mapping[str, Any],
        *,
        api_base: str,
        public_url: str,
        sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        self.public_url = public_url
        self.sessionmaker = sessionmaker
        try:
            certificate = credentials.Certificate(dict(key))
        except ValueError as exc:
            raise PushConfigError(f"FCM_CREDENTIALS: unusable key: {exc}") from None
        self.project = str(key["project_id"])
        self.app = firebase_admin.initialize_app(
            certificate,
            {"projectId": self.project, "httpTimeout": HTTP_TIMEOUT},
            name=f"provider-desk-fcm-{uuid.uuid4().hex}",
        )
        self._credential = certificate.get_credential()
        self._refreshing = asyncio.Lock()
        try:
            self._replaced = _point_messaging_at(self.app, api_base)
        except BaseException:
            firebase_admin.delete_app(self.app)
            raise

    @classmethod
    def from_key_file(
        cls,
        path: Path,
        *,
        api_base: str,
        public_url: str,
        sessionmaker: async_sessionmaker[AsyncSession],
    ) -> FcmChannel:
        key = load_key(path)
        return cls(key, api_base=api_base, public_url=public_url, sessionmaker=sessionmaker)

    # --- sending ---------------------------------------------------------------------------

    async def send(self, message: Rendered) -> None:
        (outcome,) = await self.send_many([message])
        if outcome is not None:
            raise outcome

    async def send_many(self, messages: Sequence[Rendered]) -> list[DeliveryError | None]:
        """One outcome per message, in order: None when FCM accepted it."""
        outcomes: list[DeliveryError | None] = []
        for start in range(0, len(messages), MAX_BATCH):
            outcomes += await self._send_batch(messages[start : start + MAX_BATCH])
        return outcomes

    async def _send_batch(self, batch: Sequence[Rendered]) -> list[DeliveryError | None]:
        outcomes: list[DeliveryError | None] = [None] * len(batch)
        built: list[tuple[int, messaging.Message]] = []
        # Message(token=...) warns that tokens are deprecated in favour of installation ids;
        # registration tokens are what most apps still hand over, and FCM still takes them.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            for i, rendered in enumerate(batch):
                if not _DEVICE_TOKEN.match(rendered.to):
                    outcomes[i] = UnreachableError("fcm: malformed device token")
                else:
                    built.append((i, self._build(rendered)))
        if not built:
            return outcomes
        try:
            await self._fresh_access_token()
            response = await messaging.send_each_async([m for _, m in built], app=self.app)
        except Exception as exc:
            # The whole call failed (the token endpoint, an unknown error around the sends):
            # nothing was sent, or FCM's answers are lost; either way, later.
            log.error("push batch failed", count=len(built), error=type(exc).__name__)
            for i, _ in built:
                outcomes[i] = TemporaryDeliveryError(f"fcm: {type(exc).__name__}")
            return outcomes
        dead: dict[str, str] = {}
        refused: str | None = None
        for (i, _), result in zip(built, response.responses, strict=True):
            if result.success:
                continue
            outcomes[i], reason = classify(result.exception)
            rendered = batch[i]
            if reason is not None:
                dead[rendered.to] = reason
                log.info(
                    "push device removed",
                    reason=reason,
                    kind=rendered.kind,
                    outbox_id=rendered.outbox_id,
                    customer_id=rendered.customer_id,
                    token=_suffix(rendered.to),
                )
            elif isinstance(result.exception, _CONFIG_ERRORS):
                refused = type(result.exception).__name__
        if refused:
            # Every message fails until the configuration is fixed: an alert, once per batch.
            log.error("push refused: check FCM_CREDENTIALS and the APNs key", error=refused)
        if dead:
            await self._forget(dead)
        return outcomes

    def _build(self, message: Rendered) -> messaging.Message:
        title = catalog().text(title_key(message.kind), message.locale)
        body = _body(message.text)
        high = urgent(message.kind, message.payload)
        data = {
            "kind": message.kind,
            "outbox_id": str(message.outbox_id),
            "link": deep_link(self.public_url, message.kind, message.payload),
        }
        apns = None
        if high:
            alert = messaging.ApsAlert(title=title, body=body)
            apns = messaging.APNSConfig(
                headers={"apns-priority": "10", "apns-push-type": "alert"},
                payload=messaging.APNSPayload(aps=messaging.Aps(alert=alert, sound="default")),
            )
        target = {"fid": message.to} if _FID.match(message.to) else {"token": message.to}
        return messaging.Message(
            notification=messaging.Notification(title=title, body=body),
            data=data,
            android=messaging.AndroidConfig(priority="high" if high else "normal"),
            apns=apns,
            **target,
        )

    async def _fresh_access_token(self) -> None:
        """Fetch the OAuth token on a thread when it is missing or about to expire.
        firebase-admin would otherwise fetch it inside its httpx auth flow with a blocking
        `requests` call, stopping the event loop for a round trip to Google."""
        if self._credential.valid:
            return
        async with self._refreshing:
            if not self._credential.valid:
                await asyncio.to_thread(self._refresh)

    def _refresh(self) -> None:
        with requests.Session() as session:
            self._credential.refresh(google.auth.transport.requests.Request(session=session))

    async def _forget(self, dead: Mapping[str, str]) -> None:
        try:
            async with unit_of_work(self.sessionmaker) as session:
                await forget_devices(session, list(dead))
        except (SQLAlchemyError, OSError) as exc:
            # The next send to them answers the same, and this is tried again.
            log.warning("push devices not removed", count=len(dead), error=type(exc).__name__)

    # --- lifecycle -------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the HTTP clients on this loop, then drop the App. delete_app() closes the
        messaging service with asyncio.run(), which cannot run inside a running loop: it runs
        on a thread, where it finds the clients closed already."""
        for client in self._replaced:
            await client.aclose()
        await asyncio.to_thread(firebase_admin.delete_app, self.app)


def _point_messaging_at(app: firebase_admin.App, api_base: str) -> list[Any]:
    """Create the App's messaging service sending to `api_base`, without firebase-admin's own
    retries; returns the async HTTP clients to close.

    There is no public setting for the FCM server: `_MessagingService.FCM_URL` is a class
    attribute that the service formats once, when it is created for an App. It is set for
    exactly that moment and put back, so another App (another FCM_API_BASE, a test beside
    production code) never inherits it. Nothing awaits in between, and nothing else in the
    process creates messaging services, so no other App can be made while it is set.
    firebase-admin is pinned (==7.7.0) because these are private; a change shows up here as a
    PushConfigError at startup (and in tests/notifications/test_push.py)."""
    service_class = messaging._MessagingService
    url = _FCM_URL_TEMPLATE.format(base=api_base.rstrip("/"))
    default = service_class.FCM_URL
    service_class.FCM_URL = url
    try:
        service = messaging._get_messaging_service(app)
    except ValueError as exc:
        raise PushConfigError(f"FCM_CREDENTIALS: {exc}") from None
    finally:
        service_class.FCM_URL = default
    original = getattr(service, "_async_client", None)
    if getattr(service, "_fcm_url", None) != url.format(app.project_id) or original is None:
        raise PushConfigError(
            "firebase-admin's messaging service changed: see notifications/push.py"
        )
    # Its client retries a 500 or 503 up to four times, sleeping 1+2+4 s while the whole
    # batch of 500 waits. The outbox worker already retries with backoff and jitter and
    # honours Retry-After, visibly in the row's attempts: one attempt per send here.
    replacement = _http_client.HttpxAsyncClient(
        credential=app.credential.get_credential(),
        timeout=HTTP_TIMEOUT,
        retry_config=HttpxRetry(max_retries=0),
    )
    service._async_client = replacement
    return [original, replacement]


def push_channel(settings: Settings, resources: Resources) -> FcmChannel | None:
    """The FCM channel, or None when FCM_CREDENTIALS is unset (push is off). A key file that
    is missing or unusable raises PushConfigError: push was asked for and cannot work."""
    path = settings.fcm_credentials
    if path is None or str(path) in ("", "."):  # FCM_CREDENTIALS= (empty) parses as "."
        return None
    return FcmChannel.from_key_file(
        path,
        api_base=settings.fcm_api_base,
        public_url=settings.public_url,
        sessionmaker=resources.sessionmaker,
    )
