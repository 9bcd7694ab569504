"""A local stand-in of the Telegram Bot API (https://core.telegram.org/bots/api) for tests and dev.

It speaks the real protocol to the real aiogram `Bot` over HTTP:
`Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(standin.base_url)))`.

- `POST|GET {base}/bot{token}/{method}` (method case-insensitive): urlencoded, multipart (files
  resolved through `attach://key`) or JSON bodies, plus query parameters. Answers in Telegram's
  shape (`{"ok": true, "result": ...}` / `{"ok": false, "error_code": N, "description": ...}` with
  the same HTTP status), so aiogram validates every result and maps errors to its exceptions.
- `GET {base}/file/bot{token}/{file_path}` downloads files known to the stand-in.
- Every call is recorded (`calls`, `last`, `wait_for`); faults are injected with `fail_next` and
  `block_chat`. Successful sends are also counted per chat (`sent_per_chat`), which is all a
  benchmark keeps with `keep_history=False` (no call log, no stored bot messages).
- `hold_after(n)` lets n more calls of a method (sendMessage) through, then parks later ones,
  unanswered, until `release()`; a parked call whose client went away meanwhile (a killed
  worker) is never handled, recorded or counted, as Telegram never received it (`abandoned`).
- `enforce_limits()` answers like Telegram's flood control: sends over the bot's or a chat's
  rate get 429 "Too Many Requests: retry after N" (counted in `too_many`).
- Updates reach the bot through `queue_update` (getUpdates long polling) or `post_webhook` /
  `deliver_until_ok` (webhook). The factories (`message`, `command`, `callback_query`, ...) build
  update dicts with increasing update_ids that aiogram's `Update.model_validate` accepts.

Deliberate realism: the token must match (401 otherwise); callback and pre-checkout query ids
must come from the factories and can be answered once; an edit that changes nothing is a 400
"message is not modified"; editMessageText without reply_markup drops the inline keyboard;
getUpdates answers 409 while a webhook is set and terminates an older concurrent long poll;
updates of types outside the last `allowed_updates` are dropped, as Telegram never creates them.
Deliberate leniency: any chat id is accepted (no "chat not found"), http webhook URLs are allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import math
import re
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import aiohttp
from aiohttp import web

JSON = dict[str, Any]

# Values aiogram sends as plain strings that would change type if JSON-decoded ("123", "true").
_TEXT_FIELDS = frozenset(
    {
        "text",
        "caption",
        "title",
        "description",
        "payload",
        "start_parameter",
        "provider_token",
        "currency",
        "error_message",
        "secret_token",
        "language_code",
        "parse_mode",
        "action",
        "url",
        "callback_query_id",
        "pre_checkout_query_id",
        "inline_message_id",
        "file_id",
        "short_description",
    }
)
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
# Telegram's default when allowed_updates was never given.
_NOT_DEFAULT_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_MAX_UPLOAD = 60 * 1024 * 1024  # Telegram's bot upload limit is 50 MB


class Upload(NamedTuple):
    filename: str
    content: bytes
    content_type: str


@dataclass
class Call:
    """One request to the stand-in: the canonical method name, the decoded parameters (values
    that are JSON decoded; `attach://key` strings kept as sent) and the uploaded files by
    parameter name (or by part name for nested `attach://` references)."""

    method: str
    params: JSON
    files: dict[str, Upload] = field(default_factory=dict)
    status: int = 200


@dataclass
class Webhook:
    url: str
    secret_token: str | None
    allowed_updates: list[str] | None
    max_connections: int


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    upload: Upload


@dataclass
class _Hold:
    """`hold_after`: `passes` more calls of `method` go through, later ones wait for `gate`."""

    method: str  # lower case
    passes: int
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    parked: list[web.Request] = field(default_factory=list)


@dataclass
class _Fault:
    status: int
    description: str
    retry_after: int | None


# Methods that put a message into a chat: what flood control counts and `sent_per_chat` counts.
_SEND_METHODS = frozenset({"sendMessage", "sendDocument", "sendPhoto", "sendInvoice"})


@dataclass
class _Limits:
    """Telegram's flood control as GCRA buckets (no reservation: a refused send takes no
    slot). `tolerance` absorbs network jitter between a client's timing and arrival here."""

    global_interval: float
    global_burst: int
    chat_interval: float
    chat_burst: int
    tolerance: float
    global_tat: float = 0.0
    chat_tat: dict[Any, float] = field(default_factory=dict)

    def admit(self, chat_id: Any, now: float) -> float:
        """0 when the send may go (and it is counted), else the seconds until it may."""
        g = max(self.global_tat, now)
        c = max(self.chat_tat.get(chat_id, now), now)
        wait = max(
            g - now - (self.global_burst - 1) * self.global_interval,
            c - now - (self.chat_burst - 1) * self.chat_interval,
        )
        if wait > self.tolerance:
            return wait
        self.global_tat = g + self.global_interval
        if len(self.chat_tat) >= 100_000:
            self.chat_tat = {k: v for k, v in self.chat_tat.items() if v > now}
        self.chat_tat[chat_id] = c + self.chat_interval
        return 0.0


class TelegramApiError(Exception):
    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after


_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: injected fault",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: injected fault",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
_QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"

_SENDER: Literal["sender"] = "sender"
TEST_TOKEN = "42:TEST"


def _now() -> int:
    return int(time.time())


def _decode(name: str, value: str) -> Any:
    if name in _TEXT_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _connected(request: web.Request) -> bool:
    transport = request.transport
    return transport is not None and not transport.is_closing()


def _update_type(update: JSON) -> str:
    return next(k for k in update if k != "update_id")


class TelegramStandIn:
    """The Bot API of one bot. Start it with `await start()` (127.0.0.1, a free port)."""

    def __init__(
        self,
        token: str = TEST_TOKEN,
        *,
        bot_username: str = "provider_desk_test_bot",
        bot_first_name: str = "Provider Desk",
        keep_history: bool = True,
    ) -> None:
        self.token = token
        # False (benchmarks): calls are not kept in `recorded` (wait_for sees nothing) and the
        # bot's messages are not kept (they cannot be edited); the counters still count.
        self.keep_history = keep_history
        bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 42
        self.bot_user: JSON = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self.recorded: list[Call] = []
        self.pending_updates: list[JSON] = []
        self.dropped_updates: list[JSON] = []
        self.webhook: Webhook | None = None
        self.allowed_updates: list[str] | None = None
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.messages: dict[tuple[int, int], JSON] = {}
        self.chats: dict[int, JSON] = {}
        self.files: dict[str, StoredFile] = {}
        self.open_callback_queries: set[str] = set()
        self.callback_answers: dict[str, JSON] = {}
        self.open_pre_checkout_queries: set[str] = set()
        self.pre_checkout_answers: dict[str, JSON] = {}
        self.invoices: list[JSON] = []
        self.webhook_deliveries: list[tuple[int, int]] = []  # (update_id, HTTP status)
        self.blocked_chats: set[int] = set()
        self.sent_per_chat: Counter[Any] = Counter()  # successful sends per chat id
        self.too_many = 0  # sends refused by enforce_limits()
        self._limits: _Limits | None = None
        self._faults: dict[str, deque[_Fault]] = {}
        self._update_ids = itertools.count(10_000)
        self._query_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._charge_ids = itertools.count(1)
        self._message_ids: dict[int, int] = {}
        self._channel_ids: dict[str, int] = {}
        self._poll_generation = 0
        self._wakeup = asyncio.Event()
        self._closing = False
        self._recorded_event = asyncio.Event()
        self._hold: _Hold | None = None
        self.abandoned = 0  # parked calls whose client had gone when released: never handled
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self.base_url = ""
        by_name: dict[str, Callable[[Call], Awaitable[Any]]] = {
            "getMe": self._get_me,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendDocument": self._send_document,
            "sendPhoto": self._send_photo,
            "sendChatAction": self._send_chat_action,
            "sendInvoice": self._send_invoice,
            "answerPreCheckoutQuery": self._answer_pre_checkout_query,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "getUpdates": self._get_updates,
            "getFile": self._get_file,
        }
        self._handlers = {name.lower(): handler for name, handler in by_name.items()}
        self._canonical = {name.lower(): name for name in by_name}

    # --- lifecycle -----------------------------------------------------------------------

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=_MAX_UPLOAD)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._download)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.build_app(), shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        self.base_url = f"http://{bound[0]}:{bound[1]}"
        self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return self.base_url

    async def stop(self) -> None:
        self._closing = True
        self._wake()
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- recorded calls --------------------------------------------------------------------

    def _canon(self, method: str) -> str:
        return self._canonical.get(method.lower(), method)

    def calls(self, method: str | None = None) -> list[Call]:
        if method is None:
            return list(self.recorded)
        name = method.lower()
        return [c for c in self.recorded if c.method.lower() == name]

    def last(self, method: str) -> Call:
        found = self.calls(method)
        if not found:
            raise AssertionError(f"no {method} call; recorded: {self._summary()}")
        return found[-1]

    def clear_calls(self) -> None:
        self.recorded.clear()

    def sent_texts(self, chat_id: int) -> list[str]:
        """Texts the bot sent or edited into a chat, in order."""
        return [
            str(c.params.get("text"))
            for c in self.recorded
            if c.status == 200
            and c.method in ("sendMessage", "editMessageText")
            and c.params.get("chat_id") == chat_id
        ]

    async def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5,  # noqa: ASYNC109 - the helper's documented interface
        where: Callable[[Call], bool] | None = None,
    ) -> list[Call]:
        """Wait until `count` calls of `method` (matching `where`) were answered."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = [c for c in self.calls(method) if where is None or where(c)]
            if len(found) >= count:
                return found
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(
                    f"{len(found)}/{count} {method} calls after {timeout}s; "
                    f"recorded: {self._summary()}"
                )
            self._recorded_event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._recorded_event.wait(), remaining)

    def _summary(self) -> str:
        return ", ".join(f"{c.method}:{c.status}" for c in self.recorded[-30:]) or "nothing"

    # --- fault injection -------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int = 429,
        retry_after: int = 1,
        description: str | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` calls of `method` fail with `status` (429 carries retry_after)."""
        if description is None:
            if status == 429:
                description = f"Too Many Requests: retry after {retry_after}"
            else:
                description = _DEFAULT_DESCRIPTIONS.get(status, f"Error {status}")
        fault = _Fault(status, description, retry_after if status == 429 else None)
        self._faults.setdefault(method.lower(), deque()).extend([fault] * times)

    def enforce_limits(
        self,
        global_per_second: float = 30,
        per_chat_per_second: float = 1,
        per_chat_burst: int = 3,
        global_burst: int | None = None,
        tolerance: float = 0.05,
    ) -> None:
        """From now on sends (sendMessage, sendDocument, sendPhoto, sendInvoice) over the bot's
        rate (a burst of `global_burst`, default one second's worth) or a chat's (a burst of
        `per_chat_burst`, then `per_chat_per_second`) answer 429 with retry_after, as
        Telegram's flood control does."""
        self._limits = _Limits(
            global_interval=1 / global_per_second,
            global_burst=global_burst or max(1, math.floor(global_per_second)),
            chat_interval=1 / per_chat_per_second,
            chat_burst=per_chat_burst,
            tolerance=tolerance,
        )

    def lift_limits(self) -> None:
        self._limits = None

    def hold_after(self, count: int, method: str = "sendMessage") -> None:
        """The next `count` calls of `method` go through; every later one is parked, neither
        answered nor recorded, until `release()` - a Telegram that has not answered yet, so a
        test can kill a client while its requests are in flight."""
        if self._hold is not None:
            raise AssertionError("a hold is already set; release() it first")
        self._hold = _Hold(method.lower(), count)

    def release(self) -> None:
        """End the hold: parked calls go on as if they had just arrived, except those whose
        client went away meanwhile (its connection closed): Telegram never answered them, so
        they are dropped unhandled - not recorded, not counted in `sent_per_chat` - and only
        counted in `abandoned`. Later calls are not held."""
        hold, self._hold = self._hold, None
        if hold is not None:
            hold.gate.set()

    def parked(self) -> int:
        """Calls parked by `hold_after` right now."""
        return len(self._hold.parked) if self._hold is not None else 0

    def parked_alive(self) -> int:
        """Parked calls whose client is still connected (a killed process's drop to 0 once
        the stand-in has seen its connections close)."""
        return sum(1 for r in self._hold.parked if _connected(r)) if self._hold is not None else 0

    async def _through_hold(self, method: str, request: web.Request) -> bool:
        """False when the call was parked and its client is gone (not to be handled)."""
        hold = self._hold
        if hold is None or method.lower() != hold.method:
            return True
        if hold.passes > 0:
            hold.passes -= 1
            return True
        hold.parked.append(request)
        try:
            await hold.gate.wait()
        except asyncio.CancelledError:  # the server cancelled the handler: the client is gone
            self.abandoned += 1
            raise
        finally:
            hold.parked.remove(request)
        if not _connected(request):
            self.abandoned += 1
            return False
        return True

    def block_chat(self, chat_id: int) -> None:
        """The user blocked the bot: everything sent to the chat answers 403."""
        self.blocked_chats.add(chat_id)

    def unblock_chat(self, chat_id: int) -> None:
        self.blocked_chats.discard(chat_id)

    # --- updates -----------------------------------------------------------------------------

    def queue_update(self, update: JSON) -> JSON:
        """Queue an update for getUpdates (wakes a waiting long poll)."""
        self.pending_updates.append(update)
        self._wake()
        return update

    async def post_webhook(
        self, url: str | None, update: JSON, secret_token: str | None = None
    ) -> int:
        """POST an update to a webhook (default: the registered URL and secret) as Telegram does;
        returns the HTTP status."""
        if url is None or secret_token is None:
            if self.webhook is None and url is None:
                raise AssertionError("no webhook is set")
            if self.webhook is not None:
                url = url or self.webhook.url
                if secret_token is None:
                    secret_token = self.webhook.secret_token
        assert url is not None
        assert self._client is not None, "start() the stand-in first"
        headers = {"Content-Type": "application/json"}
        if secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret_token
        async with self._client.post(url, data=json.dumps(update), headers=headers) as resp:
            await resp.read()
            self.webhook_deliveries.append((int(update["update_id"]), resp.status))
            return resp.status

    async def deliver_until_ok(
        self,
        url: str | None,
        update: JSON,
        secret_token: str | None = None,
        attempts: int = 10,
        delay: float = 0.1,
    ) -> list[int]:
        """Redeliver like Telegram until a 2xx; returns every status (0 = connection failed)."""
        statuses: list[int] = []
        for attempt in range(attempts):
            try:
                status = await self.post_webhook(url, update, secret_token)
            except aiohttp.ClientError:
                status = 0
            statuses.append(status)
            if 200 <= status < 300:
                return statuses
            if attempt + 1 < attempts:
                await asyncio.sleep(delay)
        raise AssertionError(f"update {update['update_id']} never accepted: {statuses}")

    def _wake(self) -> None:
        event, self._wakeup = self._wakeup, asyncio.Event()
        event.set()

    # --- update factories --------------------------------------------------------------------

    def user(
        self,
        user_id: int,
        *,
        first_name: str = "Ivan",
        last_name: str | None = "Petrov",
        username: str | None = None,
        language_code: str | None = "ru",
    ) -> JSON:
        user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        return user

    def _update(self, kind: str, payload: JSON) -> JSON:
        return {"update_id": next(self._update_ids), kind: payload}

    def _user_message(
        self, chat: JSON, user: JSON | None, content: JSON, *, kind: str = "message"
    ) -> JSON:
        message_id = self._next_message_id(int(chat["id"]))
        msg: JSON = {"message_id": message_id, "date": _now(), "chat": chat, **content}
        if user is not None:
            msg["from"] = user
        # a copy: a later edit must not change an update dict the test already holds
        self.messages[(int(chat["id"]), message_id)] = dict(msg)
        return self._update(kind, msg)

    def _private(
        self, chat_id: int, user: JSON | None, language_code: str | None
    ) -> tuple[JSON, JSON]:
        sender = user or self.user(chat_id, language_code=language_code)
        chat = {"id": chat_id, "type": "private", "first_name": sender["first_name"]}
        for key in ("last_name", "username"):
            if key in sender:
                chat[key] = sender[key]
        self.chats[chat_id] = chat
        return chat, sender

    def message(
        self,
        chat_id: int,
        text: str,
        user: JSON | None = None,
        language_code: str | None = "ru",
        entities: list[JSON] | None = None,
    ) -> JSON:
        chat, sender = self._private(chat_id, user, language_code)
        content: JSON = {"text": text}
        if entities:
            content["entities"] = entities
        return self._user_message(chat, sender, content)

    def command(
        self,
        chat_id: int,
        command: str,
        args: str | None = None,
        user: JSON | None = None,
        language_code: str | None = "ru",
    ) -> JSON:
        head = "/" + command.lstrip("/")
        text = f"{head} {args}" if args else head
        entity = {"type": "bot_command", "offset": 0, "length": len(head)}
        return self.message(chat_id, text, user, language_code, entities=[entity])

    def callback_query(
        self,
        chat_id: int,
        data: str,
        message_id: int | None = None,
        user: JSON | None = None,
        language_code: str | None = "ru",
    ) -> JSON:
        """A button press; `message_id` defaults to the last message the bot sent to the chat."""
        chat, sender = self._private(chat_id, user, language_code)
        if message_id is None:
            own = [m for (c, m), v in self.messages.items() if c == chat_id and "from" in v]
            own = [m for m in own if self.messages[(chat_id, m)]["from"].get("is_bot")]
            if not own:
                raise AssertionError(f"the bot sent no message to chat {chat_id} yet")
            message_id = max(own)
        message = self.messages.get((chat_id, message_id)) or {
            "message_id": message_id,
            "date": _now(),
            "chat": chat,
            "from": self.bot_user,
            "text": "…",
        }
        query_id = str(next(self._query_ids))
        self.open_callback_queries.add(query_id)
        payload = {
            "id": query_id,
            "from": sender,
            "chat_instance": str(chat_id * 7 + 1),
            "message": message,
            "data": data,
        }
        return self._update("callback_query", payload)

    def contact(
        self,
        chat_id: int,
        phone: str,
        user_id: int | Literal["sender"] | None = _SENDER,
        user: JSON | None = None,
        first_name: str | None = None,
    ) -> JSON:
        """A shared contact; by default the sender's own (contact.user_id == from.id)."""
        chat, sender = self._private(chat_id, user, "ru")
        contact: JSON = {
            "phone_number": phone,
            "first_name": first_name or sender["first_name"],
        }
        owner = sender["id"] if user_id == _SENDER else user_id
        if owner is not None:
            contact["user_id"] = owner
        return self._user_message(chat, sender, {"contact": contact})

    def _store_file(self, upload: Upload, kind: str) -> StoredFile:
        n = next(self._file_ids)
        digest = hashlib.sha1(upload.content, usedforsecurity=False).hexdigest()[:16]
        stored = StoredFile(
            file_id=f"{kind}-{n}-{digest}",
            file_unique_id=f"u{digest}",
            file_path=f"{kind}s/file_{n}_{upload.filename}",
            upload=upload,
        )
        self.files[stored.file_id] = stored
        return stored

    def _photo_sizes(self, stored: StoredFile) -> list[JSON]:
        size = len(stored.upload.content)
        return [
            {
                "file_id": stored.file_id + "-s",
                "file_unique_id": stored.file_unique_id + "s",
                "width": 90,
                "height": 90,
                "file_size": min(size, 1000),
            },
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "width": 800,
                "height": 600,
                "file_size": size,
            },
        ]

    def photo(
        self,
        chat_id: int,
        caption: str | None = None,
        content: bytes = b"\xff\xd8\xff\xe0fake-jpeg",
        user: JSON | None = None,
    ) -> JSON:
        """A photo from the user; its bytes are downloadable through getFile."""
        chat, sender = self._private(chat_id, user, "ru")
        stored = self._store_file(Upload("photo.jpg", content, "image/jpeg"), "photo")
        body: JSON = {"photo": self._photo_sizes(stored)}
        if caption:
            body["caption"] = caption
        return self._user_message(chat, sender, body)

    def document(
        self,
        chat_id: int,
        filename: str = "scan.pdf",
        content: bytes = b"%PDF-1.4 fake",
        mime_type: str = "application/pdf",
        caption: str | None = None,
        user: JSON | None = None,
    ) -> JSON:
        chat, sender = self._private(chat_id, user, "ru")
        stored = self._store_file(Upload(filename, content, mime_type), "document")
        body: JSON = {"document": self._document_json(stored)}
        if caption:
            body["caption"] = caption
        return self._user_message(chat, sender, body)

    def sticker(self, chat_id: int, emoji: str = "👍", user: JSON | None = None) -> JSON:
        chat, sender = self._private(chat_id, user, "ru")
        stored = self._store_file(Upload("sticker.webp", b"RIFFfake-webp", "image/webp"), "sticker")
        sticker = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "file_size": len(stored.upload.content),
        }
        return self._user_message(chat, sender, {"sticker": sticker})

    def voice(
        self,
        chat_id: int,
        duration: int = 3,
        content: bytes = b"OggSfake-voice",
        user: JSON | None = None,
    ) -> JSON:
        chat, sender = self._private(chat_id, user, "ru")
        stored = self._store_file(Upload("voice.ogg", content, "audio/ogg"), "voice")
        voice = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": len(content),
        }
        return self._user_message(chat, sender, {"voice": voice})

    def edited_message(
        self, chat_id: int, message_id: int, text: str, user: JSON | None = None
    ) -> JSON:
        chat, sender = self._private(chat_id, user, "ru")
        original = self.messages.get((chat_id, message_id))
        msg: JSON = {
            "message_id": message_id,
            "date": original["date"] if original else _now() - 60,
            "edit_date": _now(),
            "chat": chat,
            "from": sender,
            "text": text,
        }
        if original is not None:
            self.messages[(chat_id, message_id)] = {**original, "text": text}
        return self._update("edited_message", msg)

    def group_message(
        self,
        chat_id: int,
        text: str,
        user: JSON | None = None,
        title: str = "Neighbours",
        chat_type: Literal["group", "supergroup"] = "group",
    ) -> JSON:
        if chat_id > 0:
            raise ValueError("group chat ids are negative")
        chat = {"id": chat_id, "type": chat_type, "title": title}
        self.chats[chat_id] = chat
        return self._user_message(chat, user or self.user(1_000_001), {"text": text})

    def channel_post(self, chat_id: int, text: str, title: str = "Provider news") -> JSON:
        if chat_id > 0:
            raise ValueError("channel chat ids are negative")
        chat = {"id": chat_id, "type": "channel", "title": title}
        self.chats[chat_id] = chat
        return self._user_message(
            chat, None, {"text": text, "sender_chat": chat}, kind="channel_post"
        )

    def my_chat_member(
        self,
        chat_id: int,
        status: Literal["kicked", "member"] = "kicked",
        user: JSON | None = None,
    ) -> JSON:
        """The user blocked (`kicked`) or unblocked/restarted (`member`) the bot in a private
        chat. This only builds the update: call `block_chat` for sends to start failing."""
        chat, sender = self._private(chat_id, user, "ru")
        kicked: JSON = {"status": "kicked", "user": self.bot_user, "until_date": 0}
        member: JSON = {"status": "member", "user": self.bot_user}
        old, new = (member, kicked) if status == "kicked" else (kicked, member)
        payload = {
            "chat": chat,
            "from": sender,
            "date": _now(),
            "old_chat_member": old,
            "new_chat_member": new,
        }
        return self._update("my_chat_member", payload)

    def pre_checkout_query(
        self,
        user_id: int,
        payload: str,
        currency: str = "RUB",
        total_amount: int = 10_000,
        user: JSON | None = None,
    ) -> JSON:
        query_id = f"pcq-{next(self._query_ids)}"
        self.open_pre_checkout_queries.add(query_id)
        body = {
            "id": query_id,
            "from": user or self.user(user_id),
            "currency": currency,
            "total_amount": total_amount,
            "invoice_payload": payload,
        }
        return self._update("pre_checkout_query", body)

    def successful_payment(
        self,
        chat_id: int,
        payload: str,
        currency: str = "RUB",
        total_amount: int = 10_000,
        telegram_payment_charge_id: str | None = None,
        provider_payment_charge_id: str | None = None,
        user: JSON | None = None,
    ) -> JSON:
        chat, sender = self._private(chat_id, user, "ru")
        n = next(self._charge_ids)
        payment = {
            "currency": currency,
            "total_amount": total_amount,
            "invoice_payload": payload,
            "telegram_payment_charge_id": telegram_payment_charge_id or f"tg-charge-{n}",
            "provider_payment_charge_id": provider_payment_charge_id or f"provider-charge-{n}",
        }
        return self._user_message(chat, sender, {"successful_payment": payment})

    def commands_for(self, language_code: str = "", scope: JSON | None = None) -> list[JSON] | None:
        """The command list set for a scope and language (None when unset)."""
        return self.commands.get((self._scope_key(scope), language_code))

    # --- HTTP --------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        method = self._canon(request.match_info["method"])
        if not await self._through_hold(method, request):
            return web.Response(status=499)  # nobody reads it: the client has gone
        try:
            params, files = await self._parse(request)
        except (ValueError, aiohttp.ClientError) as exc:
            call = Call(method, {}, {})
            return self._finish(call, TelegramApiError(400, f"Bad Request: {exc}"))
        call = Call(method, params, files)
        if request.match_info["token"] != self.token:
            return self._finish(call, TelegramApiError(401, "Unauthorized"))
        handler = self._handlers.get(method.lower())
        if handler is None:
            return self._finish(call, TelegramApiError(404, "Not Found: method not found"))
        faults = self._faults.get(method.lower())
        if faults:
            fault = faults.popleft()
            error = TelegramApiError(fault.status, fault.description, fault.retry_after)
            return self._finish(call, error)
        chat_id = params.get("chat_id")
        if isinstance(chat_id, int) and chat_id in self.blocked_chats:
            return self._finish(call, TelegramApiError(403, _DEFAULT_DESCRIPTIONS[403]))
        sending = method in _SEND_METHODS
        if sending and self._limits is not None:
            wait = self._limits.admit(chat_id, time.monotonic())
            if wait > 0:
                self.too_many += 1
                retry_after = max(1, math.ceil(wait))
                error = TelegramApiError(
                    429, f"Too Many Requests: retry after {retry_after}", retry_after
                )
                return self._finish(call, error)
        try:
            result = await handler(call)
        except TelegramApiError as exc:
            return self._finish(call, exc)
        if sending:
            self.sent_per_chat[chat_id] += 1
        return self._finish(call, result)

    def _finish(self, call: Call, outcome: Any) -> web.Response:
        if isinstance(outcome, TelegramApiError):
            call.status = outcome.status
            body: JSON = {
                "ok": False,
                "error_code": outcome.status,
                "description": outcome.description,
            }
            if outcome.retry_after is not None:
                body["parameters"] = {"retry_after": outcome.retry_after}
        else:
            body = {"ok": True, "result": outcome}
        if self.keep_history:
            self.recorded.append(call)
            self._recorded_event.set()
        return web.json_response(body, status=call.status)

    async def _parse(self, request: web.Request) -> tuple[JSON, dict[str, Upload]]:
        params: JSON = {k: _decode(k, v) for k, v in request.query.items()}
        parts: dict[str, Upload] = {}
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if not isinstance(body, dict):
                    raise ValueError("JSON body must be an object")
                params.update(body)
            else:
                form = await request.post()
                for name, value in form.items():
                    if isinstance(value, web.FileField):
                        parts[name] = Upload(
                            value.filename,
                            value.file.read(),
                            value.content_type,
                        )
                    elif isinstance(value, str):
                        params[name] = _decode(name, value)
                    else:
                        parts[name] = Upload(name, bytes(value), "application/octet-stream")
        files: dict[str, Upload] = {}
        for name, value in params.items():
            if isinstance(value, str) and value.startswith("attach://"):
                key = value.removeprefix("attach://")
                if key not in parts:
                    raise ValueError(f"there is no {name} in the request")
                files[name] = parts[key]
        for key, upload in parts.items():
            if key in params or key in files:
                continue
            if self._referenced(params, f"attach://{key}"):
                files[key] = upload
            else:  # a file uploaded directly under the parameter name
                files[key] = upload
                params[key] = f"attach://{key}"
        return params, files

    def _referenced(self, value: Any, target: str) -> bool:
        if isinstance(value, dict):
            return any(self._referenced(v, target) for v in value.values())
        if isinstance(value, list):
            return any(self._referenced(v, target) for v in value)
        return bool(value == target)

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            raise web.HTTPUnauthorized()
        path = request.match_info["file_path"]
        for stored in self.files.values():
            if stored.file_path == path:
                return web.Response(
                    body=stored.upload.content, content_type=stored.upload.content_type
                )
        raise web.HTTPNotFound()

    # --- chats and messages ------------------------------------------------------------------

    def _chat(self, chat_id: Any) -> JSON:
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            numeric = self._channel_ids.setdefault(
                chat_id, -1_001_000_000_000 - len(self._channel_ids)
            )
            chat = {"id": numeric, "type": "channel", "title": chat_id[1:], "username": chat_id[1:]}
            self.chats.setdefault(numeric, chat)
            return self.chats[numeric]
        if isinstance(chat_id, bool) or not isinstance(chat_id, int):
            if chat_id in (None, ""):
                raise TelegramApiError(400, "Bad Request: chat_id is empty")
            raise TelegramApiError(400, "Bad Request: chat not found")
        if chat_id in self.chats:
            return self.chats[chat_id]
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "User"}
        return {"id": chat_id, "type": "group", "title": "Group"}

    def _next_message_id(self, chat_id: int) -> int:
        self._message_ids[chat_id] = self._message_ids.get(chat_id, 0) + 1
        return self._message_ids[chat_id]

    def _bot_message(self, params: JSON, content: JSON) -> JSON:
        chat = self._chat(params.get("chat_id"))
        message_id = self._next_message_id(int(chat["id"]))
        msg: JSON = {"message_id": message_id, "date": _now(), "chat": chat}
        if chat["type"] == "channel":
            msg["sender_chat"] = chat
        else:
            msg["from"] = self.bot_user
        msg.update(content)
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            msg["reply_markup"] = markup
        if params.get("caption"):
            msg["caption"] = params["caption"]
        if self.keep_history:
            self.messages[(int(chat["id"]), message_id)] = msg
        return msg

    def _own_message(self, params: JSON, verb: str) -> JSON:
        if params.get("inline_message_id"):
            return {}
        chat = self._chat(params.get("chat_id"))
        msg = self.messages.get((int(chat["id"]), params.get("message_id", 0)))
        if msg is None:
            raise TelegramApiError(400, f"Bad Request: message to {verb} not found")
        if verb == "edit" and not msg.get("from", {}).get("is_bot", chat["type"] == "channel"):
            raise TelegramApiError(400, "Bad Request: message can't be edited")
        return msg

    @staticmethod
    def _inline_markup(params: JSON) -> JSON | None:
        markup = params.get("reply_markup")
        return markup if isinstance(markup, dict) and "inline_keyboard" in markup else None

    # --- methods -----------------------------------------------------------------------------

    async def _get_me(self, call: Call) -> Any:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _send_message(self, call: Call) -> Any:
        text = call.params.get("text")
        if not text:
            raise TelegramApiError(400, "Bad Request: message text is empty")
        if len(str(text)) > 4096:
            raise TelegramApiError(400, "Bad Request: message is too long")
        return self._bot_message(call.params, {"text": str(text)})

    async def _edit_message_text(self, call: Call) -> Any:
        text = call.params.get("text")
        if not text:
            raise TelegramApiError(400, "Bad Request: message text is empty")
        msg = self._own_message(call.params, "edit")
        if not msg:
            return True
        markup = self._inline_markup(call.params)
        if msg.get("text") == text and msg.get("reply_markup") == markup:
            raise TelegramApiError(400, _NOT_MODIFIED)
        msg.update(text=str(text), edit_date=_now())
        if markup is None:
            msg.pop("reply_markup", None)
        else:
            msg["reply_markup"] = markup
        return msg

    async def _edit_message_reply_markup(self, call: Call) -> Any:
        msg = self._own_message(call.params, "edit")
        if not msg:
            return True
        markup = self._inline_markup(call.params)
        if msg.get("reply_markup") == markup:
            raise TelegramApiError(400, _NOT_MODIFIED)
        msg["edit_date"] = _now()
        if markup is None:
            msg.pop("reply_markup", None)
        else:
            msg["reply_markup"] = markup
        return msg

    async def _delete_message(self, call: Call) -> Any:
        msg = self._own_message(call.params, "delete")
        del self.messages[(int(msg["chat"]["id"]), int(msg["message_id"]))]
        return True

    async def _answer_callback_query(self, call: Call) -> Any:
        query_id = str(call.params.get("callback_query_id", ""))
        if query_id not in self.open_callback_queries:
            raise TelegramApiError(400, _QUERY_INVALID)
        self.open_callback_queries.discard(query_id)
        self.callback_answers[query_id] = call.params
        return True

    def _input_file(self, call: Call, name: str, kind: str) -> StoredFile:
        upload = call.files.get(name)
        if upload is not None:
            return self._store_file(upload, kind)
        ref = call.params.get(name)
        if not ref:
            raise TelegramApiError(400, f"Bad Request: there is no {name} in the request")
        if isinstance(ref, str) and ref in self.files:
            return self.files[ref]
        if isinstance(ref, str) and ref.startswith(("http://", "https://")):
            filename = ref.rstrip("/").rsplit("/", 1)[-1] or name
            return self._store_file(
                Upload(filename, b"fetched:" + ref.encode(), "application/octet-stream"), kind
            )
        raise TelegramApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    @staticmethod
    def _document_json(stored: StoredFile) -> JSON:
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": stored.upload.filename,
            "mime_type": stored.upload.content_type,
            "file_size": len(stored.upload.content),
        }

    async def _send_document(self, call: Call) -> Any:
        stored = self._input_file(call, "document", "document")
        return self._bot_message(call.params, {"document": self._document_json(stored)})

    async def _send_photo(self, call: Call) -> Any:
        stored = self._input_file(call, "photo", "photo")
        return self._bot_message(call.params, {"photo": self._photo_sizes(stored)})

    async def _send_chat_action(self, call: Call) -> Any:
        self._chat(call.params.get("chat_id"))
        if not call.params.get("action"):
            raise TelegramApiError(400, "Bad Request: action is empty")
        return True

    async def _send_invoice(self, call: Call) -> Any:
        p = call.params
        for required in ("title", "description", "payload", "currency"):
            if not p.get(required):
                raise TelegramApiError(400, f"Bad Request: {required} is empty")
        prices = p.get("prices")
        if not isinstance(prices, list) or not prices:
            raise TelegramApiError(400, "Bad Request: prices must be non-empty")
        currency = str(p["currency"])
        if currency == "XTR":
            if len(prices) != 1 or p.get("provider_token"):
                raise TelegramApiError(400, "Bad Request: invalid Telegram Stars invoice")
        elif not p.get("provider_token"):
            raise TelegramApiError(400, "Bad Request: PAYMENT_PROVIDER_INVALID")
        total = sum(int(price["amount"]) for price in prices)
        if total <= 0:
            raise TelegramApiError(400, "Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID")
        invoice = {
            "title": str(p["title"]),
            "description": str(p["description"]),
            "start_parameter": str(p.get("start_parameter") or ""),
            "currency": currency,
            "total_amount": total,
        }
        self.invoices.append({**invoice, "payload": str(p["payload"]), "chat_id": p["chat_id"]})
        return self._bot_message(p, {"invoice": invoice})

    async def _answer_pre_checkout_query(self, call: Call) -> Any:
        query_id = str(call.params.get("pre_checkout_query_id", ""))
        if query_id not in self.open_pre_checkout_queries:
            raise TelegramApiError(400, _QUERY_INVALID)
        if call.params.get("ok") is not True and not call.params.get("error_message"):
            raise TelegramApiError(400, "Bad Request: error_message is required")
        self.open_pre_checkout_queries.discard(query_id)
        self.pre_checkout_answers[query_id] = call.params
        return True

    @staticmethod
    def _scope_key(scope: Any) -> str:
        return json.dumps(scope or {"type": "default"}, sort_keys=True)

    async def _set_my_commands(self, call: Call) -> Any:
        commands = call.params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise TelegramApiError(400, "Bad Request: commands must be a list of up to 100")
        for item in commands:
            name = str(item.get("command", ""))
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise TelegramApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(item.get("description", ""))) <= 256:
                raise TelegramApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        key = (self._scope_key(call.params.get("scope")), str(call.params.get("language_code", "")))
        self.commands[key] = commands
        return True

    async def _get_my_commands(self, call: Call) -> Any:
        key = (self._scope_key(call.params.get("scope")), str(call.params.get("language_code", "")))
        return self.commands.get(key, [])

    async def _delete_my_commands(self, call: Call) -> Any:
        key = (self._scope_key(call.params.get("scope")), str(call.params.get("language_code", "")))
        self.commands.pop(key, None)
        return True

    async def _set_webhook(self, call: Call) -> Any:
        url = str(call.params.get("url") or "")
        secret = call.params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN.match(str(secret)):
            raise TelegramApiError(400, "Bad Request: secret token contains unallowed characters")
        if call.params.get("drop_pending_updates"):
            self.pending_updates.clear()
        if not url:
            self.webhook = None
            return True
        if not url.startswith(("http://", "https://")):
            raise TelegramApiError(400, "Bad Request: bad webhook: invalid webhook URL")
        allowed = call.params.get("allowed_updates")
        if isinstance(allowed, list):
            self.allowed_updates = allowed or None
        self.webhook = Webhook(
            url=url,
            secret_token=str(secret) if secret is not None else None,
            allowed_updates=allowed if isinstance(allowed, list) else None,
            max_connections=int(call.params.get("max_connections") or 40),
        )
        self._wake()  # a waiting getUpdates now conflicts
        return True

    async def _delete_webhook(self, call: Call) -> Any:
        self.webhook = None
        if call.params.get("drop_pending_updates"):
            self.pending_updates.clear()
        return True

    async def _get_webhook_info(self, call: Call) -> Any:
        info: JSON = {
            "url": self.webhook.url if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self.pending_updates),
        }
        if self.webhook is not None:
            info["max_connections"] = self.webhook.max_connections
            if self.webhook.allowed_updates:
                info["allowed_updates"] = self.webhook.allowed_updates
        return info

    def _is_allowed(self, update: JSON) -> bool:
        kind = _update_type(update)
        if self.allowed_updates:
            return kind in self.allowed_updates
        return kind not in _NOT_DEFAULT_UPDATES

    async def _get_updates(self, call: Call) -> Any:
        p = call.params
        if self.webhook is not None:
            raise TelegramApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        allowed = p.get("allowed_updates")
        if isinstance(allowed, list):
            self.allowed_updates = allowed or None
        offset = int(p.get("offset") or 0)
        limit = min(max(int(p.get("limit") or 100), 1), 100)
        timeout = max(float(p.get("timeout") or 0), 0.0)
        if offset > 0:
            self.pending_updates = [u for u in self.pending_updates if u["update_id"] >= offset]
        elif offset < 0:
            self.pending_updates = self.pending_updates[offset:]
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake()  # an older long poll ends with a conflict now
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                raise TelegramApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            if self.webhook is not None:
                return []
            kept: list[JSON] = []
            for update in self.pending_updates:
                (kept if self._is_allowed(update) else self.dropped_updates).append(update)
            self.pending_updates = kept
            remaining = deadline - loop.time()
            if kept or remaining <= 0 or self._closing:
                return kept[:limit]
            wakeup = self._wakeup
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), remaining)

    async def _get_file(self, call: Call) -> Any:
        stored = self.files.get(str(call.params.get("file_id", "")))
        if stored is None:
            raise TelegramApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.upload.content),
            "file_path": stored.file_path,
        }


def all_factory_updates(telegram: TelegramStandIn, chat_id: int) -> Iterable[JSON]:
    """One update of every factory, for validation checks."""
    yield telegram.message(chat_id, "привет")
    yield telegram.command(chat_id, "start", "deep-link-token")
    yield telegram.callback_query(chat_id, "menu:balance", message_id=1)
    yield telegram.contact(chat_id, "+79001234567")
    yield telegram.contact(chat_id, "+79007654321", user_id=None)
    yield telegram.photo(chat_id, caption="router")
    yield telegram.document(chat_id)
    yield telegram.sticker(chat_id)
    yield telegram.voice(chat_id)
    yield telegram.edited_message(chat_id, 1, "исправлено")
    yield telegram.group_message(-100_200, "всем привет")
    yield telegram.channel_post(-1_001_234_567_890, "новости")
    yield telegram.my_chat_member(chat_id, "kicked")
    yield telegram.my_chat_member(chat_id, "member")
    yield telegram.pre_checkout_query(chat_id, "topup:1", "RUB", 50_000)
    yield telegram.successful_payment(chat_id, "topup:1", "RUB", 50_000)
