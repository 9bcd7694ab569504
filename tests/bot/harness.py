"""The whole Telegram runtime against the Bot API stand-in, in either delivery mode, for
end-to-end tests of the customer flows.

`tg` (parametrized over MODES) gives a `BotRuntime` that is not running yet: arrange the data,
then `await tg.start(**settings_overrides)`. It starts exactly what production starts:

- "polling": `bot.runner.run_polling` (our own poller) on the test process's resources, with
  settings pointed at the stand-in;
- "webhook": the FastAPI app with the webhook role under uvicorn on a free port (PUBLIC_URL),
  which registers its webhook with the stand-in; updates are POSTed to it;
- with `start(notifications=True)`, also the notification worker with the Telegram channel
  (notifications/telegram.py), which delivers agents' replies and operator notices, as the
  embedded default runs it beside the bot.

Every step waits for something observable, never for a fixed time: `turn()` delivers an
update and returns once the inbox row of that update is processed (so every reply of the turn
has reached the stand-in); `wait_reply()` waits for a call to a chat made after a `mark()`
(agent replies and operator notices come from the notification worker, not from a turn, so
the mark is taken before the agent acts); `redeliver()` sends an update Telegram already sent
and returns once the runtime has dealt with it.

`api` is an httpx client of the same app and resources: over ASGI in polling mode, over HTTP
to the uvicorn server in webhook mode."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import uvicorn
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from sqlalchemy import select

from backend.app import create_app
from backend.config import Settings
from backend.models import TelegramUpdate
from backend.state import Resources
from bot.inbox import chat_of
from bot.runner import Poller, run_polling
from bot.webhook import run_webhook_role
from notifications.channels import ChannelRegistry
from notifications.telegram import TelegramChannel, telegram_channel
from notifications.worker import WorkerOptions, run_worker
from tests.support.net import free_port
from tests.support.telegram_standin import JSON, Call, TelegramStandIn

MODES = ("polling", "webhook")
WEBHOOK_SECRET = "flows-e2e_secret-1"
# What the bot can put into a chat in reply to a customer.
CHAT_METHODS = ("sendMessage", "editMessageText", "sendDocument", "sendInvoice", "sendPhoto")
START_TIMEOUT = 30.0
TURN_TIMEOUT = 15.0
STEP = 0.02  # seconds between looks at state that has no event to wait on (DB rows, offsets)
# A message id that no chat of the stand-in has: the target of the barrier edits.
_NO_MESSAGE = 999_999


async def wait_until(
    check: Callable[[], Awaitable[bool]],
    what: str,
    timeout: float = TURN_TIMEOUT,  # noqa: ASYNC109 - a deadline for state without an event
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise TimeoutError(f"not within {timeout}s: {what}")
        await asyncio.sleep(STEP)


def chat_of_call(call: Call) -> Any:
    return call.params.get("chat_id")


def text_of(call: Call) -> str:
    """What the customer reads in a message: its text or a document's caption."""
    return str(call.params.get("text") or call.params.get("caption") or "")


def buttons_of(call: Call) -> list[tuple[str, str]]:
    """(label, callback_data or url) of every inline button of a sent or edited message."""
    markup = call.params.get("reply_markup")
    if not isinstance(markup, dict):
        return []
    return [
        (str(b["text"]), str(b.get("callback_data") or b.get("url") or ""))
        for row in markup.get("inline_keyboard", [])
        for b in row
    ]


def payloads_of(calls: list[Call]) -> list[str]:
    return [data for call in calls for _, data in buttons_of(call)]


class BotRuntime:
    def __init__(self, mode: str, resources: Resources, telegram: TelegramStandIn) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.mode = mode
        self.base_resources = resources
        self.telegram = telegram
        self.settings: Settings = resources.settings
        self.resources: Resources = resources
        self._api: AsyncClient | None = None
        self._poller: Poller | None = None
        self._task: asyncio.Task[None] | None = None
        self._server: uvicorn.Server | None = None
        self.public_url: str | None = None
        self._worker: asyncio.Task[None] | None = None
        self._worker_stop = asyncio.Event()
        self._channel: TelegramChannel | None = None

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def api(self) -> AsyncClient:
        assert self._api is not None, "start() the runtime first"
        return self._api

    async def start(self, *, notifications: bool = False, **overrides: Any) -> BotRuntime:
        """Start the runtime with the test settings plus the stand-in and `overrides`
        (Settings fields, e.g. telegram_payments_provider_token=SecretStr(...)); with
        `notifications`, the notification worker too (only the Telegram channel)."""
        assert self._task is None, "already started"
        update: dict[str, Any] = {
            "telegram_bot_token": SecretStr(self.telegram.token),
            "telegram_api_base": self.telegram.base_url,
        }
        if self.mode == "webhook":
            port = free_port()
            self.public_url = f"http://127.0.0.1:{port}"
            update |= {
                "telegram_mode": "webhook",
                "telegram_webhook_secret": SecretStr(WEBHOOK_SECRET),
                "public_url": self.public_url,
            }
        update |= overrides
        self.settings = self.base_resources.settings.model_copy(update=update)
        self.resources = dataclasses.replace(self.base_resources, settings=self.settings)
        if self.mode == "polling":
            await self._start_polling()
        else:
            await self._start_webhook()
        if notifications:
            self._start_worker()
        return self

    def _start_worker(self) -> None:
        channel = telegram_channel(self.settings, self.resources)
        assert channel is not None
        self._channel = channel
        self._worker = asyncio.create_task(
            run_worker(
                self.resources,
                self._worker_stop,
                channels=ChannelRegistry({"telegram": channel}),
                options=WorkerOptions(poll_interval=STEP),
            )
        )

    async def _start_polling(self) -> None:
        ready: asyncio.Future[Poller] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(
            run_polling(
                self.settings, resources=self.resources, handle_signals=False, poller_ready=ready
            )
        )
        # a start-up failure ends the task before `ready`: report it instead of timing out
        waiting: set[asyncio.Future[Any]] = {ready, self._task}
        done, _ = await asyncio.wait(
            waiting, timeout=START_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        if ready not in done:
            ready.cancel()
            if self._task in done:
                self._task.result()  # raises what stopped it
            raise TimeoutError("the poller did not start")
        self._poller = ready.result()
        app = create_app(self.settings, resources=self.resources, roles=[])
        transport = ASGITransport(app=app, client=("203.0.113.7", 50000))
        self._api = AsyncClient(transport=transport, base_url="http://testserver")

    async def _start_webhook(self) -> None:
        assert self.public_url is not None
        port = int(self.public_url.rsplit(":", 1)[1])
        app = create_app(self.settings, resources=self.resources, roles=[run_webhook_role])
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )
        self._task = asyncio.create_task(self._server.serve())
        await self.telegram.wait_for("setWebhook", timeout=START_TIMEOUT)
        assert self.telegram.webhook is not None
        assert self.telegram.webhook.url == f"{self.public_url}/telegram/webhook"
        self._api = AsyncClient(base_url=self.public_url)

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker_stop.set()
            worker, self._worker = self._worker, None
            await asyncio.wait_for(worker, START_TIMEOUT)
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
        if self._api is not None:
            await self._api.aclose()
            self._api = None
        if self._task is None:
            return
        if self._poller is not None:
            self._poller.stop()
        if self._server is not None:
            self._server.should_exit = True
        task, self._task = self._task, None
        await asyncio.wait_for(task, START_TIMEOUT)

    # --- updates in ------------------------------------------------------------------------

    async def send(self, update: JSON) -> None:
        """Deliver an update the way the mode's Telegram does (webhook: until accepted)."""
        assert self._task is not None, "start() the runtime first"
        if self.mode == "polling":
            self.telegram.queue_update(update)
            return
        status = 503
        for _ in range(50):  # 503 only while the role is still building the bot
            status = await self.telegram.post_webhook(None, update)
            if status != 503:
                break
            await asyncio.sleep(0.1)
        assert status == 200, f"the webhook answered {status} to update {update['update_id']}"

    async def _row(self, update_id: int) -> TelegramUpdate | None:
        async with self.resources.sessionmaker() as s:
            return await s.scalar(
                select(TelegramUpdate).where(TelegramUpdate.update_id == update_id)
            )

    async def processed(self, update_id: int) -> TelegramUpdate:
        """Wait until the inbox row of the update is processed; a failed turn fails the test."""
        found: list[TelegramUpdate] = []

        async def check() -> bool:
            row = await self._row(update_id)
            if row is None or row.status == "pending":
                return False
            found.append(row)
            return True

        await wait_until(check, f"update {update_id} processed")
        row = found[-1]
        assert row.status == "done", f"update {update_id} {row.status}: {row.error}"
        return row

    def mark(self) -> int:
        """A position in the stand-in's record: calls after it are new."""
        return len(self.telegram.recorded)

    def calls_since(
        self, mark: int, chat_id: int | None = None, methods: tuple[str, ...] = CHAT_METHODS
    ) -> list[Call]:
        return [
            c
            for c in self.telegram.recorded[mark:]
            if c.method in methods and (chat_id is None or chat_of_call(c) == chat_id)
        ]

    async def turn(self, update: JSON) -> list[Call]:
        """Deliver a new update and wait until it is processed; the bot's successful calls to
        the update's chat meanwhile (a chat-less update: every successful chat call)."""
        mark = self.mark()
        await self.send(update)
        await self.processed(int(update["update_id"]))
        chat = chat_of(update)
        return [c for c in self.calls_since(mark, chat) if c.status == 200]

    async def redeliver(self, update: JSON) -> None:
        """Telegram sends an update again (our acknowledgement was lost). Returns when the
        runtime has dealt with it; it is still stored once."""
        await self.send(update)
        if self.mode == "polling":
            # Nothing observable happens for a duplicate, so a no-op update of the same chat
            # (an edit, which the bot ignores by design) follows it through the same pipe:
            # chats are processed in update_id order, so once the edit is processed the
            # duplicate was stored (a no-op) and drained before it.
            chat = chat_of(update)
            assert chat is not None, "redeliver() is for chat updates"
            barrier = self.telegram.edited_message(chat, _NO_MESSAGE, "barrier")
            await self.send(barrier)
            await self.processed(int(barrier["update_id"]))
        async with self.resources.sessionmaker() as s:
            rows = (
                await s.scalars(
                    select(TelegramUpdate).where(TelegramUpdate.update_id == update["update_id"])
                )
            ).all()
        assert len(rows) == 1 and rows[0].status == "done"

    # --- conveniences for a private chat ------------------------------------------------------

    async def say(self, chat_id: int, text: str, **kwargs: Any) -> list[Call]:
        return await self.turn(self.telegram.message(chat_id, text, **kwargs))

    async def command(self, chat_id: int, name: str, args: str | None = None) -> list[Call]:
        return await self.turn(self.telegram.command(chat_id, name, args))

    async def press(self, chat_id: int, data: str, message_id: int | None = None) -> list[Call]:
        """Press an inline button (of the bot's last message in the chat by default); the
        press must be answered (answerCallbackQuery)."""
        update = self.telegram.callback_query(chat_id, data, message_id=message_id)
        replies = await self.turn(update)
        query_id = update["callback_query"]["id"]
        assert query_id in self.telegram.callback_answers, f"press {data!r} was not answered"
        return replies

    async def wait_reply(
        self,
        chat_id: int,
        since: int,
        method: str = "sendMessage",
        where: Callable[[Call], bool] | None = None,
        timeout: float = 10,  # noqa: ASYNC109 - passed on to the stand-in's wait_for
    ) -> Call:
        """The first successful `method` call to the chat (matching `where`) recorded after
        the mark `since`. Take the mark BEFORE the action that causes the reply: the notification
        worker may deliver before the action's own response arrives."""
        seen = {id(c) for c in self.telegram.recorded[:since]}

        def match(c: Call) -> bool:
            return (
                id(c) not in seen
                and c.status == 200
                and chat_of_call(c) == chat_id
                and (where is None or where(c))
            )

        found = await self.telegram.wait_for(method, timeout=timeout, where=match)
        return found[0]


@pytest.fixture(params=MODES)
async def tg(
    request: pytest.FixtureRequest, resources: Resources, telegram: TelegramStandIn
) -> AsyncIterator[BotRuntime]:
    """The runtime in each delivery mode; call `await tg.start(...)` after arranging data."""
    runtime = BotRuntime(request.param, resources, telegram)
    try:
        yield runtime
    finally:
        await runtime.stop()
